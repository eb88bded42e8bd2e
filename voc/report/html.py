"""The themed HTML report of a run: one self-contained file (plotly.js inlined, no external URLs).

Sections: overview, RATER dimensions, touchpoints by journey stage, monthly trends, and a drill-down per
category with its top opinion phrases, keywords and verbatims.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
import yaml
from plotly.offline import get_plotlyjs

from voc.analyze.build import overview
from voc.taxonomy.model import Taxonomy, load_taxonomy

FONT = '"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Noto Sans SC","WenQuanYi Micro Hei",sans-serif'
POL_COLORS = {"positive": "#2e9d5b", "neutral": "#9aa3ad", "negative": "#d64541"}
POL_ZH = {"positive": "正面", "neutral": "中性", "negative": "负面"}
SECTIONS = ("overview", "rater", "touchpoint", "trends", "drilldown")

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
.cols{{display:flex;gap:24px;flex-wrap:wrap}} .cols>div{{flex:1;min-width:280px}} .muted{{color:#7b8794;font-size:12px}}
"""


def _esc(v) -> str:
    return html.escape("" if v is None or (isinstance(v, float) and v != v) else str(v))


def _fig_html(fig: go.Figure) -> str:
    fig.update_layout(font_family=FONT, margin=dict(l=40, r=20, t=40, b=40), height=380, template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _table(df: pd.DataFrame, columns: dict[str, str]) -> str:
    head = "".join(f"<th>{_esc(v)}</th>" for v in columns.values())
    rows = "".join("<tr>" + "".join(f"<td>{_esc(r[c])}</td>" for c in columns) + "</tr>" for _, r in df.iterrows())
    return f"<table><tr>{head}</tr>{rows}</table>"


def _taxonomies(run_dir: Path) -> dict[str, Taxonomy]:
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    return {t["name"]: load_taxonomy(t.get("path") or t["name"]) for t in cfg.get("taxonomies", [])}


def _label(tax: Taxonomy | None, key: str) -> str:
    if tax is None:
        return key
    try:
        c = tax.category(key)
        return f"{c.name} {c.name_en or key}"
    except KeyError:
        return key


def _overview_section(ov: dict, con) -> str:
    n = ov["nps"]
    kpis = [("评论数 comments", f"{ov['comments']:,}", f"可用 usable {ov['usable']:,}")]
    if n["n"]:
        kpis.append(("NPS", f"{n['nps']:+.1f}", f"95% CI [{n['ci_low']:+.1f}, {n['ci_high']:+.1f}], n={n['n']}"))
    for key, title in (("csat", "CSAT"), ("rating", "星级 rating")):
        m = ov[key]
        if m["n"]:
            ci = f"95% CI [{m['ci_low']}, {m['ci_high']}]" if m["ci_low"] is not None else ""
            kpis.append((title, f"{m['mean']:.2f}", f"{ci}, n={m['n']}"))
    if ov["first_date"]:
        kpis.append(("时间范围 period", ov["first_date"][5:] + " → " + ov["last_date"][5:], ov["first_date"][:4]))
    cards = "".join(f'<div class="kpi"><span>{_esc(t)}</span><b>{_esc(v)}</b><span>{_esc(s)}</span></div>'
                    for t, v, s in kpis)
    mix = ov["sentiment"]
    fig = go.Figure(go.Pie(labels=[POL_ZH[k] for k in POL_COLORS if k in mix], values=[mix[k] for k in POL_COLORS
                    if k in mix], marker_colors=[POL_COLORS[k] for k in POL_COLORS if k in mix], hole=0.5))
    fig.update_layout(title="情感分布 sentiment mix", legend=dict(orientation="h", y=-0.1))
    q = ", ".join(f"{k} {v}" for k, v in ov["quality"].items())
    by_channel = con.execute("""SELECT coalesce(channel, '(none)') AS channel, count(*) AS n,
        round(100.0 * (count(*) FILTER (WHERE sentiment='positive') - count(*) FILTER (WHERE sentiment='negative'))
        / count(*), 1) AS net FROM comments WHERE quality='ok' GROUP BY 1 ORDER BY n DESC""").df()
    fig2 = go.Figure(go.Bar(x=by_channel["channel"], y=by_channel["n"], marker_color="#1f3a5f",
                            text=[f"净情感 {v:+.0f}" for v in by_channel["net"]], textposition="outside"))
    fig2.update_layout(title="渠道 channels (volume, net sentiment)")
    return (f'<section id="overview"><h2>总览 Overview</h2><div class="kpis">{cards}</div>'
            f'<div class="cols"><div>{_fig_html(fig)}</div><div>{_fig_html(fig2)}</div></div>'
            f'<p class="muted">quality: {_esc(q)}</p></section>')


def _category_chart(df: pd.DataFrame, title: str) -> str:
    fig = go.Figure()
    for pol in ("positive", "neutral", "negative"):
        fig.add_bar(x=df["short"], y=df[pol], name=POL_ZH[pol], marker_color=POL_COLORS[pol])
    fig.add_scatter(x=df["short"], y=df["net_sentiment"], name="净情感 net sentiment", yaxis="y2",
                    mode="markers+lines", marker=dict(size=10, color="#1f3a5f"))
    fig.update_layout(barmode="stack", title=title, yaxis=dict(title="提及 mentions"),
                      yaxis2=dict(title="净情感", overlaying="y", side="right", range=[-105, 105],
                                  tickvals=[-100, -50, 0, 50, 100], showgrid=False),
                      legend=dict(orientation="h", y=-0.2))
    return _fig_html(fig)


_SOUND_COLS = {"label": "类别 category", "volume": "提及 volume", "share_pct": "占比 share %",
               "net_sentiment": "净情感 net", "nps": "提及者NPS", "nps_others": "未提及者NPS", "nps_n": "NPS n"}


def _sound_all(sound: pd.DataFrame, name: str, tax: Taxonomy | None) -> pd.DataFrame:
    df = sound[(sound["grouping"] == "all") & (sound["taxonomy"] == name)].copy()
    if tax is not None:
        order = {k: i for i, k in enumerate(tax.keys)}
        df["order"] = df["category"].map(order)
        df = df.sort_values("order")
    df["label"] = [_label(tax, k) for k in df["category"]]
    df["short"] = [_label(tax, k).split(" ")[0] for k in df["category"]]
    df["share_pct"] = (df["share"] * 100).round(1)
    return df


def _taxonomy_section(sid: str, title: str, sound: pd.DataFrame, name: str, tax: Taxonomy | None) -> str:
    df = _sound_all(sound, name, tax)
    if df.empty:
        return f'<section id="{sid}"><h2>{_esc(title)}</h2><p>No mentions.</p></section>'
    body = _category_chart(df, title)
    if tax is not None and tax.stages:
        stage_names = {s.key: s.name for s in tax.stages}
        parts = []
        for st in tax.stages:
            sub = df[df["stage"] == st.key]
            if len(sub):
                parts.append(f"<h3>{_esc(st.name)} {_esc(st.key)}</h3>" + _table(sub, _SOUND_COLS))
        body += "".join(parts)
        df["stage_name"] = df["stage"].map(stage_names)
    else:
        body += _table(df, _SOUND_COLS)
    return f'<section id="{sid}"><h2>{_esc(title)}</h2>{body}</section>'


def _trends_section(con, sound: pd.DataFrame, taxes: dict[str, Taxonomy]) -> str:
    monthly = con.execute("""SELECT strftime(date, '%Y-%m') AS month, sentiment, count(*) AS n FROM comments
        WHERE quality='ok' AND date IS NOT NULL GROUP BY ALL ORDER BY month""").df()
    if monthly.empty:
        return '<section id="trends"><h2>趋势 Trends</h2><p>No dated comments.</p></section>'
    fig = go.Figure()
    for pol in ("positive", "neutral", "negative"):
        sub = monthly[monthly["sentiment"] == pol]
        fig.add_bar(x=sub["month"], y=sub["n"], name=POL_ZH[pol], marker_color=POL_COLORS[pol])
    fig.update_layout(barmode="stack", title="每月评论与情感 comments per month")
    parts = [_fig_html(fig)]
    m = sound[sound["grouping"] == "month"]
    for name, tax in taxes.items():
        sub = m[m["taxonomy"] == name]
        if sub.empty:
            continue
        f1, f2 = go.Figure(), go.Figure()
        for cat, g in sub.groupby("category", sort=False):
            g = g.sort_values("group")
            f1.add_scatter(x=g["group"], y=g["volume"], name=_label(tax, cat), mode="lines+markers")
            f2.add_scatter(x=g["group"], y=g["net_sentiment"], name=_label(tax, cat), mode="lines+markers")
        f1.update_layout(title=f"{tax.title or name}: 每月提及 mentions per month")
        f2.update_layout(title=f"{tax.title or name}: 每月净情感 net sentiment per month", yaxis_range=[-100, 100])
        parts.append(f'<div class="cols"><div>{_fig_html(f1)}</div><div>{_fig_html(f2)}</div></div>')
    return f'<section id="trends"><h2>趋势 Trends</h2>{"".join(parts)}</section>'


def _drilldown_section(con, sound: pd.DataFrame, taxes: dict[str, Taxonomy]) -> str:
    phrases = con.execute("SELECT * FROM phrases").df()
    keywords = con.execute("SELECT * FROM category_keywords").df()
    verb = con.execute("SELECT * FROM verbatims").df()
    blocks = []
    for name, tax in taxes.items():
        blocks.append(f"<h3>{_esc(tax.title or name)}</h3>")
        for _, row in _sound_all(sound, name, tax).iterrows():
            cat = row["category"]
            sel = lambda d: d[(d["taxonomy"] == name) & (d["category"] == cat)]  # noqa: E731
            ph, kw, vb = sel(phrases), sel(keywords), sel(verb)
            cols = []
            for pol, cls in (("positive", "pos"), ("negative", "neg")):
                items = "".join(f"<li>{_esc(p)} <span class='muted'>×{n}</span></li>"
                                for p, n in ph[ph["polarity"] == pol][["phrase", "n"]].itertuples(index=False))
                quotes = "".join(f"<li>“{_esc(t)}” <span class='muted'>{_esc(str(d)[:10])}</span></li>"
                                 for t, d in vb[vb["polarity"] == pol][["text", "date"]].itertuples(index=False))
                cols.append(f'<div><b class="{cls}">{POL_ZH[pol]} {pol}</b><ul>{items or "<li>—</li>"}</ul>'
                            f'<ul>{quotes or "<li>—</li>"}</ul></div>')
            kws = "、".join(kw["keyword"].tolist()) or "—"
            blocks.append(
                f'<details><summary>{_esc(row["label"])} · {int(row["volume"])} 条 · 净情感 '
                f'{row["net_sentiment"]:+.0f}</summary><p class="muted">关键词 keywords: {_esc(kws)}</p>'
                f'<div class="cols">{"".join(cols)}</div></details>')
    return f'<section id="drilldown"><h2>类别详情 Category drill-down</h2>{"".join(blocks)}</section>'


def render_report(run_dir: str | Path) -> str:
    """The report of a run folder as one self-contained HTML string."""
    run_dir = Path(run_dir)
    taxes = _taxonomies(run_dir)
    con = duckdb.connect(str(run_dir / "voc.duckdb"), read_only=True)
    try:
        ov = overview(con)
        sound = con.execute("SELECT * FROM sound").df()
        rater_name = "rater" if "rater" in taxes else next(iter(taxes), "rater")
        tp_name = "touchpoint" if "touchpoint" in taxes else None
        body = [
            _overview_section(ov, con),
            _taxonomy_section("rater", "RATER 服务质量维度 service quality", sound, rater_name, taxes.get(rater_name)),
            _taxonomy_section("touchpoint", "客户旅程触点 touchpoints by journey stage", sound, tp_name or "",
                              taxes.get(tp_name) if tp_name else None),
            _trends_section(con, sound, taxes),
            _drilldown_section(con, sound, taxes),
        ]
    finally:
        con.close()
    nav = "".join(f'<a href="#{s}">{s}</a>' for s in SECTIONS)
    data = json.dumps({"overview": ov}, ensure_ascii=False, default=str).replace("</", "<\\/")
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>voc report: {_esc(run_dir.name)}'
            f'</title><style>{CSS}</style><script type="text/javascript" id="plotly-js">{get_plotlyjs()}</script></head><body>'
            f'<header><h1>客户心声报告 Voice of Customer · {_esc(run_dir.name)}</h1><nav>{nav}</nav></header>'
            f'{"".join(body)}<script type="application/json" id="voc-data">{data}</script></body></html>')


def write_report(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write ``report.html`` into the run folder (or to ``path``) and return its path."""
    out = Path(path) if path else Path(run_dir) / "report.html"
    out.write_text(render_report(run_dir), encoding="utf-8")
    return out
