"""Analyst sections of the HTML report: scores per segment, drivers with the importance-performance
matrix, and per-theme trends with the alerts marked. Each reads the store's tables (``segment_scores``,
``drivers``, ``driver_themes``, ``theme_trends``, ``alerts``) and says so when a table is missing.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from voc.analyze.metrics import SCORE_METRICS
from voc.report.common import (ALERT_COLOR, POL_COLORS, POL_ZH, esc, fig_html, fmt_ci, has_table, short,
                               table)
from voc.taxonomy.model import Taxonomy

METRIC_ZH = {"nps": "NPS", "csat": "CSAT 满意度", "csat_top": "满意率 % satisfied", "ces": "CES 费力度",
             "ces_top": "省力率 % easy", "rating": "星级 rating", "rating_top": "好评率 % 4-5★"}
QUAD_COLORS = {"fix first 优先改进": "#d64541", "keep up 继续保持": "#2e9d5b", "low priority 次要": "#9aa3ad",
               "possible overkill 过度投入": "#3b7dd8"}
OUTCOME_ZH = {"nps": "NPS", "csat": "CSAT", "rating": "星级 rating", "ces": "CES"}


def _missing(sid: str, title: str, what: str) -> str:
    return (f'<section id="{sid}"><h2>{esc(title)}</h2><p class="muted">{esc(what)} were not computed for this '
            "run (an older store); run the pipeline again to add them.</p></section>")


# --------------------------------------------------------------------------------------------- scores
def _score_chart(df: pd.DataFrame, metric: str, overall: float | None, title: str) -> str:
    d = df[df["metric"] == metric].sort_values("estimate")
    if d.empty:
        return ""
    fig = go.Figure(go.Scatter(
        x=d["estimate"], y=d["group"], mode="markers", marker=dict(size=10, color="#1f3a5f"),
        error_x=dict(type="data", symmetric=False, array=(d["ci_high"] - d["estimate"]).fillna(0),
                     arrayminus=(d["estimate"] - d["ci_low"]).fillna(0), color="#7b8794"),
        text=[f"n={n}" for n in d["n"]], hovertemplate="%{y}: %{x} (%{text})<extra></extra>"))
    if overall is not None:
        fig.add_vline(x=overall, line_dash="dash", line_color=ALERT_COLOR,
                      annotation_text=f"整体 overall {overall:g}", annotation_position="top")
    fig.update_layout(title=title, showlegend=False)
    return fig_html(fig, height=max(220, 60 + 34 * len(d)))


def scores_section(con) -> str:
    """NPS, CSAT, CES and rating with 95% intervals, overall, per channel and per segment value."""
    title = "分群得分 Scores by segment"
    if not has_table(con, "segment_scores"):
        return _missing("scores", title, "Segment scores")
    s = con.execute("SELECT * FROM segment_scores").df()
    if s.empty:
        return f'<section id="scores"><h2>{title}</h2><p>No NPS, CSAT, CES or rating values.</p></section>'
    metrics = [m for m in METRIC_ZH if m in set(s["metric"])]
    overall = {r.metric: r.estimate for r in s[s["grouping"] == "all"].itertuples()}
    parts = []
    for grouping, g in s.groupby("grouping", sort=False):
        wide = g.pivot_table(index="group", columns="metric", values="estimate", aggfunc="first")
        rows = []
        for group in wide.index:
            cell = {"group": group}
            for m in metrics:
                r = g[(g["group"] == group) & (g["metric"] == m)]
                cell[m] = ("—" if r.empty else
                           f"{fmt_ci(r['estimate'].iloc[0], r['ci_low'].iloc[0], r['ci_high'].iloc[0])} "
                           f"n={int(r['n'].iloc[0])}")
            rows.append(cell)
        name = "整体 overall" if grouping == "all" else grouping.removeprefix("seg_")
        body = table(pd.DataFrame(rows), {"group": name, **{m: METRIC_ZH[m] for m in metrics}},
                     num=tuple(metrics))
        if grouping != "all":
            second = "ces" if "ces" in metrics else "csat" if "csat" in metrics else "rating"
            charts = [_score_chart(g, "nps", overall.get("nps"), f"NPS · {name} (95% CI)"),
                      _score_chart(g, second, overall.get(second), f"{METRIC_ZH.get(second)} · {name} (95% CI)")]
            body = (f'<div class="cols">{"".join(f"<div>{c}</div>" for c in charts if c)}</div>' + body)
        parts.append(f"<h3>{esc(name)}</h3>{body}")
    defs = "; ".join(f"{METRIC_ZH[m]}: {SCORE_METRICS[m]}" for m in metrics)
    return (f'<section id="scores"><h2>{title}</h2>{"".join(parts)}<p class="muted">{esc(defs)}. '
            "Intervals on fewer than about 30 answers are rough.</p></section>")


# --------------------------------------------------------------------------------------------- drivers
def _ipm_chart(t: pd.DataFrame, tax: Taxonomy | None, title: str, flagged: frozenset = frozenset()) -> str:
    """Importance (% of the fit) against performance (net sentiment), bubbles sized by volume; ``flagged``
    categories (an alert in the latest period) are labelled ⚠."""
    t = t.dropna(subset=["net_sentiment"])
    if t.empty:
        return ""
    fig = go.Figure()
    # Alternate labels above and below along the x axis so neighbouring bubbles do not print on each other.
    order = t["net_sentiment"].rank(method="first").astype(int)
    t = t.assign(pos=["top center" if o % 2 else "bottom center" for o in order])
    for quad, q in t.groupby("quadrant", sort=False):
        fig.add_scatter(
            x=q["net_sentiment"], y=q["importance"], mode="markers+text", name=quad,
            text=[("⚠ " if k in flagged else "") + short(tax, k) for k in q["category"]],
            textposition=q["pos"].tolist(),
            marker=dict(size=(q["volume"] / max(t["volume"].max(), 1)) ** 0.5 * 42 + 8,
                        color=QUAD_COLORS.get(quad, "#1f3a5f"), opacity=0.75, line=dict(width=1, color="#fff")),
            customdata=q[["volume", "mentioners_metric"]].to_numpy(),
            hovertemplate="%{text}<br>importance %{y:.1f}%<br>net sentiment %{x:.0f}<br>volume %{customdata[0]}"
                          "<br>mentioners %{customdata[1]:.1f}<extra></extra>")
    fig.add_vline(x=0, line_dash="dot", line_color="#7b8794")
    fig.add_hline(y=t["importance"].mean(), line_dash="dot", line_color="#7b8794")
    fig.update_layout(title=title, xaxis_title="表现 performance: 净情感 net sentiment",
                      yaxis_title="重要性 importance (% of R²)", legend=dict(orientation="h", y=-0.25))
    return fig_html(fig, height=460)


_DRIVER_COLS = {"rank": "#", "driver": "驱动 driver", "n_mentions": "提及 n", "imp": "重要性 importance % [95% CI]",
                "or": "OR [95% CI]", "neutral": "Δ if neutral [CI]", "removed": "Δ if removed [CI]"}


def _or_disagrees(odds: float, low: float, high: float, removed: float) -> bool:
    """True when an interval-clear adjusted odds ratio points the other way from the raw difference of a
    score where higher is better: OR > 1 (mentioners more often in the adverse group) while removing the
    mentioners lowers the score (they score above the rest), or the reverse."""
    if any(pd.isna(x) for x in (odds, low, high, removed)) or removed == 0:
        return False
    if low > 1:
        return removed < 0
    if high < 1:
        return removed > 0
    return False


def _driver_rows(d: pd.DataFrame, tax: Taxonomy | None, top: int = 10) -> pd.DataFrame:
    d = d.sort_values("rank").head(top).copy()
    d["driver"] = [f"{short(tax, c)} {POL_ZH.get(p, p)}" for c, p in zip(d["category"], d["polarity"])]
    d["imp"] = [fmt_ci(a, b, c) for a, b, c in zip(d["importance"], d["shapley_pct_ci_low"], d["shapley_pct_ci_high"])]
    # score outcomes where higher is better (NPS, CSAT, rating, CES 2.0); not a rate of detractors
    higher_better = "kind" in d and len(d) and str(d["kind"].iloc[0]) not in ("detractor", "binary")
    d["or"] = [fmt_ci(a, b, c, ".2f") + ("†" if higher_better and _or_disagrees(a, b, c, r) else "")
               for a, b, c, r in zip(d["odds_ratio"], d["or_ci_low"], d["or_ci_high"], d["impact_removed"])]
    d["neutral"] = [fmt_ci(a, b, c, "+.1f") for a, b, c in
                    zip(d["impact_neutral"], d["impact_neutral_ci_low"], d["impact_neutral_ci_high"])]
    d["removed"] = [fmt_ci(a, b, c, "+.1f") for a, b, c in
                    zip(d["impact_removed"], d["impact_removed_ci_low"], d["impact_removed_ci_high"])]
    return d


def drivers_section(con, taxes: dict[str, Taxonomy]) -> str:
    """The primary outcome's drivers per taxonomy (matrix + ranked table) and the top drivers of the others."""
    title = "驱动因素 Drivers"
    if not (has_table(con, "drivers") and has_table(con, "driver_themes")):
        return _missing("drivers", title, "Drivers")
    d = con.execute("SELECT * FROM drivers").df()
    th = con.execute("SELECT * FROM driver_themes").df()
    if d.empty:
        return (f'<section id="drivers"><h2>{title}</h2><p>No outcome (NPS, CSAT, rating or CES) has the 30 '
                "answers a driver analysis needs.</p></section>")
    outcomes = list(dict.fromkeys(d["outcome"]))
    primary = outcomes[0]
    # themes with a volume or negative-share alert in the latest period: a whole-period quadrant can hide them
    alerted = (con.execute("SELECT DISTINCT taxonomy, category FROM alerts WHERE latest AND kind IN "
                           "('volume', 'negative_share')").fetchall() if has_table(con, "alerts") else [])
    dp, tp = d[d["outcome"] == primary], th[th["outcome"] == primary]
    first = dp.iloc[0]
    nps = first["kind"] == "nps"
    parts = [f'<p>结果 outcome: <b>{esc(OUTCOME_ZH.get(primary, primary))}</b> · n={int(first["n"])} · '
             f'{esc(first["metric"])} {first["metric_value"]:.1f}. 重要性 = the driver\'s share of the model fit '
             "(Shapley decomposition of R²); the matrix adds a theme's negative and positive drivers.</p>"]
    for name in dict.fromkeys(dp["taxonomy"]):
        tax = taxes.get(name)
        sub, tsub = dp[dp["taxonomy"] == name], tp[tp["taxonomy"] == name]
        cols = dict(_DRIVER_COLS) if nps else {k: v for k, v in _DRIVER_COLS.items() if k != "neutral"}
        if nps:
            cols["neutral"], cols["removed"] = "ΔNPS if neutral [CI]", "ΔNPS if removed [CI]"
        chart = _ipm_chart(tsub, tax, "重要性-表现矩阵 importance-performance",
                           frozenset(c for t, c in alerted if t == name))
        method = sub["shapley_method"].iloc[0] if "shapley_method" in sub else ""
        parts.append(f"<h3>{esc(tax.title if tax and tax.title else name)} · R²={sub['r2'].iloc[0]:.3f}</h3>"
                     f'<div class="cols"><div>{chart}</div><div>'
                     + table(_driver_rows(sub, tax), cols, num=("n_mentions", "imp", "or", "neutral", "removed"))
                     + f'<p class="muted">Shapley: {esc(method)}</p></div></div>')
    if len(outcomes) > 1:
        rows = []
        for o in outcomes[1:]:
            for name, g in d[d["outcome"] == o].groupby("taxonomy", sort=False):
                g = g.sort_values("rank").head(3)
                rows.append({"outcome": OUTCOME_ZH.get(o, o), "taxonomy": name, "n": int(g["n"].iloc[0]),
                             "top": "；".join(f"{short(taxes.get(name), c)} {POL_ZH.get(p, p)} {v:.0f}%"
                                             for c, p, v in zip(g["category"], g["polarity"], g["importance"]))})
        parts.append("<h3>其他结果 Other outcomes: top 3 drivers</h3>"
                     + table(pd.DataFrame(rows), {"outcome": "结果 outcome", "taxonomy": "taxonomy", "n": "n",
                                                  "top": "驱动 drivers (importance %)"})
                     + '<p class="muted">Intervals for these: voc drivers RUN_DIR --outcome csat (or rating, ces).</p>')
    defs = ["Drivers: one indicator per category for negative and one for positive mentions.",
            "OR: odds ratio of " + ("being a detractor (0-6)" if nps else "the adverse outcome")
            + " for the driver's mentioners (logistic regression, log-F(1,1) prior, Wald 95% CI).",
            "Quadrants split at the themes' mean importance and at net sentiment 0 (more complaints than praise), "
            "over the whole period; ⚠ marks a theme with a volume or negative-share alert in the latest period "
            "(see Trends), which a quadrant such as 'keep up' can hide.",
            "Importance intervals: percentile bootstrap of the exact Shapley shares, for at most 12 drivers; with "
            "more, voc drivers RUN_DIR gives relative-weight intervals.",
            "n: comments with usable text and a score (the overview's NPS also counts 默认好评 and empty ones).",
            "OR is adjusted for the other drivers; † marks one whose direction differs from the raw difference "
            "(Δ if removed), which overlapping categories can cause: read those with care."]
    if nps:
        defs += ["Δ if neutral: change in NPS if the driver's detractors (negative drivers) or promoters "
                 "(positive drivers) were passives.",
                 "Δ if removed: NPS without the driver's mentioners minus NPS of all respondents."]
    else:
        defs.append("Δ if removed: the mean (or rate) without the driver's mentioners minus the overall one.")
    parts.append('<p class="muted">' + "<br>".join(esc(x) for x in defs) + "</p>")
    return f'<section id="drivers"><h2>{title}</h2>{"".join(parts)}</section>'


