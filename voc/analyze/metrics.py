"""Experience metrics with confidence intervals: NPS, CSAT and the like."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def nps(scores) -> dict:
    """Net Promoter Score of 0-10 scores (promoters 9-10, detractors 0-6) with a 95% confidence interval.

    The interval uses the variance of the difference of two multinomial proportions:
    ``var = (p + d - (p - d)^2) / n`` (in squared fractions), so it is exact in form and
    approximate (normal) in distribution.

    Returns
    -------
    dict with ``nps`` (−100..100), ``ci_low``, ``ci_high``, ``n``, ``promoters``, ``passives``, ``detractors``.
    """
    s = pd.to_numeric(pd.Series(scores), errors="coerce").dropna()
    s = s[(s >= 0) & (s <= 10)]
    n = len(s)
    if n == 0:
        return {"nps": None, "ci_low": None, "ci_high": None, "n": 0, "promoters": 0, "passives": 0,
                "detractors": 0}
    p = float((s >= 9).mean())
    d = float((s <= 6).mean())
    score = 100 * (p - d)
    half = 100 * Z95 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n)
    return {"nps": round(score, 2), "ci_low": round(max(score - half, -100), 2),
            "ci_high": round(min(score + half, 100), 2), "n": n, "promoters": int((s >= 9).sum()),
            "passives": int(((s >= 7) & (s <= 8)).sum()), "detractors": int((s <= 6).sum())}


def mean_ci(values) -> dict:
    """Mean with a 95% t-interval (normal for n > 30), e.g. for CSAT or star ratings."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
    n = len(v)
    if n == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    m = float(v.mean())
    if n == 1:
        return {"mean": round(m, 3), "ci_low": None, "ci_high": None, "n": 1}
    from scipy import stats

    half = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return {"mean": round(m, 3), "ci_low": round(m - half, 3), "ci_high": round(m + half, 3), "n": n}
