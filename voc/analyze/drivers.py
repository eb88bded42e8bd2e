"""Driver analysis: which themes move NPS, CSAT, CES, ratings or a binary outcome such as churn.

Works on a DataFrame with one outcome column and 0/1 driver columns (:func:`driver_analysis`); a run's
store is turned into such a frame by :func:`voc.analyze.driverstore.load_driver_frame`.

Driver features
---------------
By default each category of a taxonomy gives two indicators per comment: ``neg:<taxonomy>/<key>`` (the
comment mentions the category negatively) and ``pos:<taxonomy>/<key>`` (positively). Negative and positive
mentions are kept apart because they rarely matter symmetrically (a late delivery costs more NPS than a
fast one earns); neutral mentions are rare and carry no direction, so they are not drivers. A comment that
mentions a category both ways has both indicators set. ``any:<taxonomy>/<key>`` (mentioned at all) is the
alternative encoding, and is used for the theme's volume and performance.

Methods
-------
- ``relative_weights``: Johnson's relative weights of the OLS R² (continuous outcomes) or of the logistic
  ``R_O²`` (binary outcomes, Tonidandel & LeBreton 2010); see :mod:`voc.analyze.importance`.
- ``shapley``: Shapley value regression / general dominance of the OLS R² (for a binary outcome, the linear
  probability model's R²); exact up to 15 drivers, a seeded Monte Carlo estimate with standard errors above.
- ``logistic``: a statsmodels logistic regression (with a weak log-F(1,1) prior per slope, which keeps odds
  ratios finite when no detractor mentions a theme) of the adverse outcome (detractor for NPS, a score below
  the scale's midpoint for CSAT/CES/ratings, the flag itself for a binary outcome) on all drivers, with odds
  ratios and 95% Wald intervals; its importance is ``|b| × sd(x)`` (the standardised log-odds coefficient).
  For continuous outcomes the OLS coefficients (HC3 standard errors, normal intervals) are reported as well.
- impact (see :data:`IMPACT_DEFINITIONS`): how the headline metric would change without the driver.

Confidence intervals for importance and impact are percentile bootstrap intervals (seeded; ``n_boot``
resamples of the rows); Shapley values are bootstrapped when they are exact and ``p <= 12``.

Identical rows (the same drivers and outcome) are collapsed into one row with a frequency weight before any
fit; every method is exact under frequency weights, so the work grows with the number of distinct patterns
rather than with the number of comments.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from voc.analyze.importance import (EXACT_MAX, weighted_corr, weighted_stats, fit_logit, logistic_relative_weights,
                                   relative_weights, shapley_r2)
from voc.errors import InputError

KINDS = ("nps", "promoter", "detractor", "csat", "rating", "ces", "continuous", "binary")
METHODS = ("shapley", "relative_weights", "logistic")
SCALES = {"nps": (0, 10), "promoter": (0, 10), "detractor": (0, 10), "csat": (1, 5), "rating": (1, 5),
          "ces": (1, 7)}
FEATURE_RE = re.compile(r"^(neg|pos|neu|any):([^/]+)/(.+)$")
POLARITY = {"neg": "negative", "pos": "positive", "neu": "neutral", "any": "any"}
BOOT_SHAPLEY_MAX = 12
_TRUE = {"1", "1.0", "true", "t", "yes", "y", "是", "对", "有"}
_FALSE = {"0", "0.0", "false", "f", "no", "n", "否", "不", "无"}

IMPACT_DEFINITIONS = {
    "nps_neutral": "impact_neutral: change in NPS (points) if the driver's mentions were neutral: for a negative "
                   "driver (or, when its polarity is not known, one that lowers NPS) its mentioners who are "
                   "detractors (0-6) count as passives, for a positive driver its mentioners who are promoters "
                   "(9-10) count as passives; the other respondents are unchanged",
    "nps_removed": "impact_removed: change in NPS (points) if the driver's mentioners were removed from the "
                   "sample: NPS of the respondents who do not have this driver minus the NPS of all respondents",
    "mean_removed": "impact_removed: change in the mean score if the driver's mentioners were removed: mean of "
                    "the respondents without this driver minus the mean of all respondents",
    "rate_removed": "impact_removed: change in the outcome rate (percentage points) if the driver's mentioners "
                    "were removed: rate among respondents without this driver minus the overall rate",
}


@dataclass
class Outcome:
    """An outcome column and how to read it.

    ``kind``: ``nps`` (0-10, analysed as a continuous score; adverse = detractor 0-6), ``promoter`` /
    ``detractor`` (0/1 flags derived from a 0-10 NPS column), ``csat`` / ``rating`` / ``ces`` /
    ``continuous`` (numeric scores; adverse = below the scale's midpoint; for CES 2.0, 1-7, higher is easier)
    or ``binary`` (0/1, true/false, yes/no, 是/否, or ``value == positive`` for other strings).
    """

    column: str
    kind: str
    scale: tuple[float, float] | None = None
    positive: str | None = None

    @property
    def continuous(self) -> bool:
        return self.kind in ("nps", "csat", "rating", "ces", "continuous")

    @property
    def nps_based(self) -> bool:
        return self.kind in ("nps", "promoter", "detractor")

    def values(self, s: pd.Series) -> pd.Series:
        """The outcome as floats (0/1 for binary kinds), NaN where missing or out of scale."""
        if self.kind == "binary":
            return _binary(s, self.column, self.positive)
        num = pd.to_numeric(s, errors="coerce").astype(float)
        if self.nps_based:
            num = num.where((num >= 0) & (num <= 10))
            if self.kind == "promoter":
                return (num >= 9).astype(float).where(num.notna())
            if self.kind == "detractor":
                return (num <= 6).astype(float).where(num.notna())
        elif self.scale is not None:
            num = num.where((num >= self.scale[0]) & (num <= self.scale[1]))
        return num

    def adverse(self, y: np.ndarray) -> tuple[np.ndarray, str]:
        """The 0/1 target of the logistic regression and its description."""
        if self.kind == "nps":
            return (y <= 6).astype(float), "detractor (NPS 0-6) vs not"
        if not self.continuous:
            return y.astype(float), f"{self.kind if self.kind != 'binary' else self.column} = 1 vs 0"
        lo, hi = self.scale if self.scale is not None else (float(np.min(y)), float(np.max(y)))
        mid = (lo + hi) / 2
        return (y < mid).astype(float), f"{self.column} below the scale midpoint {mid:g} ({lo:g}-{hi:g}) vs not"

    def metric(self, y: np.ndarray, w: np.ndarray | None = None) -> float:
        """The headline metric: NPS for ``nps``, the mean score, or the rate in % for binary outcomes
        (``w``: frequency weights of the values)."""
        if len(y) == 0:
            return float("nan")
        if self.kind == "nps":
            return 100.0 * (np.average(y >= 9, weights=w) - np.average(y <= 6, weights=w))
        return float(np.average(y, weights=w)) * (1 if self.continuous else 100)

    @property
    def metric_name(self) -> str:
        if self.kind == "nps":
            return "NPS"
        if self.continuous:
            return f"mean {self.column}"
        return f"% {self.kind if self.kind != 'binary' else self.column}"


def _binary(s: pd.Series, column: str, positive: str | None) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s) and positive is None:
        v = s.astype(float)
        if not set(v.dropna().unique()) <= {0.0, 1.0}:
            raise InputError(f"outcome {column!r} has values other than 0 and 1; use --kind continuous, or "
                             f"--positive VALUE to say which value counts as 1")
        return v
    txt = s.astype("string").str.strip().str.lower()
    missing = txt.isna() | (txt == "")
    if positive is not None:
        return (txt == str(positive).strip().lower()).astype(float).where(~missing)
    bad = sorted(set(txt[~missing]) - _TRUE - _FALSE)
    if bad:
        raise InputError(f"outcome {column!r} is not a yes/no column (values such as {bad[:3]}); "
                         f"give --positive VALUE to say which value counts as 1")
    return txt.isin(_TRUE).astype(float).where(~missing)


def resolve_outcome(df: pd.DataFrame, outcome: str, kind: str | None = None,
                    scale: tuple[float, float] | None = None, positive: str | None = None) -> Outcome:
    """Find the outcome column (``nps``, ``csat``, ``city`` or ``seg_city`` ...) and decide its kind.

    ``promoter`` and ``detractor`` name flags derived from the ``nps`` column.

    Raises
    ------
    InputError
        When the column is missing or its kind cannot be told from its values.
    """
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown outcome kind {kind!r}; use one of {', '.join(KINDS)}")
    col = outcome
    if outcome in ("promoter", "detractor") and outcome not in df.columns:
        col, kind = "nps", kind or outcome
    if col not in df.columns and f"seg_{col}" in df.columns:
        col = f"seg_{col}"
    if col not in df.columns:
        avail = [c for c in df.columns if c in ("nps", "csat", "rating", "ces") or c.startswith("seg_")]
        raise InputError(f"outcome column {outcome!r} is not in the data; available: "
                         f"{', '.join(avail + ['promoter', 'detractor'] * ('nps' in avail)) or 'none'}")
    if kind is None:
        if col in ("nps", "csat", "rating", "ces"):
            kind = col
        elif positive is not None or pd.api.types.is_bool_dtype(df[col]):
            kind = "binary"
        elif pd.api.types.is_numeric_dtype(df[col]):
            kind = "binary" if set(df[col].dropna().unique()) <= {0, 1} else "continuous"
        else:
            kind = "binary"
    return Outcome(col, kind, scale if scale is not None else SCALES.get(kind), positive)


def parse_feature(name: str) -> tuple[str | None, str | None, str]:
    """``neg:touchpoint/delivery`` → (``negative``, ``touchpoint``, ``delivery``); other names are themes."""
    m = FEATURE_RE.match(name)
    if not m:
        return None, None, name
    return POLARITY[m[1]], m[2], m[3]


@dataclass
class DriverResult:
    """Ranked drivers (``drivers``), theme-level importance-performance (``themes``) and ``info``."""

    drivers: pd.DataFrame
    themes: pd.DataFrame
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready: info plus the two tables as lists of records (NaN → None)."""
        return {**self.info, "drivers": _records(self.drivers), "themes": _records(self.themes)}


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                        v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
    return out


def driver_analysis(df: pd.DataFrame, outcome: str, features: list[str], kind: str | None = None,
                    scale: tuple[float, float] | None = None, positive: str | None = None,
                    methods: tuple[str, ...] = METHODS, n_boot: int = 200, seed: int = 0, min_rows: int = 30,
                    min_count: int = 5, exact_max: int = EXACT_MAX, n_perm: int = 2000,
                    ci: float = 0.95, weight: str | None = None) -> DriverResult:
    """Rank the drivers of an outcome.

    Parameters
    ----------
    df : one row per respondent, with the outcome column and the 0/1 feature columns.
    outcome : outcome column (``nps``, ``csat``, ``rating``, ``ces``, ``promoter``, ``detractor``, a segment
        name such as ``churned`` or ``seg_churned``, or any column of ``df``).
    features : driver columns (0/1). Names such as ``neg:touchpoint/delivery`` are grouped into themes.
    kind : outcome kind (see :class:`Outcome`); guessed from the column when None.
    scale : (low, high) of a score; defaults by kind (NPS 0-10, CSAT 1-5, rating 1-5, CES 1-7).
    positive : for a string outcome, the value that counts as 1.
    methods : any of ``shapley``, ``relative_weights``, ``logistic``; the first one ranks the drivers.
    n_boot : bootstrap resamples for the importance and impact intervals (0 for none).
    seed : random seed (bootstrap and Monte Carlo Shapley).
    min_rows : fewer rows with an outcome raise InputError.
    min_count : drivers present in fewer rows are dropped (listed in ``info['dropped']``).
    exact_max : largest number of drivers for exact Shapley values (at most 15).
    n_perm : orderings for the Monte Carlo Shapley estimate beyond ``exact_max``.
    ci : confidence level of all intervals.
    weight : a column of whole-number frequency weights: each row stands for that many respondents (e.g.
        the distinct patterns of a large run with their counts). The results equal those of the expanded
        rows; ``n``, ``min_rows`` and ``min_count`` count respondents.

    Returns
    -------
    DriverResult; ``drivers`` has one row per driver with ``rank``, ``importance`` (% of the fit, by the
    first method), ``shapley``/``rw`` (raw, R² units) and ``*_pct`` (% of R²) with ``*_ci_low/high``,
    ``odds_ratio`` with its interval and p-value, ``impact_removed`` (and ``impact_neutral`` for NPS) with
    intervals, ``corr`` (sign = direction). ``info`` states the definitions and how each value was computed.
    """
    methods = tuple(_method(m) for m in methods) or METHODS
    out = resolve_outcome(df, outcome, kind, scale, positive)
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise InputError(f"driver column(s) {', '.join(missing[:3])} are not in the data")
    y_all = out.values(df[out.column])
    keep = y_all.notna().to_numpy()
    wts = None
    if weight is not None:
        if weight not in df.columns:
            raise InputError(f"weight column {weight!r} is not in the data")
        w_all = pd.to_numeric(df[weight], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(w_all).all() or (w_all < 0).any() or not np.array_equal(w_all, np.round(w_all)):
            raise InputError(f"weight column {weight!r} must hold whole, non-negative counts")
        keep = keep & (w_all > 0)
        wts = w_all[keep]
    y = y_all.to_numpy(dtype=float)[keep]
    n = len(y) if wts is None else int(wts.sum())
    if n < min_rows:
        raise InputError(f"only {n} rows have a value for outcome {outcome!r}; driver analysis needs at least "
                         f"{min_rows}")
    if len(y) == 0 or np.min(y) == np.max(y):
        raise InputError(f"outcome {outcome!r} has a single value in all {n} rows, so nothing can drive it")
    X_all = df.loc[keep, list(features)].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy(dtype=float)
    counts = (X_all != 0).sum(axis=0) if wts is None else wts @ (X_all != 0)
    ok = (counts >= min_count) & (X_all.std(axis=0) > 0)
    dropped = [f for f, k in zip(features, ok) if not k]
    feats = [f for f, k in zip(features, ok) if k]
    if not feats:
        raise InputError(f"no driver is present in at least {min_count} of the {n} rows with outcome {outcome!r}")
    p = int(ok.sum())
    # Identical rows (driver pattern and outcome) are collapsed into one with a frequency weight: every
    # method below is exact under frequency weights, and the work then scales with the distinct patterns.
    uniq, w = _unique_rows(np.column_stack([X_all[:, ok], y]), wts)
    X, yu, w = uniq[:, :p], uniq[:, p], w.astype(float)

    res: dict[str, np.ndarray] = {}
    info: dict = {"outcome": outcome, "column": out.column, "kind": out.kind, "n": n, "drivers_used": p,
                  "dropped": dropped, "methods": list(methods), "ci": ci,
                  "scale": list(out.scale) if out.scale else None, "metric": out.metric_name,
                  "metric_value": _round(out.metric(y, wts), 3), "ranked_by": methods[0], "notes": []}
    if "relative_weights" in methods:
        rw, r2 = (relative_weights if out.continuous else logistic_relative_weights)(X, yu, w)
        res["rw"] = rw
        info["rw_r2"] = _round(r2, 4)
        info["rw_model"] = "OLS R²" if out.continuous else "logistic R_O² (Tonidandel & LeBreton 2010)"
    if "shapley" in methods:
        sh = shapley_r2(X, yu, exact_max=exact_max, n_perm=n_perm, seed=seed, w=w)
        res["shapley"], res["shapley_se"] = sh["values"], sh["se"]
        info.update(shapley_r2=_round(sh["r2"], 4), shapley_exact=sh["exact"], shapley_method=sh["method"],
                    shapley_model="OLS R²" if out.continuous else "linear probability model R²")
        if not sh["exact"]:
            info["notes"].append(f"{p} drivers exceed the exact Shapley limit of {min(exact_max, EXACT_MAX)}: "
                                 "Shapley values are Monte Carlo estimates (shapley_se) and are not bootstrapped")
    if "logistic" in methods:
        res.update(_logistic(X, out.adverse(yu)[0], w, ci, info))
        info["logistic_target"] = out.adverse(yu)[1]
    if out.continuous:
        res.update(_ols(X, yu, w, ci))
    res["corr"] = np.array([weighted_corr(X[:, j], yu, w) for j in range(p)])
    lowers = _lowers(feats, res["corr"])
    imp = _impacts(X, yu, out, w[None, :], lowers)
    res.update({k: v[0] for k, v in imp.items()})
    info["impact_definitions"] = _impact_defs(out)
    if n_boot > 0:
        res.update(_bootstrap(X, yu, w, out, lowers, methods, n_boot, seed, ci, "shapley" in methods
                              and info.get("shapley_exact") and p <= BOOT_SHAPLEY_MAX))
        info["bootstrap"] = f"{n_boot} percentile-bootstrap resamples of the rows, seed {seed}"
    drivers = _driver_table(feats, X, w, res, methods[0])
    return DriverResult(drivers, _theme_table(df.loc[keep], drivers, y, out, wts), info)


def _method(m: str) -> str:
    m = {"rw": "relative_weights", "relative-weights": "relative_weights", "dominance": "shapley",
         "logit": "logistic"}.get(m, m)
    if m not in METHODS:
        raise InputError(f"unknown method {m!r}; use shapley, relative_weights (rw), logistic or all")
    return m


def _round(v, k):
    return None if v is None or not np.isfinite(v) else round(float(v), k)


def _lowers(feats: list[str], corr: np.ndarray) -> np.ndarray:
    """True for drivers that pull the score down: negative mentions, or (polarity unknown, e.g. ``any:``)
    drivers that correlate negatively with the outcome."""
    pols = [parse_feature(f)[0] for f in feats]
    return np.array([q == "negative" or (q != "positive" and c < 0) for q, c in zip(pols, corr)])


def _logistic(X: np.ndarray, t: np.ndarray, w: np.ndarray, ci: float, info: dict) -> dict:
    """Odds ratios with Wald intervals from a logistic regression of the adverse outcome (log-F(1,1) prior)."""
    p = X.shape[1]
    nan = np.full(p, np.nan)
    if min(w @ t, w @ (1 - t)) < 5:
        info["notes"].append("the logistic regression was skipped: fewer than 5 rows on one side of its target")
        return {k: nan for k in ("logit_coef", "odds_ratio", "or_ci_low", "or_ci_high", "p_value", "logit_importance")}
    f = fit_logit(X, t, ci, w)
    b = f["params"][1:]
    sep = [j for j in range(p) if _constant(t[X[:, j] != 0])]
    info["logistic_model"] = ("statsmodels GLM binomial with a log-F(1,1) prior per driver (Greenland & "
                              "Mansournia 2015), so odds ratios stay finite under separation")
    if sep:
        info["notes"].append(f"{len(sep)} driver(s) have an outcome on one side only among their mentioners "
                             "(separation); their odds ratios are shrunk by the prior and are only indicative")
    return {"logit_coef": b, "odds_ratio": np.exp(b), "or_ci_low": np.exp(f["ci_low"][1:]),
            "or_ci_high": np.exp(f["ci_high"][1:]), "p_value": f["p_values"][1:],
            "logit_importance": np.abs(b) * weighted_stats(X, w)[1]}


def _ols(X: np.ndarray, y: np.ndarray, w: np.ndarray, ci: float) -> dict:
    """OLS coefficients (score points per mention) with HC3 (normal) intervals, rows given with frequency
    weights; the same numbers as statsmodels ``OLS(...).fit(cov_type="HC3")`` on the expanded rows."""
    from scipy.special import ndtri  # norm.ppf without importing scipy.stats

    A = np.column_stack([np.ones(len(X)), X])
    inv = np.linalg.pinv(A.T @ (A * w[:, None]))
    beta = inv @ (A.T @ (w * y))
    r = y - A @ beta
    h = np.einsum("ij,jk,ik->i", A, inv, A)
    meat = (A * (w * r ** 2 / np.clip(1 - h, 1e-12, None) ** 2)[:, None]).T @ A
    se = np.sqrt(np.clip(np.diag(inv @ meat @ inv), 0, None))[1:]
    z = ndtri((1 + ci) / 2)
    return {"coef": beta[1:], "coef_ci_low": beta[1:] - z * se, "coef_ci_high": beta[1:] + z * se}


def _impacts(X: np.ndarray, y: np.ndarray, out: Outcome, W: np.ndarray, lowers: np.ndarray) -> dict:
    """Impact of every driver for each row of frequency weights ``W`` (B, rows), vectorised over drivers."""
    has = (X != 0).astype(float)           # (u, p)
    without = 1 - has
    N = W.sum(axis=1)[:, None]              # (B, 1)
    n_wo = W @ without                      # (B, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        if out.kind == "nps":
            prom, det = (y >= 9).astype(float), (y <= 6).astype(float)
            base = 100 * (W @ prom - W @ det)[:, None] / N
            wo = 100 * (W @ (without * prom[:, None]) - W @ (without * det[:, None])) / n_wo
            neutral = np.where(lowers, 100 * (W @ (has * det[:, None])) / N, -100 * (W @ (has * prom[:, None])) / N)
            return {"impact_removed": wo - base, "impact_neutral": neutral}
        scale = 1 if out.continuous else 100
        base = scale * (W @ y)[:, None] / N
        wo = scale * (W @ (without * y[:, None])) / n_wo
        return {"impact_removed": wo - base}


def _impact_defs(out: Outcome) -> list[str]:
    if out.kind == "nps":
        return [IMPACT_DEFINITIONS["nps_neutral"], IMPACT_DEFINITIONS["nps_removed"]]
    return [IMPACT_DEFINITIONS["mean_removed" if out.continuous else "rate_removed"]]


def _unique_rows(M: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(M, axis=0, return_counts=True)``, tens of times faster: rows are compared as raw bytes
    (as int8 when that is exact, as it is for indicators and 0-10 scores), then the few distinct rows
    are put in the same lexicographic order. With ``weights`` the counts are the summed weights."""
    small = M.astype(np.int8)
    X = np.ascontiguousarray(small if np.array_equal(small, M) else M)
    _, idx, inv, counts = np.unique(X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel(),
                                    return_index=True, return_inverse=True, return_counts=True)
    if weights is not None:
        counts = np.bincount(inv.ravel(), weights=weights, minlength=len(idx))
    order = np.lexsort(M[idx].T[::-1])
    return M[idx][order], counts[order]


def _constant(a: np.ndarray) -> bool:
    """True when ``a`` has fewer than two distinct values (without sorting it)."""
    return len(a) == 0 or a.min() == a.max()


def _bootstrap(X, y, w, out: Outcome, lowers, methods, n_boot, seed, ci, with_shapley) -> dict:
    """Percentile intervals from resampling the rows: multinomial counts over the distinct patterns."""
    rng = np.random.default_rng(seed)
    n, p = int(w.sum()), X.shape[1]
    W = rng.multinomial(n, w / w.sum(), size=n_boot).astype(float)
    lo_q, hi_q = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    res = {}
    stats: dict[str, list] = {"rw": [], "rw_pct": [], "shapley": [], "shapley_pct": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for wb in W:
            sel = wb > 0
            Xb, yb, wb = X[sel], y[sel], wb[sel]
            if _constant(yb):
                continue
            if "relative_weights" in methods:
                rw, r2 = (relative_weights if out.continuous else logistic_relative_weights)(Xb, yb, wb)
                stats["rw"].append(rw)
                stats["rw_pct"].append(100 * rw / r2 if r2 > 0 else np.full(p, np.nan))
            if with_shapley:
                v = shapley_r2(Xb, yb, w=wb)["values"]
                stats["shapley"].append(v)
                stats["shapley_pct"].append(100 * v / v.sum() if v.sum() > 0 else np.full(p, np.nan))
    for k, vals in stats.items():
        if vals:
            a = np.array(vals)
            res[f"{k}_ci_low"], res[f"{k}_ci_high"] = np.nanpercentile(a, lo_q, axis=0), np.nanpercentile(a, hi_q, axis=0)
    for k, a in _impacts(X, y, out, W, lowers).items():
        res[f"{k}_ci_low"], res[f"{k}_ci_high"] = np.nanpercentile(a, lo_q, axis=0), np.nanpercentile(a, hi_q, axis=0)
    return res


_ORDER = ["rank", "feature", "taxonomy", "category", "polarity", "n_mentions", "share", "importance",
          "shapley", "shapley_pct", "shapley_ci_low", "shapley_ci_high", "shapley_pct_ci_low", "shapley_pct_ci_high",
          "shapley_se", "rw", "rw_pct", "rw_ci_low", "rw_ci_high", "rw_pct_ci_low", "rw_pct_ci_high",
          "logit_coef", "odds_ratio", "or_ci_low", "or_ci_high", "p_value", "logit_importance",
          "coef", "coef_ci_low", "coef_ci_high", "corr", "impact_neutral", "impact_neutral_ci_low",
          "impact_neutral_ci_high", "impact_removed", "impact_removed_ci_low", "impact_removed_ci_high"]


def _driver_table(feats: list[str], X: np.ndarray, w: np.ndarray, res: dict, primary: str) -> pd.DataFrame:
    parsed = [parse_feature(f) for f in feats]
    n_m = (w @ (X != 0)).round().astype(int)
    d = pd.DataFrame({"feature": feats, "polarity": [q[0] for q in parsed], "taxonomy": [q[1] for q in parsed],
                      "category": [q[2] for q in parsed], "n_mentions": n_m, "share": n_m / w.sum()})
    for k, v in res.items():
        d[k] = v
    for k in ("rw", "shapley"):
        if k in d:
            tot = d[k].sum()
            d[f"{k}_pct"] = 100 * d[k] / tot if tot > 0 else np.nan
    key = {"shapley": "shapley_pct", "relative_weights": "rw_pct", "logistic": "logit_importance"}[primary]
    if primary == "logistic":
        tot = d[key].sum()
        d["importance"] = 100 * d[key] / tot if tot > 0 else np.nan
    else:
        d["importance"] = d[key]
    d = d.sort_values("importance", ascending=False, na_position="last").reset_index(drop=True)
    d["rank"] = np.arange(1, len(d) + 1)
    for c in _ORDER:
        if c not in d:
            d[c] = np.nan
    return d[_ORDER]


def _wsum(mask: np.ndarray, w: np.ndarray | None) -> float:
    return float(mask.sum()) if w is None else float(w @ mask)


QUADRANTS = {(True, False): "fix first 优先改进", (True, True): "keep up 继续保持",
             (False, False): "low priority 次要", (False, True): "possible overkill 过度投入"}


def _theme_table(df: pd.DataFrame, drivers: pd.DataFrame, y: np.ndarray, out: Outcome,
                 w: np.ndarray | None = None) -> pd.DataFrame:
    """Importance-performance per theme: importance = the sum of its drivers' importance (% of the fit);
    performance = net sentiment of its mentions in these rows and the mentioners' headline metric.

    Quadrants split at the themes' mean importance and at net sentiment 0 (without sentiment: at the mean of
    the mentioners' metric).
    """
    rows = []
    n_rows = len(df) if w is None else int(w.sum())
    for (tax, cat), g in drivers.groupby(["taxonomy", "category"], dropna=False, sort=False):
        key = f"{tax}/{cat}" if isinstance(tax, str) else cat
        cols = {q: f"{q}:{key}" for q in ("neg", "pos", "any")}
        has = {q: c in df.columns for q, c in cols.items()}
        neg = df[cols["neg"]].to_numpy() != 0 if has["neg"] else np.zeros(len(df), bool)
        pos = df[cols["pos"]].to_numpy() != 0 if has["pos"] else np.zeros(len(df), bool)
        if has["any"]:
            ment = df[cols["any"]].to_numpy() != 0
        elif has["neg"] or has["pos"]:
            ment = neg | pos
        else:
            ment = df[g["feature"].iloc[0]].to_numpy() != 0
        vol = int(_wsum(ment, w))
        wm, wo = (None, None) if w is None else (w[ment], w[~ment])
        rows.append({"taxonomy": tax, "category": cat, "importance": g["importance"].sum(),
                     "importance_negative": g.loc[g["polarity"] == "negative", "importance"].sum(),
                     "importance_positive": g.loc[g["polarity"] == "positive", "importance"].sum(),
                     "volume": vol, "share": vol / n_rows if n_rows else np.nan,
                     "net_sentiment": 100 * (_wsum(pos, w) - _wsum(neg, w)) / vol
                     if vol and (has["neg"] or has["pos"]) else np.nan,
                     "mentioners_metric": out.metric(y[ment], wm) if vol else np.nan,
                     "others_metric": out.metric(y[~ment], wo) if vol < n_rows else np.nan})
    t = pd.DataFrame(rows)
    if t.empty:
        return t
    # performance: net sentiment splits at 0 (more complaints than praise is poor, even when every theme is
    # below zero); without sentiment, the mentioners' score splits at its mean
    net = t["net_sentiment"].notna().any()
    perf = t["net_sentiment"] if net else t["mentioners_metric"]
    hi_imp = t["importance"] >= t["importance"].mean()
    hi_perf = perf >= (0.0 if net else perf.mean())
    t["quadrant"] = [QUADRANTS[(bool(a), bool(b))] for a, b in zip(hi_imp, hi_perf)]
    return t.sort_values("importance", ascending=False).reset_index(drop=True)
