"""Per-theme time series and alerts for emerging issues.

Trends: for every category of every taxonomy and every month (or ISO week, labelled by its Monday):
volume, share of the period's usable comments, positive/neutral/negative, negative share, net sentiment and
the NPS of its mentioners (the Sound definitions of :mod:`voc.analyze.sound`); periods in which a theme is
not mentioned are kept with volume 0 so each theme has a complete history.

Alerts (:data:`METHOD` states each test) compare a period with the theme's own history, the up to
``window`` periods before it, once at least ``min_history`` of them exist:

- ``volume``: a quasi-Poisson test. Expected mentions = the theme's mention rate per usable comment over
  the history × the period's usable comments (so a busier month is not an alert by itself); the Poisson
  variance is inflated by the history's Pearson dispersion ``φ = max(1, X²/(k-1))``; p = the upper tail
  ``P(X ≥ observed)`` of a Poisson with both counts divided by ``φ``. An alert needs p < ``alpha``,
  at least ``min_count`` mentions and ``observed ≥ min_lift × expected``.
- ``negative_share``: a one-sided binomial test of the period's negative mentions against the theme's
  negative share over the history. An alert needs p < ``alpha``, at least ``min_count`` negative mentions
  and a rise of at least ``min_rise`` points.
- ``new_phrase`` / ``new_keyword``: an opinion phrase (``送餐-太慢``) or comment keyword found in at least
  ``min_phrase_count`` comments of a period and in none of the earlier periods (of which there are at least
  ``min_history``).

Alerts use the raw p-value (a screening rule: with many themes × periods a few false alerts are expected,
which the count and effect-size floors keep down); each volume and negative-share alert also carries its
Benjamini-Hochberg ``q_value`` over every test made, for those who want a false-discovery-rate reading.
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from voc.analyze.sound import sound_table
from voc.errors import InputError

PERIODS = ("month", "week")
DEFAULTS = {"window": 6, "min_history": 3, "alpha": 0.01, "min_count": 5, "min_lift": 1.5, "min_rise": 15.0,
            "min_phrase_count": 3}

METHOD = {
    "volume": "quasi-Poisson test against the theme's own history: expected = its mention rate per usable "
              "comment over up to {window} previous periods × this period's usable comments, variance inflated "
              "by the history's Pearson dispersion; alert when p < {alpha}, ≥ {min_count} mentions and "
              "≥ {min_lift}× expected",
    "negative_share": "one-sided binomial test of the period's negative mentions against the theme's negative "
                      "share over up to {window} previous periods; alert when p < {alpha}, ≥ {min_count} negative "
                      "mentions and a rise ≥ {min_rise} points",
    "new_phrase": "an opinion phrase or keyword in ≥ {min_phrase_count} comments of a period and in none of the "
                  "earlier periods",
    "history": "a period is tested once at least {min_history} earlier periods with comments exist",
}


def _period_expr(period: str, col: str = "c.date") -> str:
    if period not in PERIODS:
        raise InputError(f"unknown trend period {period!r}; use month or week")
    fmt = "%Y-%m" if period == "month" else "%Y-%m-%d"
    return f"strftime(date_trunc('{period}', {col}), '{fmt}')"


def theme_trends(con: duckdb.DuckDBPyConnection, period: str = "month") -> pd.DataFrame:
    """One row per theme × period (month ``YYYY-MM`` or week ``YYYY-MM-DD``, its Monday), zeros filled in.

    Columns: ``period_type``, ``period``, ``taxonomy``, ``category``, ``stage``, ``comments`` (usable comments
    of the period), ``volume``, ``share``, ``positive``, ``neutral``, ``negative``, ``negative_share`` (%),
    ``net_sentiment``, ``nps_n``, ``nps`` (of the mentioners).
    """
    expr = _period_expr(period)
    t = sound_table(con, f"CASE WHEN c.date IS NOT NULL THEN {expr} END", period)
    t = t[t["group"].notna()]
    periods = con.execute(f"""SELECT {expr} AS period, count(*) AS comments FROM comments c
                              WHERE quality = 'ok' AND date IS NOT NULL GROUP BY 1 ORDER BY 1""").df()
    cols = ["period_type", "period", "taxonomy", "category", "stage", "comments", "volume", "share", "positive",
            "neutral", "negative", "negative_share", "net_sentiment", "nps_n", "nps"]
    if t.empty or periods.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    themes = t[["taxonomy", "category"]].drop_duplicates()
    stage = t.groupby(["taxonomy", "category"])["stage"].first()
    grid = themes.merge(periods, how="cross")
    t = t.rename(columns={"group": "period"}).drop(columns=["grouping", "comments", "stage"])
    out = grid.merge(t, on=["taxonomy", "category", "period"], how="left")
    for c in ("volume", "positive", "neutral", "negative", "nps_n"):
        out[c] = out[c].fillna(0).astype(int)
    out["share"] = out["volume"] / out["comments"]
    out["negative_share"] = np.where(out["volume"] > 0, 100 * out["negative"] / out["volume"].clip(lower=1), np.nan)
    out["stage"] = [stage.get((a, b)) for a, b in zip(out["taxonomy"], out["category"])]
    out["period_type"] = period
    return out[cols].sort_values(["taxonomy", "category", "period"]).reset_index(drop=True)


def _poisson_upper(observed: float, expected: float, phi: float) -> float:
    """P(X ≥ observed) for X ~ Poisson(expected), both scaled by 1/phi (quasi-Poisson)."""
    from scipy.special import gammainc

    if observed <= 0:
        return 1.0
    return float(gammainc(observed / phi, expected / phi))


def trend_alerts(trends: pd.DataFrame, **params) -> pd.DataFrame:
    """Volume and negative-share alerts of every theme and period (see the module docstring)."""
    from scipy.special import bdtrc  # binom.sf without importing scipy.stats (about 1 s)

    p = {**DEFAULTS, **params}
    rows, pvals = [], []
    for (tax, cat), g in trends.groupby(["taxonomy", "category"], sort=False):
        g = g[g["comments"] > 0].sort_values("period")
        v, c = g["volume"].to_numpy(float), g["comments"].to_numpy(float)
        neg, per = g["negative"].to_numpy(float), g["period"].tolist()
        for i in range(p["min_history"], len(g)):
            lo = max(0, i - p["window"])
            vh, ch, nh = v[lo:i], c[lo:i], neg[lo:i]
            k = i - lo
            base = {"period_type": g["period_type"].iloc[0], "period": per[i], "taxonomy": tax, "category": cat,
                    "phrase": None, "history": k}
            rate = vh.sum() / ch.sum()
            expected = c[i] * (rate if rate > 0 else 0.5 / ch.sum())
            phi = 1.0
            if rate > 0 and k >= 2:
                phi = max(1.0, float((((vh - rate * ch) ** 2) / (rate * ch)).sum() / (k - 1)))
            pv = _poisson_upper(v[i], expected, phi)
            pvals.append(pv)
            if v[i] >= p["min_count"] and v[i] >= p["min_lift"] * expected and pv < p["alpha"]:
                rows.append({**base, "kind": "volume", "observed": v[i], "expected": expected,
                             "lift": v[i] / expected, "p_value": pv, "dispersion": phi,
                             "message": f"{cat}: {v[i]:.0f} mentions in {per[i]} where its previous {k} periods "
                                        f"predict {expected:.1f} (×{v[i] / expected:.2f}, p={pv:.2g})"})
            if vh.sum() > 0 and v[i] > 0:
                p0 = nh.sum() / vh.sum()
                share = neg[i] / v[i]
                pv = float(bdtrc(int(neg[i]) - 1, int(v[i]), p0))
                pvals.append(pv)
                if neg[i] >= p["min_count"] and 100 * (share - p0) >= p["min_rise"] and pv < p["alpha"]:
                    rows.append({**base, "kind": "negative_share", "observed": neg[i], "expected": p0 * v[i],
                                 "lift": share / p0 if p0 > 0 else math.inf, "p_value": pv, "dispersion": None,
                                 "message": f"{cat}: {100 * share:.0f}% of its {v[i]:.0f} mentions negative in "
                                            f"{per[i]}, {100 * p0:.0f}% before (p={pv:.2g})"})
    for r in rows:  # Benjamini-Hochberg q-value over every test made, for information (alerts use p)
        r["q_value"] = _bh_q(r["p_value"], pvals)
    return _alert_frame(rows)


def _bh_q(pv: float, all_p: list[float]) -> float:
    """Benjamini-Hochberg adjusted p-value of ``pv`` among ``all_p``."""
    a = np.sort(np.asarray(all_p))
    m = len(a)
    q = np.minimum.accumulate((a * m / np.arange(1, m + 1))[::-1])[::-1]
    return float(min(1.0, q[np.searchsorted(a, pv, side="left")]))


def new_phrases(con: duckdb.DuckDBPyConnection, period: str = "month", min_phrase_count: int | None = None,
                min_history: int | None = None) -> pd.DataFrame:
    """Opinion phrases and keywords frequent in a period and never seen in the earlier periods."""
    k_min = DEFAULTS["min_phrase_count"] if min_phrase_count is None else min_phrase_count
    h_min = DEFAULTS["min_history"] if min_history is None else min_history
    expr = _period_expr(period)
    periods = [r[0] for r in con.execute(f"""SELECT DISTINCT {expr} FROM comments c
                                             WHERE quality = 'ok' AND date IS NOT NULL ORDER BY 1""").fetchall()]
    if len(periods) <= h_min:
        return _alert_frame([])
    first_testable = periods[h_min]
    terms = con.execute(f"""
        WITH c AS (SELECT id, keywords, {expr} AS period FROM comments c WHERE quality = 'ok' AND date IS NOT NULL),
        t AS (SELECT 'new_phrase' AS kind, m.taxonomy, m.category, m.phrase AS term, c.period, c.id
              FROM mentions m JOIN c ON c.id = m.comment_id WHERE m.phrase <> ''
              UNION ALL
              SELECT 'new_keyword', NULL, NULL, kw, c.period, c.id FROM c, unnest(c.keywords) AS k(kw)),
        per AS (SELECT kind, term, period, count(DISTINCT id) AS n, any_value(taxonomy) AS taxonomy,
                       mode(category) AS category FROM t GROUP BY kind, term, period),
        firsts AS (SELECT kind, term, min(period) AS first FROM per GROUP BY kind, term)
        SELECT per.* FROM per JOIN firsts f ON f.kind = per.kind AND f.term = per.term AND f.first = per.period
        WHERE per.n >= {int(k_min)} AND per.period >= '{first_testable}'
        ORDER BY per.period, per.n DESC, per.term""").df()
    rows = []
    for r in terms.itertuples(index=False):
        hist = periods.index(r.period)
        rows.append({"period_type": period, "period": r.period, "taxonomy": r.taxonomy, "category": r.category,
                     "phrase": r.term, "history": hist, "kind": r.kind, "observed": float(r.n), "expected": 0.0,
                     "lift": None, "p_value": None, "dispersion": None,
                     "message": f"'{r.term}' in {r.n} comments in {r.period}, never among the keywords of the "
                                f"{hist} periods before"})
    return _alert_frame(rows)


_ALERT_COLS = ["period_type", "period", "kind", "taxonomy", "category", "phrase", "observed", "expected", "lift",
               "p_value", "q_value", "dispersion", "history", "latest", "message"]


def _alert_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=[c for c in _ALERT_COLS if c != "latest"])
    df["latest"] = False
    for c in ("observed", "expected", "lift", "p_value", "q_value", "dispersion"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df["history"] = df["history"].astype("Int64")
    for c in ("period_type", "period", "kind", "taxonomy", "category", "phrase", "message"):
        df[c] = df[c].astype(object)
    return df[_ALERT_COLS]


def alerts(con: duckdb.DuckDBPyConnection, trends: pd.DataFrame | None = None, period: str = "month",
           **params) -> pd.DataFrame:
    """All alerts of a store: volume, negative share and new phrases; ``latest`` marks the last period."""
    trends = theme_trends(con, period) if trends is None else trends
    p = {**DEFAULTS, **params}
    out = pd.concat([trend_alerts(trends, **p),
                     new_phrases(con, period, p["min_phrase_count"], p["min_history"])], ignore_index=True)
    if len(out) and len(trends):
        out["latest"] = out["period"] == trends["period"].max()
    return out.sort_values(["period", "kind", "p_value"], na_position="last").reset_index(drop=True)


def method_text(**params) -> dict:
    """The alert method, with its parameters filled in, as stated in the output."""
    p = {**DEFAULTS, **params}
    d = {k: v.format(**p) for k, v in METHOD.items()}
    d["summary"] = (f"volume: quasi-Poisson vs own history, negative share: binomial, new phrases; "
                    f"p < {p['alpha']}, ≥ {p['min_history']} earlier periods")
    return d


def _segment_connections(run_dir: str | Path, by: str):
    """``(column, value, connection)`` for each value of segment ``by``, most comments first: an in-memory
    DuckDB connection whose ``comments`` and ``mentions`` views hold only that value's rows of the store."""
    from voc.store.query import store_path

    path = "'" + str(store_path(run_dir)).replace("'", "''") + "'"
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {path} AS s (READ_ONLY)")
        cols = [r[0] for r in con.execute("DESCRIBE s.comments").fetchall()]
        col = by if by in cols and by.startswith("seg_") else f"seg_{by}"
        if col not in cols:
            segs = [c[4:] for c in cols if c.startswith("seg_")]
            raise InputError(f"segment {by!r} is not in this run; its segments are: {', '.join(segs) or 'none'}")
        values = [r[0] for r in con.execute(f'SELECT "{col}" FROM s.comments WHERE "{col}" IS NOT NULL '
                                            f'GROUP BY 1 ORDER BY count(*) DESC, 1').fetchall()]
    finally:
        con.close()
    for v in values:
        sub = duckdb.connect()
        try:
            sub.execute(f"ATTACH {path} AS s (READ_ONLY)")
            lit = "'" + str(v).replace("'", "''") + "'"
            sub.execute(f'CREATE VIEW comments AS SELECT * FROM s.comments WHERE "{col}" = {lit}')
            sub.execute("CREATE VIEW mentions AS SELECT * FROM s.mentions WHERE comment_id IN (SELECT id FROM comments)")
            yield col, str(v), sub
        finally:
            sub.close()


