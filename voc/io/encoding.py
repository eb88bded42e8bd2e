"""Text encoding detection for the dumps analysts get: UTF-8, UTF-8-BOM, GBK/GB18030."""

from __future__ import annotations

import codecs
from pathlib import Path

from voc.errors import InputError

SAMPLE_BYTES = 1 << 20

# Canonical names for what users write in configs.
_ALIASES = {
    "utf8": "utf-8", "utf-8": "utf-8", "utf8-sig": "utf-8-sig", "utf-8-sig": "utf-8-sig",
    "utf-8-bom": "utf-8-sig", "gbk": "gb18030", "gb2312": "gb18030", "gb18030": "gb18030",
    "cp936": "gb18030",
}


def normalize_encoding(name: str) -> str:
    """Canonical codec name; GBK and GB2312 widen to their superset GB18030."""
    key = name.strip().lower().replace("_", "-")
    enc = _ALIASES.get(key, key)
    try:
        codecs.lookup(enc)
    except LookupError:
        raise InputError(f"unknown encoding {name!r}; use auto, utf-8, utf-8-sig or gb18030") from None
    return enc


def detect_encoding(data: bytes) -> str:
    """Guess the encoding of a byte sample.

    Order: a UTF-8 BOM gives ``utf-8-sig``; bytes that decode as UTF-8
    (allowing a multibyte character cut at the end of the sample) give
    ``utf-8``; bytes that decode as GB18030 give ``gb18030`` (a superset of
    GBK and GB2312); otherwise charset-normalizer's best guess.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _decodes(data, "utf-8"):
        return "utf-8"
    if _decodes(data, "gb18030"):
        return "gb18030"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise InputError("cannot detect the file's text encoding; set input.encoding (utf-8 or gb18030)")
    return normalize_encoding(best.encoding)


def _decodes(data: bytes, enc: str) -> bool:
    dec = codecs.getincrementaldecoder(enc)(errors="strict")
    try:
        dec.decode(data, final=False)  # a truncated trailing character is fine
        return True
    except UnicodeDecodeError:
        return False


def sniff_file_encoding(path: Path, configured: str = "auto") -> str:
    """The encoding to read ``path`` with: the configured one, or a detected one."""
    if configured and configured.lower() != "auto":
        return normalize_encoding(configured)
    with open(path, "rb") as f:
        return detect_encoding(f.read(SAMPLE_BYTES))
