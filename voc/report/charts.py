"""Static (PNG/SVG) charts with matplotlib that render Chinese on any machine.

A fresh machine usually has no CJK font, and matplotlib then draws every hanzi as an empty box. voc ships
``voc/resources/fonts/VOCSansSC-Regular.otf`` (a GB2312 subset of Noto Sans CJK SC, SIL OFL 1.1) and
registers it with matplotlib's font manager; a system CJK font, when one is installed, follows it in the
family list so that characters outside the subset still render (matplotlib ≥ 3.6 falls back per glyph).

Charts are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, no display needed).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure

BUNDLED_FAMILY = "VOC Sans SC"
BUNDLED_FILE = "VOCSansSC-Regular.otf"
# System fonts with good simplified-Chinese coverage, best first (Linux, Windows, macOS).
SYSTEM_CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Microsoft YaHei", "DengXian", "SimHei", "PingFang SC", "Hiragino Sans GB",
    "Heiti SC", "STHeiti", "Arial Unicode MS", "Droid Sans Fallback", "Noto Sans CJK JP", "Noto Sans CJK TC",
)
POL_COLORS = {"positive": "#2e9d5b", "neutral": "#9aa3ad", "negative": "#d64541"}
POL_ZH = {"positive": "正面", "neutral": "中性", "negative": "负面"}


def bundled_font_path() -> Path | None:
    """The font file shipped with voc, or None if the package was installed without it."""
    p = Path(str(resources.files("voc") / "resources" / "fonts" / BUNDLED_FILE))
    return p if p.is_file() else None


def system_cjk_font() -> tuple[str, Path] | None:
    """The best installed CJK font known to matplotlib as ``(family, path)``, or None."""
    by_name: dict[str, Path] = {}
    for f in font_manager.fontManager.ttflist:
        if f.name in SYSTEM_CJK_FAMILIES and (f.name not in by_name or f.weight in (400, "normal", "regular")):
            by_name[f.name] = Path(f.fname)
    for fam in SYSTEM_CJK_FAMILIES:
        if fam in by_name:
            return fam, by_name[fam]
    return None


@lru_cache(maxsize=4)
def cjk_font_families(system: bool = True) -> tuple[str, ...]:
    """Register the bundled font and return the font-family list to use for charts.

    Parameters
    ----------
    system : also append the best installed CJK font (covers characters outside the bundled subset).

    Returns
    -------
    tuple of family names: the bundled font, then a system CJK font if any, then ``DejaVu Sans``
    (matplotlib's own font, for symbols neither has).
    """
    fams = []
    path = bundled_font_path()
    if path is not None:
        font_manager.fontManager.addfont(str(path))
        fams.append(BUNDLED_FAMILY)
    if system:
        found = system_cjk_font()
        if found is not None:
            fams.append(found[0])
    fams.append("DejaVu Sans")
    return tuple(fams)


def cjk_font_path() -> Path | None:
    """The file of the first CJK font charts use: the bundled one, else a system one, else None."""
    return bundled_font_path() or (system_cjk_font() or (None, None))[1]


def cjk_rc(system: bool = True) -> dict:
    """matplotlib rc settings that render Chinese, for ``matplotlib.rc_context(cjk_rc())``."""
    return {"font.family": list(cjk_font_families(system)), "axes.unicode_minus": False}


def use_cjk_font(system: bool = True) -> list[str]:
    """Set matplotlib's global rc so that every later figure renders Chinese (for notebooks).

    Returns the font-family list now in force.
    """
    import matplotlib as mpl

    mpl.rcParams.update(cjk_rc(system))
    return list(mpl.rcParams["font.family"])


def theme_chart(themes: pd.DataFrame, title: str = "主题 themes: 提及量与净情感 volume and net sentiment",
                top: int = 15, system_fonts: bool = True) -> Figure:
    """Horizontal bars per category: mentions by polarity (left) and net sentiment (right).

    Parameters
    ----------
    themes : one row per category with ``label``, ``positive``, ``neutral``, ``negative``, ``net_sentiment``
        and optionally ``taxonomy_title`` (one panel row per taxonomy), e.g. from
        :func:`voc.report.export.themes_table`.
    top : at most this many categories per taxonomy (by volume).
    system_fonts : let a system CJK font cover characters the bundled font lacks.
    """
    import matplotlib as mpl

    groups = list(themes.groupby("taxonomy_title", sort=False)) if "taxonomy_title" in themes else [("", themes)]
    groups = [(t, g.assign(volume=g[["positive", "neutral", "negative"]].sum(axis=1))
                .nlargest(top, "volume").iloc[::-1]) for t, g in groups if len(g)]
    with mpl.rc_context(cjk_rc(system_fonts)):
        heights = [max(len(g), 1) + 1.5 for _, g in groups] or [2]
        fig = Figure(figsize=(11, 0.8 + 0.36 * sum(heights)), layout="constrained")
        fig.suptitle(title, fontsize=15)  # one weight is bundled: no bold
        axes = fig.subplots(len(heights), 2, squeeze=False, width_ratios=[3, 2],
                            gridspec_kw={"height_ratios": heights})
        if not groups:
            axes[0][0].text(0.5, 0.5, "没有提及 no mentions", ha="center", va="center")
        for (tax_title, g), (ax, ax2) in zip(groups, axes):
            y = range(len(g))
            left = pd.Series(0, index=g.index, dtype=float)
            for pol in ("positive", "neutral", "negative"):
                ax.barh(y, g[pol], left=left, color=POL_COLORS[pol], label=POL_ZH[pol], height=0.7)
                left += g[pol]
            for i, v in zip(y, left):
                ax.text(v, i, f" {int(v)}", va="center", fontsize=9)
            ax.set_yticks(list(y), list(g["label"]))
            ax.set_xlabel("提及评论数 mentions")
            ax.set_title(f"{tax_title} · 提及量 volume" if tax_title else "提及量 volume", loc="left")
            ax.legend(loc="lower right", fontsize=9, frameon=False)
            ax.spines[["top", "right"]].set_visible(False)
            ax.set_xlim(0, max(float(left.max()), 1) * 1.12)
            net = g["net_sentiment"].fillna(0)
            ax2.barh(y, net, color=[POL_COLORS["positive"] if v >= 0 else POL_COLORS["negative"] for v in net],
                     height=0.7)
            for i, v in zip(y, net):
                ax2.text(v, i, f" {v:+.0f} " if v >= 0 else f" {v:+.0f} ", va="center",
                         ha="left" if v >= 0 else "right", fontsize=9)
            ax2.axvline(0, color="#52606d", linewidth=0.8)
            ax2.set_xlim(-115, 115)
            ax2.set_yticks(list(y), [""] * len(g))
            ax2.tick_params(axis="y", length=0)
            ax2.set_xlabel("净情感 net sentiment (% 正面 − % 负面)")
            ax2.set_title("净情感 net sentiment", loc="left")
            ax2.spines[["top", "right", "left"]].set_visible(False)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write a figure to PNG (or SVG/PDF by extension) with the CJK fonts in force."""
    import matplotlib as mpl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context(cjk_rc()):
        fig.savefig(path, dpi=dpi)
    return path


def save_theme_chart(run_dir: str | Path, path: str | Path, taxonomy: str | None = None, top: int = 15,
                     dpi: int = 150) -> Path:
    """Draw :func:`theme_chart` for a run folder and write it to ``path`` (PNG by default).

    Parameters
    ----------
    run_dir : a folder written by ``voc run``.
    taxonomy : only this taxonomy (default: all of the run's taxonomies, one panel row each).
    """
    from voc.errors import InputError
    from voc.report.export import open_run, themes_table

    with open_run(run_dir) as run:
        df = themes_table(run)
    if taxonomy is not None:
        if taxonomy not in set(df["taxonomy"]):
            raise InputError(f"the run has no taxonomy {taxonomy!r}; it has: {', '.join(sorted(set(df['taxonomy'])))}")
        df = df[df["taxonomy"] == taxonomy]
    return save_figure(theme_chart(df, top=top), path, dpi)
