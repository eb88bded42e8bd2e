"""The themed HTML report of a run: one self-contained file (plotly.js inlined, no external URLs).

Sections: overview, scores by segment (NPS, CSAT, CES, rating with 95% CIs), RATER dimensions, touchpoints
by journey stage, drivers (importance-performance matrix and ranked drivers), trends with the alerts
marked, and a drill-down per category with its top opinion phrases, keywords and verbatims. The analyst
sections live in :mod:`voc.report.analyst`, shared helpers in :mod:`voc.report.common`.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from voc.analyze.build import overview
from voc.report.analyst import drivers_section, scores_section, trends_section
from voc.report.common import CSS, POL_COLORS, POL_ZH, esc, fig_html, has_table, label, table, taxonomies
from voc.taxonomy.model import Taxonomy

SECTIONS = ("overview", "scores", "rater", "touchpoint", "drivers", "trends", "drilldown")
_esc, _fig_html, _table, _label = esc, fig_html, table, label


def _overview_section(ov: dict, con) -> str:
    n = ov["nps"]
    kpis = [("评论数 comments", f"{ov['comments']:,}", f"可用 usable {ov['usable']:,}")]
    if n["n"]:
        kpis.append(("NPS", f"{n['nps']:+.1f}", f"95% CI [{n['ci_low']:+.1f}, {n['ci_high']:+.1f}], n={n['n']}"))
    for key, title in (("csat", "CSAT"), ("ces", "CES 费力度"), ("rating", "星级 rating")):
        m = ov.get(key)
        if m and m["n"]:
            ci = f"95% CI [{m['ci_low']}, {m['ci_high']}]" if m["ci_low"] is not None else ""
            kpis.append((title, f"{m['mean']:.2f}", f"{ci}, n={m['n']}"))
    if ov["first_date"]:
        first, last = ov["first_date"], ov["last_date"]
        if first[:4] == last[:4]:
            kpis.append(("时间范围 period", first[5:] + " → " + last[5:], first[:4]))
        else:  # the years differ: both dates in full
            kpis.append(("时间范围 period", first + " → " + last, ""))
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
            f'<p class="muted">quality: {_esc(q)}. Scores here and in the segment table count every respondent; '
            "the theme, Sound and driver figures count the comments with usable text (quality ok), so their NPS "
            "can differ.</p></section>")


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
_MEAN_NAMES = {"rating": "星级 rating", "csat": "CSAT", "ces": "CES"}


def _sound_cols(df: pd.DataFrame) -> dict[str, str]:
    """The Sound table's columns: the mentioners' NPS when the run has NPS, else the mean of the first score
    it has (rating, CSAT, CES), so a dump with stars only is not shown empty NPS columns."""
    if "nps_n" in df and df["nps_n"].fillna(0).sum() > 0:
        return _SOUND_COLS
    base = {k: v for k, v in _SOUND_COLS.items() if not k.startswith("nps")}
    for x, name in _MEAN_NAMES.items():
        if f"{x}_n" in df and df[f"{x}_n"].fillna(0).sum() > 0:
            return {**base, f"{x}_mean": f"提及者 {name}", f"{x}_others": f"未提及者 {name}", f"{x}_n": f"{name} n"}
    return base


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


def _taxonomy_section(sid: str, title: str, sound: pd.DataFrame, name: str | None, tax: Taxonomy | None) -> str:
    if name is None:
        return (f'<section id="{sid}"><h2>{_esc(title)}</h2><p>This run does not use this taxonomy '
                "(see the run's config.yaml, taxonomies).</p></section>")
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
                parts.append(f"<h3>{_esc(st.name)} {_esc(st.key)}</h3>" + _table(sub, _sound_cols(df)))
        body += "".join(parts)
        df["stage_name"] = df["stage"].map(stage_names)
    else:
        body += _table(df, _sound_cols(df))
    return f'<section id="{sid}"><h2>{_esc(title)}</h2>{body}</section>'


def _own_title(name: str, tax: Taxonomy | None) -> str:
    """Heading of a taxonomy of one's own: its title and, with stages, that it is grouped by them."""
    title = (tax.title if tax is not None and tax.title else name)
    return f"{title} {name}" + (" · 按阶段 by stage" if tax is not None and tax.stages else "")


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


