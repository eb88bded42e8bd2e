"""Shared pieces of the HTML report: fonts, colours, CSS, escaping, plotly figures, tables, labels.

``.cols`` children get a fixed half width: plotly sizes a chart when its inline script runs, before the
chart beside it exists, so a growing flex child would leave the first chart drawn at full width.
"""

from __future__ import annotations

import html
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
import yaml

from voc.taxonomy.model import Taxonomy, load_taxonomy

FONT = '"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Noto Sans SC","WenQuanYi Micro Hei",sans-serif'
POL_COLORS = {"positive": "#2e9d5b", "neutral": "#9aa3ad", "negative": "#d64541"}
POL_ZH = {"positive": "正面", "neutral": "中性", "negative": "负面"}
ALERT_COLOR = "#e8590c"

CSS = f"""
body{{font-family:{FONT};margin:0;background:#f5f6f8;color:#1f2933}}
header{{background:#1f3a5f;color:#fff;padding:18px 32px}} header h1{{margin:0;font-size:24px}}
nav a{{color:#cfe0ff;margin-right:16px;text-decoration:none;font-size:14px}}
section{{background:#fff;margin:18px 32px;padding:18px 24px;border-radius:8px;box-shadow:0 1px 3px #0002}}
h2{{border-left:4px solid #1f3a5f;padding-left:10px;font-size:20px}} h3{{font-size:16px;margin:18px 0 6px}}
.kpis{{display:flex;flex-wrap:wrap;gap:14px}} .kpi{{background:#f0f4fa;border-radius:6px;padding:10px 16px;min-width:150px}}
.kpi b{{display:block;font-size:24px}} .kpi span{{font-size:12px;color:#52606d}}
table{{border-collapse:collapse;font-size:13px;margin:8px 0}} th,td{{border-bottom:1px solid #e4e7eb;padding:4px 8px;text-align:left}}
th{{background:#f0f4fa}} .pos{{color:{POL_COLORS['positive']}}} .neg{{color:{POL_COLORS['negative']}}}
details{{margin:6px 0;border:1px solid #e4e7eb;border-radius:6px;padding:6px 10px}} summary{{cursor:pointer;font-weight:600}}
.cols{{display:flex;gap:24px;flex-wrap:wrap}} .cols>div{{flex:0 1 calc(50% - 12px);min-width:280px}} .muted{{color:#7b8794;font-size:12px}}
.alert{{border-left:4px solid {ALERT_COLOR};background:#fff4e6;padding:6px 10px;margin:4px 0;font-size:13px}}
td.num{{text-align:right;white-space:nowrap}}
"""


def esc(v) -> str:
    """HTML-escape a value; None and NaN give an empty string."""
    return html.escape("" if v is None or (isinstance(v, float) and v != v) else str(v))


def fig_html(fig: go.Figure, height: int = 380) -> str:
    """A plotly figure as a div (plotly.js is inlined once in the page head)."""
    fig.update_layout(font_family=FONT, margin=dict(l=40, r=20, t=40, b=40), height=height, template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def table(df: pd.DataFrame, columns: dict[str, str], num: tuple[str, ...] = ()) -> str:
    """An HTML table of ``df``'s ``columns`` (column → header); ``num`` columns are right-aligned."""
    head = "".join(f"<th>{esc(v)}</th>" for v in columns.values())
    rows = "".join("<tr>" + "".join(f"<td{' class=num' if c in num else ''}>{esc(r[c])}</td>" for c in columns)
                   + "</tr>" for _, r in df.iterrows())
    return f"<table><tr>{head}</tr>{rows}</table>"


def taxonomies(run_dir: Path) -> dict[str, Taxonomy]:
    """The run's taxonomies, from its ``config.yaml``."""
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    return {t["name"]: load_taxonomy(t.get("path") or t["name"]) for t in cfg.get("taxonomies", [])}


def label(tax: Taxonomy | None, key: str) -> str:
    """``名称 English name`` of a category (the key when unknown)."""
    if tax is None:
        return key
    try:
        c = tax.category(key)
        return f"{c.name} {c.name_en or key}"
    except KeyError:
        return key


def short(tax: Taxonomy | None, key: str) -> str:
    """The Chinese name of a category (the key when unknown)."""
    return label(tax, key).split(" ")[0]


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True when the store has this table (older runs lack the newer analysis tables)."""
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
                .fetchone()[0])


def fmt_ci(est, lo, hi, spec: str = ".1f") -> str:
    """``35.7 [27.0, 44.5]``; the estimate alone when the interval is missing; ``—`` when nothing is."""
    def ok(v):
        return v is not None and v == v

    if not ok(est):
        return "—"
    s = format(est, spec)
    return s + (f" [{format(lo, spec)}, {format(hi, spec)}]" if ok(lo) and ok(hi) else "")
