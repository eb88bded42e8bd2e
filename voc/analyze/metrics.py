"""Experience metrics with confidence intervals: NPS, CSAT and the like."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def _valid(values, weights, lo=None, hi=None) -> tuple[np.ndarray, np.ndarray]:
    """Numeric values (non-numbers and values outside [lo, hi] dropped) and their frequency weights."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    w = np.ones(len(v)) if weights is None else np.asarray(weights, dtype=float)
    ok = ~np.isnan(v) & (w > 0)
    if lo is not None:
        ok &= (v >= lo) & (v <= hi)
    return v[ok], w[ok]


def nps(scores, weights=None) -> dict:
    """Net Promoter Score of 0-10 scores (promoters 9-10, detractors 0-6) with a 95% confidence interval.

    The interval uses the variance of the difference of two multinomial proportions:
    ``var = (p + d - (p - d)^2) / n`` (in squared fractions), so it is exact in form and
    approximate (normal) in distribution.

    Returns
    -------
    dict with ``nps`` (−100..100), ``ci_low``, ``ci_high``, ``n``, ``promoters``, ``passives``, ``detractors``.
    ``weights``: whole-number frequency weights (a row stands for that many respondents).
    """
    s, w = _valid(scores, weights, 0, 10)
    n = int(round(w.sum()))
    if n == 0:
        return {"nps": None, "ci_low": None, "ci_high": None, "n": 0, "promoters": 0, "passives": 0,
                "detractors": 0}
    p = float(w[s >= 9].sum() / n)
    d = float(w[s <= 6].sum() / n)
    score = 100 * (p - d)
    half = 100 * Z95 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n)
    return {"nps": round(score, 2), "ci_low": round(max(score - half, -100), 2),
            "ci_high": round(min(score + half, 100), 2), "n": n, "promoters": int(round(w[s >= 9].sum())),
            "passives": int(round(w[(s >= 7) & (s <= 8)].sum())), "detractors": int(round(w[s <= 6].sum()))}


def mean_ci(values, weights=None) -> dict:
    """Mean with a 95% t-interval, e.g. for CSAT or star ratings (``weights``: frequency weights)."""
    v, w = _valid(values, weights)
    n = int(round(w.sum()))
    if n == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    m = float(np.average(v, weights=w))
    if n == 1:
        return {"mean": round(m, 3), "ci_low": None, "ci_high": None, "n": 1}
    from scipy.special import stdtrit  # t.ppf without importing scipy.stats

    sd = float(np.sqrt(max((w * (v - m) ** 2).sum() / (n - 1), 0.0)))
    half = float(stdtrit(n - 1, 0.975) * sd / np.sqrt(n))
    return {"mean": round(m, 3), "ci_low": round(m - half, 3), "ci_high": round(m + half, 3), "n": n}


def proportion_ci(k: int, n: int) -> dict:
    """A share in % with its 95% Wilson score interval (good for small n and shares near 0 or 100)."""
    if n == 0:
        return {"pct": None, "ci_low": None, "ci_high": None, "n": 0}
    p = k / n
    z2 = Z95 ** 2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return {"pct": round(100 * p, 2), "ci_low": round(100 * max(centre - half, 0.0), 2),
            "ci_high": round(100 * min(centre + half, 1.0), 2), "n": int(n)}


def top_box(values, scale: tuple[float, float], weights=None) -> dict:
    """Share of scores above the scale's midpoint (CSAT 4-5 of 1-5 "satisfied", CES 5-7 of 1-7 "easy"),
    with a Wilson interval (``weights``: frequency weights)."""
    v, w = _valid(values, weights, scale[0], scale[1])
    return proportion_ci(int(round(w[v > (scale[0] + scale[1]) / 2].sum())), int(round(w.sum())))


SCORE_METRICS = {
    "nps": "NPS (% promoters 9-10 − % detractors 0-6), normal interval of a difference of multinomial shares",
    "csat": "mean CSAT, t interval", "csat_top": "% satisfied: CSAT above the scale midpoint (4-5 of 1-5), Wilson",
    "ces": "mean CES (CES 2.0: higher = easier), t interval",
    "ces_top": "% easy: CES above the scale midpoint (5-7 of 1-7), Wilson",
    "rating": "mean star rating, t interval", "rating_top": "% ratings above the scale midpoint (4-5 of 1-5), Wilson",
}