def run_trends(run_dir: str | Path, period: str = "month", by: str | None = None, **params) -> dict:
    """Trends and alerts of a run folder, JSON-ready (``alerts``, ``trends``, ``method``).

    Parameters
    ----------
    run_dir : a folder written by ``voc run`` (or its ``voc.duckdb``).
    period : ``month`` or ``week``.
    by : a segment name (``province`` or ``seg_province``): trends and alerts of each of its values
        separately, each value tested against its own history (rows gain ``segment`` and ``segment_value``;
        q-values are per value). More tests mean more chance alerts: read them as screening hints.
    **params : alert thresholds (see :data:`DEFAULTS`).
    """
    from voc.store.query import connect

    _period_expr(period)
    if by is None:
        con = connect(run_dir)
        try:
            tr = theme_trends(con, period)
            al = alerts(con, tr, period, **params)
        finally:
            con.close()
    else:
        trs, als = [], []
        for col, value, con in _segment_connections(run_dir, by):
            tr = theme_trends(con, period)
            al = alerts(con, tr, period, **params)
            for df in (tr, al):
                df.insert(0, "segment_value", value)
                df.insert(0, "segment", col[4:])
            trs.append(tr)
            als.append(al)
        if not trs:
            raise InputError(f"segment {by!r} has no values in this run; analyse without --by")
        tr = pd.concat(trs, ignore_index=True)
        al = pd.concat(als, ignore_index=True)
        al = al.sort_values(["period", "kind", "p_value"], na_position="last").reset_index(drop=True)

    def recs(df):
        return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v.item() if isinstance(v, np.generic)
                     else None if v is pd.NA else v) for k, v in r.items()} for r in df.to_dict(orient="records")]

    return {"run": str(run_dir), "period": period, "by": by, "periods": int(tr["period"].nunique()),
            "themes": int(len(tr[["taxonomy", "category"]].drop_duplicates())), "method": method_text(**params),
            "alerts": recs(al), "trends": recs(tr)}