# --------------------------------------------------------------------------------------------- trends
def _alert_text(r, taxes: dict[str, Taxonomy]) -> str:
    """One line per alert with the theme's Chinese name."""
    theme = short(taxes.get(r.taxonomy), r.category) if isinstance(r.category, str) else ""
    if r.kind == "volume":
        return (f"{r.period} {theme}: 提及 {r.observed:.0f} 条, 按历史预期 {r.expected:.1f} 条 "
                f"(×{r.lift:.2f}, p={r.p_value:.2g}) · mentions jumped")
    if r.kind == "negative_share":
        return (f"{r.period} {theme}: 负面 {r.observed:.0f} 条, 按历史预期 {r.expected:.1f} 条 "
                f"(p={r.p_value:.2g}) · negative share rose")
    where = f" ({theme})" if theme else ""
    return f"{r.period} 新出现 “{r.phrase}”{where}: {r.observed:.0f} 条评论, 此前从未出现 · new, never seen before"


def _alert_table(al: pd.DataFrame, taxes: dict[str, Taxonomy]) -> str:
    if al.empty:
        return '<p class="muted">No alerts.</p>'
    rows = []
    kind_zh = {"volume": "提及量激增 volume", "negative_share": "负面占比上升 negative share",
               "new_phrase": "新短语 new phrase", "new_keyword": "新关键词 new keyword"}
    for r in al.itertuples():
        theme = short(taxes.get(r.taxonomy), r.category) if isinstance(r.category, str) else ""
        what = " · ".join(x for x in (theme, r.phrase if isinstance(r.phrase, str) else "") if x)
        stat = (f"{r.observed:.0f} vs {r.expected:.1f} expected, ×{r.lift:.2f}, p={r.p_value:.2g}, q={r.q_value:.2g}"
                if r.kind in ("volume", "negative_share") and r.lift == r.lift
                else f"{r.observed:.0f} comments, never before")
        rows.append({"period": r.period, "kind": kind_zh.get(r.kind, r.kind), "what": what, "stat": stat})
    return table(pd.DataFrame(rows), {"period": "时期 period", "kind": "类型 kind", "what": "主题 theme",
                                      "stat": "依据 evidence"})