def score_rows(frame: pd.DataFrame, scales: dict[str, tuple[float, float]] | None = None,
               weight: str | None = None) -> list[dict]:
    """NPS, CSAT, CES and rating (means and top-box shares) with 95% intervals for one group of comments.

    Columns of ``frame`` that are absent (e.g. ``ces`` in a run without it) are skipped. ``weight``: a column
    of frequency weights (rows collapsed with their counts give the same figures as the expanded rows).
    """
    scales = {"csat": (1, 5), "ces": (1, 7), "rating": (1, 5), **(scales or {})}
    w = None if weight is None else frame[weight].to_numpy(dtype=float)
    rows = []
    if "nps" in frame:
        r = nps(frame["nps"], w)
        if r["n"]:
            rows.append({"metric": "nps", "estimate": r["nps"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "n": r["n"]})
    for col in ("csat", "ces", "rating"):
        if col not in frame or not frame[col].notna().any():
            continue
        m = mean_ci(frame[col], w)
        lo, hi = scales[col]
        rows.append({"metric": col, "estimate": m["mean"], "n": m["n"],  # interval clipped to the scale
                     "ci_low": None if m["ci_low"] is None else max(m["ci_low"], lo),
                     "ci_high": None if m["ci_high"] is None else min(m["ci_high"], hi)})
        t = top_box(frame[col], scales[col], w)
        rows.append({"metric": f"{col}_top", "estimate": t["pct"], "ci_low": t["ci_low"], "ci_high": t["ci_high"],
                     "n": t["n"]})
    return rows


def segment_scores(frame: pd.DataFrame, segments: list[str], scales: dict | None = None,
                   weight: str | None = None) -> pd.DataFrame:
    """:func:`score_rows` overall (``grouping = 'all'``) and for every value of each segment column."""
    out = [{"grouping": "all", "group": "all", **r} for r in score_rows(frame, scales, weight)]
    for seg in segments:
        for value, g in frame.groupby(seg, sort=True):
            out += [{"grouping": seg, "group": str(value), **r} for r in score_rows(g, scales, weight)]
    cols = ["grouping", "group", "metric", "estimate", "ci_low", "ci_high", "n"]
    return pd.DataFrame(out, columns=cols).astype({"estimate": float, "ci_low": float, "ci_high": float})


def _f1_resamples(tp, fp, fn, classes, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Micro- and macro-F1 of each resample (rows of document weights ``w``)."""
    n = len(w[0])
    tp, fp, fn = (np.asarray(a, dtype=float).reshape(n, -1) for a in (tp, fp, fn))
    T, P, N = w @ tp, w @ fp, w @ fn  # (n_boot, K)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no class present: nan, skipped
        micro = 2 * T.sum(1) / (2 * T.sum(1) + P.sum(1) + N.sum(1))
        per = np.where(2 * T + P + N > 0, 2 * T / (2 * T + P + N), np.nan)  # absent from a resample: left out
        macro = np.nanmean(per[:, classes], axis=1) if classes.any() else np.zeros(len(w))
    return micro, macro


def _weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Resampling with replacement as multinomial counts of each document, (n_boot, n)."""
    return np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


def _support(tp, fn, n: int) -> np.ndarray:
    return (np.asarray(tp, dtype=float).reshape(n, -1) + np.asarray(fn, dtype=float).reshape(n, -1)).sum(0) > 0


def f1_intervals(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, classes: np.ndarray | None = None,
                 n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, list[float]]:
    """95% percentile-bootstrap intervals of micro- and macro-F1 from per-document counts.

    Parameters
    ----------
    tp, fp, fn : arrays of shape (n documents, K classes): each document's true positives, false positives
        and false negatives per class (for single-label data, micro-F1 is the accuracy).
    classes : boolean mask of the classes that macro-F1 averages (default: those with gold support).
    n_boot, seed, level : resamples of the documents, their seed and the interval's coverage.

    Returns ``{"micro_f1": [low, high], "macro_f1": [low, high]}``, rounded to 4 places.
    """
    n = len(tp)
    if n == 0:
        return {"micro_f1": [float("nan")] * 2, "macro_f1": [float("nan")] * 2}
    classes = _support(tp, fn, n) if classes is None else np.asarray(classes, dtype=bool)
    micro, macro = _f1_resamples(tp, fp, fn, classes, _weights(n, n_boot, seed))
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {"micro_f1": [round(float(v), 4) for v in np.nanpercentile(micro, q)],
            "macro_f1": [round(float(v), 4) for v in np.nanpercentile(macro, q)]}


def paired_f1_difference(a: tuple, b: tuple, classes: np.ndarray | None = None, n_boot: int = 1000,
                         seed: int = 0, level: float = 0.95) -> dict[str, dict]:
    """How much model ``b`` beats model ``a`` on the same documents: micro- and macro-F1 differences (b − a)
    with a paired percentile-bootstrap interval (both scored on each resample) and the share of resamples
    where b is ahead.

    Parameters
    ----------
    a, b : ``(tp, fp, fn)`` per-document counts of each model, as for :func:`f1_intervals`, on the same
        documents and gold labels.
    """
    n = len(a[0])
    if n == 0 or len(b[0]) != n:
        raise ValueError("both models must be scored on the same, non-empty documents")
    classes = _support(a[0], a[2], n) if classes is None else np.asarray(classes, dtype=bool)
    w = _weights(n, n_boot, seed)
    ra, rb = _f1_resamples(*a, classes, w), _f1_resamples(*b, classes, w)
    full = np.ones((1, n))
    pa, pb = _f1_resamples(*a, classes, full), _f1_resamples(*b, classes, full)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    out = {}
    for i, key in enumerate(("micro_f1", "macro_f1")):
        d = rb[i] - ra[i]
        out[key] = {"difference": round(float(pb[i][0] - pa[i][0]), 4),
                    "ci": [round(float(v), 4) for v in np.nanpercentile(d, q)],
                    "b_ahead": round(float(np.nanmean(d > 0)), 3)}
    return out
