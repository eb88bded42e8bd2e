"""Rebuild voc/resources/fonts/VOCSansSC-Regular.otf: a subset of Noto Sans CJK SC (SIL OFL 1.1).

The subset keeps GB2312 (6,763 hanzi and its symbols), ASCII, Latin-1, general and CJK punctuation,
full-width forms, and every character of the bundled taxonomies and sample, so voc's static charts render
Chinese on a machine without CJK fonts. Hinting, vertical metrics and layout features are dropped; the
font is renamed (OFL: a modified version must not use the reserved name 'Source').

Usage (Debian/Ubuntu: ``apt-get install fonts-noto-cjk`` provides the source collection)::

    python scripts/subset_cjk_font.py [/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc]
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "voc" / "resources" / "fonts" / "VOCSansSC-Regular.otf"
FAMILY = "VOC Sans SC"
PS_NAME = "VOCSansSC-Regular"


def charset() -> set[str]:
    """GB2312, Latin, punctuation and the characters of the bundled taxonomies and sample."""
    chars = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    for lo, hi in ((0x20, 0x7F), (0xA0, 0x180), (0x2000, 0x2070), (0x2190, 0x2200), (0x3000, 0x3040),
                   (0xFF00, 0xFFF0)):
        chars |= {chr(c) for c in range(lo, hi)}
    chars |= set("−±×÷°℃№‰€")
    for p in (ROOT / "voc" / "taxonomy" / "defaults").glob("*.yaml"):
        chars |= set(p.read_text(encoding="utf-8"))
    chars |= set((ROOT / "voc" / "data" / "sample_voc.csv").read_bytes().decode("gb18030"))
    return {c for c in chars if c.isprintable() or c == " "}


def main(src: str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc") -> None:
    coll = TTCollection(src)
    font = next(f for f in coll.fonts if f["name"].getDebugName(1) == "Noto Sans CJK SC")
    opts = subset.Options()
    opts.layout_features = []
    opts.hinting = False
    opts.name_IDs = ["*"]
    opts.notdef_outline = True
    opts.drop_tables += ["VORG", "vhea", "vmtx", "BASE"]
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=sorted(ord(c) for c in charset()))
    sub.subset(font)
    name = font["name"]
    name.names = [r for r in name.names if r.nameID in {0, 2, 5, 7, 8, 9, 11, 12, 13, 14}]
    for nid, s in {1: FAMILY, 2: "Regular", 3: f"2.004;voc;{PS_NAME}", 4: f"{FAMILY} Regular", 6: PS_NAME,
                   10: "Subset of Noto Sans CJK SC 2.004 (GB2312, Latin, CJK punctuation) for voc charts."}.items():
        name.setName(s, nid, 3, 1, 0x409)
        name.setName(s, nid, 1, 0, 0)
    cff = font["CFF "].cff
    cff.fontNames = [PS_NAME]
    top = cff.topDictIndex[0]
    top.FullName = f"{FAMILY} Regular"
    top.FamilyName = FAMILY
    OUT.parent.mkdir(parents=True, exist_ok=True)
    font.save(OUT)
    check = TTFont(OUT)
    print(f"{OUT}: {OUT.stat().st_size / 1e6:.2f} MB, {len(check.getBestCmap())} characters")


if __name__ == "__main__":
    main(*sys.argv[1:])