def trends_section(con, taxes: dict[str, Taxonomy]) -> str:
    """Comments per period by sentiment, per-theme volume and net sentiment with alerts marked, the alerts."""
    head = '<section id="trends"><h2>趋势与预警 Trends and alerts</h2>'
    if not has_table(con, "theme_trends"):
        return _missing("trends", "趋势与预警 Trends and alerts", "Trends")
    tr = con.execute("SELECT * FROM theme_trends").df()
    al = con.execute("SELECT * FROM alerts").df() if has_table(con, "alerts") else pd.DataFrame()
    if tr.empty:
        return head + "<p>No dated comments.</p></section>"
    period = tr["period_type"].iloc[0]
    expr = "'%Y-%m'" if period == "month" else "'%Y-%m-%d'"
    per = con.execute(f"""SELECT strftime(date_trunc('{period}', date), {expr}) AS period, sentiment, count(*) AS n
        FROM comments WHERE quality='ok' AND date IS NOT NULL GROUP BY ALL ORDER BY period""").df()
    fig = go.Figure()
    for pol in ("positive", "neutral", "negative"):
        sub = per[per["sentiment"] == pol]
        fig.add_bar(x=sub["period"], y=sub["n"], name=POL_ZH[pol], marker_color=POL_COLORS[pol])
    fig.update_layout(barmode="stack", title=f"评论与情感 comments per {period}", xaxis_type="category")
    parts = [fig_html(fig)]
    if not al.empty:
        latest = al[al["latest"]]
        shown = (latest if len(latest) else al).head(8)
        parts.append('<div id="alerts">' + "".join(f'<div class="alert">⚠ {esc(_alert_text(r, taxes))}</div>'
                                                   for r in shown.itertuples()) + "</div>")
    for name in dict.fromkeys(tr["taxonomy"]):
        tax = taxes.get(name)
        sub = tr[tr["taxonomy"] == name]
        f1, f2 = go.Figure(), go.Figure()
        for cat, g in sub.groupby("category", sort=False):
            f1.add_scatter(x=g["period"], y=g["volume"], name=short(tax, cat), mode="lines+markers",
                           legendgroup=cat)
            f2.add_scatter(x=g["period"], y=g["net_sentiment"], name=short(tax, cat), mode="lines+markers",
                           legendgroup=cat, showlegend=False)
        a = al[(al["taxonomy"] == name) & al["kind"].isin(["volume", "negative_share"])] if len(al) else al
        if len(a):
            m = a.merge(sub, on=["taxonomy", "category", "period"], how="left")
            for kind, fig_, col in (("volume", f1, "volume"), ("negative_share", f2, "net_sentiment")):
                k = m[m["kind"] == kind]
                if len(k):
                    fig_.add_scatter(x=k["period"], y=k[col], mode="markers", name="⚠ 预警 alert",
                                     marker=dict(symbol="circle-open", size=22, color=ALERT_COLOR,
                                                 line=dict(width=3)),
                                     text=k["message"], hovertemplate="%{text}<extra></extra>")
        t = tax.title if tax and tax.title else name
        f1.update_layout(title=f"{t}: 提及 mentions per {period}", xaxis_type="category")
        f2.update_layout(title=f"{t}: 净情感 net sentiment per {period}", yaxis_range=[-105, 105],
                         xaxis_type="category")
        parts.append(f'<div class="cols"><div>{fig_html(f1)}</div><div>{fig_html(f2)}</div></div>')
    parts.append("<h3>预警 Alerts</h3>" + _alert_table(al, taxes))
    from voc.analyze.trends import method_text

    m = method_text()
    parts.append(f'<p class="muted">Volume: {esc(m["volume"])}.<br>Negative share: {esc(m["negative_share"])}.'
                 f'<br>New phrases: {esc(m["new_phrase"])}; {esc(m["history"])}. q: Benjamini-Hochberg over '
                 "every test made.</p>")
    return head + "".join(parts) + "</section>"