def _models_footer(models: dict | None) -> str:
    """The footer naming the run's models (name and creation date) from their records in ``summary.json``;
    empty when the run has none (a run folder written before voc recorded them)."""
    if not models:
        return ""
    recs = [("情感 sentiment", models.get("sentiment")), *(models.get("taxonomies") or {}).items()]
    items = []
    for task, rec in recs:
        if not rec:
            continue
        created = f" ({str(rec['created'])[:10]})" if rec.get("created") else ""
        title = f"{rec.get('path') or ''} sha256 {rec.get('sha256') or '—'}".strip()
        items.append(f'{_esc(task)}: <span title="{_esc(title)}">{_esc(rec.get("name"))}{_esc(created)}</span>')
    return (f'<footer class="muted" style="margin:18px 32px">模型 models · {" · ".join(items)} '
            "(folders and weight hashes: summary.json)</footer>")


def _recorded_models(run_dir: Path) -> dict | None:
    f = run_dir / "summary.json"
    try:
        return json.loads(f.read_text(encoding="utf-8")).get("models") if f.is_file() else None
    except (ValueError, OSError, AttributeError):
        return None


def render_report(run_dir: str | Path, models: dict | None = None) -> str:
    """The report of a run folder as one self-contained HTML string.

    ``models`` are the run's model records (:func:`voc.pipeline.run_models`), shown in the footer; default
    those of the run's ``summary.json``.
    """
    run_dir = Path(run_dir)
    if models is None:
        models = _recorded_models(run_dir)
    taxes = taxonomies(run_dir)
    con = duckdb.connect(str(run_dir / "voc.duckdb"), read_only=True)
    try:
        ov = overview(con)
        sound = con.execute("SELECT * FROM sound").df()
        alerts_json = (con.execute("SELECT period, kind, taxonomy, category, phrase, message FROM alerts").df()
                       .to_dict(orient="records") if has_table(con, "alerts") else None)
        rater_name = "rater" if "rater" in taxes else None
        tp_name = "touchpoint" if "touchpoint" in taxes else None
        own = [n for n in taxes if n not in ("rater", "touchpoint")]  # taxonomies of one's own, after these
        body = [
            _overview_section(ov, con),
            scores_section(con),
            _taxonomy_section("rater", "RATER 服务质量维度 service quality", sound, rater_name,
                              taxes.get(rater_name) if rater_name else None),
            _taxonomy_section("touchpoint", "客户旅程触点 touchpoints by journey stage", sound, tp_name,
                              taxes.get(tp_name) if tp_name else None),
            *[_taxonomy_section(f"tax-{n}", _own_title(n, taxes[n]), sound, n, taxes[n]) for n in own],
            drivers_section(con, taxes),
            trends_section(con, taxes),
            _drilldown_section(con, sound, taxes),
        ]
    finally:
        con.close()
    ids = [*SECTIONS[:4], *[f"tax-{n}" for n in own], *SECTIONS[4:]]
    nav = "".join(f'<a href="#{s}">{s[4:] if s.startswith("tax-") else s}</a>' for s in ids)
    extra = {"alerts": alerts_json} if alerts_json is not None else {}
    data = json.dumps({"overview": ov, **extra}, ensure_ascii=False, default=str).replace("</", "<\\/")
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>voc report: {_esc(run_dir.name)}'
            f'</title><style>{CSS}</style><script type="text/javascript" id="plotly-js">{get_plotlyjs()}</script></head><body>'
            f'<header><h1>客户心声报告 Voice of Customer · {_esc(run_dir.name)}</h1><nav>{nav}</nav></header>'
            f'{"".join(body)}{_models_footer(models)}<script type="application/json" id="voc-data">{data}</script>'
            '</body></html>')


def write_report(run_dir: str | Path, path: str | Path | None = None, models: dict | None = None) -> Path:
    """Write ``report.html`` into the run folder (or to ``path``) and return its path; ``models`` as in
    :func:`render_report`."""
    out = Path(path) if path else Path(run_dir) / "report.html"
    out.write_text(render_report(run_dir, models), encoding="utf-8")
    return out
