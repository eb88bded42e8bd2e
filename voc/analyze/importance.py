"""Driver importance measures: Johnson's relative weights and Shapley value regression (dominance analysis).

All measures split a model's fit among correlated predictors so the parts add up to the whole:

- :func:`relative_weights` (Johnson 2000): the OLS R² split by regressing the outcome on the orthogonal
  counterparts ``Z = X R^{-1/2}`` of the standardised predictors and mapping the squared weights back
  through ``Λ = R^{1/2}``: ``ε_j = Σ_k Λ_jk² β_k²``, and ``Σ_j ε_j = R²``.
- :func:`logistic_relative_weights` (Tonidandel & LeBreton 2010): the same with a logistic regression of
  a binary outcome on ``Z`` and Menard's fully standardised coefficients ``β*_k = b_k s_Zk R_O / s_η``,
  where ``R_O`` is the correlation of the outcome with the fitted probabilities and ``η`` the fitted logits;
  the weights add up to ``R_O²``.
- :func:`shapley_r2` (Shapley value regression = general dominance, Budescu 1993 / Lipovetsky & Conklin
  2001): each predictor's marginal gain in OLS R², averaged over all subsets of the other predictors with
  the Shapley weights ``|S|! (p - |S| - 1)! / p!`` (equivalently: averaged within each subset size, then over
  sizes). Exact by enumerating all ``2^p`` subsets when ``p <= 15``; beyond that a seeded Monte Carlo
  average over random predictor orderings (antithetic pairs), whose standard error is returned.

Subset R² values come from the correlation matrix (``R²_S = r_S' R_SS⁻¹ r_S``, the OLS R² with an
intercept), solved in batches with numpy (a 1e-9 ridge keeps exactly collinear subsets solvable).
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from itertools import combinations

import numpy as np

EXACT_MAX = 15
_RIDGE = 1e-9  # keeps exactly collinear subsets solvable; changes R² by ~1e-9


def _w(w, n: int) -> np.ndarray:
    return np.ones(n) if w is None else np.asarray(w, float)


def weighted_stats(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and standard deviation (ddof 1 on the total weight) of the columns of ``v``."""
    tot = w.sum()
    m = (w @ v) / tot
    var = (w @ (v - m) ** 2) / max(tot - 1, 1e-12)
    return m, np.sqrt(var)


def weighted_corr(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    a, b = a - (w @ a) / w.sum(), b - (w @ b) / w.sum()
    den = np.sqrt((w @ a ** 2) * (w @ b ** 2))
    return float((w @ (a * b)) / den) if den > 0 else 0.0


def _corr(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Correlation matrix of the predictors and their correlations with y (constant columns give 0).

    ``w``: frequency weights (a row with weight 3 counts as three identical rows).
    """
    Z = np.column_stack([X, y]).astype(float)
    w = _w(w, len(Z))
    Z = Z - (w @ Z) / w.sum()
    sd = np.sqrt(w @ (Z ** 2))
    sd[sd == 0] = np.inf
    Z = Z / sd
    C = Z.T @ (Z * w[:, None])
    p = X.shape[1]
    R = C[:p, :p].copy()
    np.fill_diagonal(R, 1.0)
    return R, C[:p, p]


def _sqrtm(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric square root of a correlation matrix and its pseudo-inverse."""
    vals, vecs = np.linalg.eigh(R)
    vals = np.clip(vals, 0.0, None)
    root = (vecs * np.sqrt(vals)) @ vecs.T
    inv = np.where(vals > 1e-10 * max(vals.max(), 1e-300), 1 / np.sqrt(np.where(vals > 0, vals, 1)), 0.0)
    return root, (vecs * inv) @ vecs.T


def relative_weights(X, y, w=None) -> tuple[np.ndarray, float]:
    """Johnson's relative weights of the predictors of a continuous outcome.

    Parameters
    ----------
    X : (n, p) predictors.
    y : (n,) outcome.
    w : (n,) frequency weights, or None for one per row.

    Returns
    -------
    weights : (p,) raw relative weights (each predictor's share of R², in R² units).
    r2 : the OLS R² (equal to ``weights.sum()``).
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    R, rxy = _corr(X, y, w)
    lam, lam_inv = _sqrtm(R)
    beta = lam_inv @ rxy
    wt = (lam ** 2) @ (beta ** 2)
    return wt, float(wt.sum())


def logistic_relative_weights(X, y, w=None) -> tuple[np.ndarray, float]:
    """Relative weights of the predictors of a binary (0/1) outcome (Tonidandel & LeBreton 2010).

    ``w``: frequency weights, or None for one per row.

    Returns
    -------
    weights : (p,) raw weights; they add up to ``r2``.
    r2 : ``R_O²``, the squared correlation between the outcome and the fitted probabilities.
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    w = _w(w, len(X))
    m, sd = weighted_stats(X, w)
    sd[sd == 0] = np.inf
    Xs = (X - m) / sd
    R, _ = _corr(X, y, w)
    lam, lam_inv = _sqrtm(R)
    Z = Xs @ lam_inv
    b, prob = _logit_fit(Z, y, w)
    eta = Z @ b[1:]
    s_eta = weighted_stats(eta[:, None], w)[1][0]
    if s_eta == 0 or weighted_stats(prob[:, None], w)[1][0] == 0:
        return np.zeros(X.shape[1]), 0.0
    r_o = weighted_corr(y, prob, w)
    beta = b[1:] * weighted_stats(Z, w)[1] * r_o / s_eta
    wt = (lam ** 2) @ (beta ** 2)
    return wt, float(wt.sum())


def fit_logit(X, y, ci: float = 0.95, w=None) -> dict:
    """Logistic regression of a 0/1 outcome with a log-F(1,1) prior on each slope (statsmodels GLM).

    The prior is added as data (Greenland & Mansournia 2015): for each predictor one pseudo-record with
    that predictor = 1 and everything else, the intercept included, = 0, counted half as a success and
    half as a failure. It shrinks the log odds ratios slightly toward 0 and keeps them finite when a
    predictor separates the outcome (e.g. no detractor among a theme's mentioners), where plain maximum
    likelihood diverges. ``w``: frequency weights of the rows.

    Returns
    -------
    dict with ``params`` (intercept first), ``ci_low``/``ci_high`` (Wald), ``p_values`` and ``prob``
    (fitted probabilities of the real rows).
    """
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    X, y = np.asarray(X, float), np.asarray(y, float)
    n, p = X.shape
    Xc = np.column_stack([np.ones(n), X])
    pseudo = np.column_stack([np.zeros(2 * p), np.vstack([np.eye(p), np.eye(p)])])
    A = np.vstack([Xc, pseudo])
    t = np.concatenate([y, np.ones(p), np.zeros(p)])
    fw = np.concatenate([_w(w, n), np.full(2 * p, 0.5)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = GLM(t, A, family=families.Binomial(), freq_weights=fw).fit()
    params = np.asarray(res.params)
    ints = np.asarray(res.conf_int(1 - ci))
    return {"params": params, "ci_low": ints[:, 0], "ci_high": ints[:, 1], "p_values": np.asarray(res.pvalues),
            "prob": 1 / (1 + np.exp(-(Xc @ params)))}


def _logit_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (intercept first) and fitted probabilities of a logistic regression (statsmodels GLM).

    Maximum likelihood; with the log-F(1,1) prior of :func:`fit_logit` when that fails or diverges.
    """
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    Xc = np.column_stack([np.ones(len(X)), X])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = GLM(y, Xc, family=families.Binomial(), freq_weights=_w(w, len(X))).fit()
            params = np.asarray(res.params)
            if np.all(np.isfinite(params)) and np.abs(params).max() < 30:
                return params, 1 / (1 + np.exp(-(Xc @ params)))
        except Exception:  # noqa: BLE001 (singular Hessian, separation)
            pass
    f = fit_logit(X, y, w=w)
    return f["params"], f["prob"]


def _popcount(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.int64)
    c = np.zeros_like(a)
    while np.any(a):
        c += a & 1
        a = a >> 1
    return c


def _r2_batch(R: np.ndarray, rxy: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """R² of each subset given as rows of column indices (all of one size)."""
    if idx.shape[1] == 0:
        return np.zeros(len(idx))
    Rss = R[idx[:, :, None], idx[:, None, :]] + _RIDGE * np.eye(idx.shape[1])
    r = rxy[idx]
    try:
        sol = np.linalg.solve(Rss, r[..., None])[..., 0]
    except np.linalg.LinAlgError:
        sol = np.einsum("mij,mj->mi", np.linalg.pinv(Rss, hermitian=True), r)
    return np.clip((r * sol).sum(axis=1), 0.0, 1.0)


def _masks_r2(R: np.ndarray, rxy: np.ndarray, masks: np.ndarray, chunk: int = 20000) -> np.ndarray:
    """R² of arbitrary subsets given as bit masks."""
    p = len(rxy)
    out = np.zeros(len(masks))
    sizes = _popcount(masks)
    bits = (masks[:, None] >> np.arange(p)) & 1
    for k in np.unique(sizes):
        rows = np.flatnonzero(sizes == k)
        if k == 0:
            continue
        idx = np.nonzero(bits[rows])[1].reshape(len(rows), k)
        for s in range(0, len(rows), chunk):
            out[rows[s:s + chunk]] = _r2_batch(R, rxy, idx[s:s + chunk])
    return out


@lru_cache(maxsize=16)
def _subsets(p: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """For each size k = 1..p: the column indices of all k-subsets and their bit masks."""
    out = []
    for k in range(1, p + 1):
        idx = np.array(list(combinations(range(p), k)), dtype=np.int64)
        out.append((idx, (1 << idx).sum(axis=1)))
    return tuple(out)


@lru_cache(maxsize=16)
def _shapley_terms(p: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """For each predictor j: the masks without j and their Shapley weights ``|S|! (p-|S|-1)! / p!``."""
    masks = np.arange(1 << p)
    size = _popcount(masks)
    fact = np.array([math.factorial(i) for i in range(p + 1)], dtype=float)
    w = fact[size] * fact[np.clip(p - size - 1, 0, None)] / fact[p]
    out = []
    for j in range(p):
        m = masks[(masks & (1 << j)) == 0]
        out.append((m, w[m]))
    return tuple(out)


def all_subset_r2(X, y, w=None) -> np.ndarray:
    """OLS R² of every subset of the predictors, indexed by bit mask (bit j set = predictor j in)."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    R, rxy = _corr(X, y, w)
    p = X.shape[1]
    v = np.zeros(1 << p)
    for idx, masks in _subsets(p):
        v[masks] = _r2_batch(R, rxy, idx)
    return v


def shapley_from_values(v: np.ndarray, p: int) -> np.ndarray:
    """Shapley values of a set function given on all ``2^p`` bit masks."""
    return np.array([float((w * (v[m | (1 << j)] - v[m])).sum()) for j, (m, w) in enumerate(_shapley_terms(p))])


def shapley_r2(X, y, exact_max: int = EXACT_MAX, n_perm: int = 2000, seed: int = 0, w=None) -> dict:
    """Shapley decomposition of the OLS R² (general dominance weights).

    Parameters
    ----------
    X : (n, p) predictors.
    y : (n,) outcome (a 0/1 outcome gives the linear probability model's R²).
    exact_max : enumerate all subsets when ``p <= exact_max`` (at most 15).
    n_perm : random orderings for the Monte Carlo estimate when ``p > exact_max``.
    seed : random seed of the orderings.
    w : (n,) frequency weights, or None for one per row.

    Returns
    -------
    dict with ``values`` (p,), ``r2`` (full-model R², equal to ``values.sum()``), ``exact`` (bool),
    ``se`` (Monte Carlo standard errors, zeros when exact) and ``method`` (one line saying how).
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    p = X.shape[1]
    if p == 0:
        return {"values": np.zeros(0), "r2": 0.0, "exact": True, "se": np.zeros(0), "method": "exact (no predictors)"}
    if p <= min(exact_max, EXACT_MAX):
        v = all_subset_r2(X, y, w)
        return {"values": shapley_from_values(v, p), "r2": float(v[-1]), "exact": True, "se": np.zeros(p),
                "method": f"exact: all {1 << p} subsets of {p} drivers"}
    R, rxy = _corr(X, y, w)
    rng = np.random.default_rng(seed)
    half = max(n_perm // 2, 1)
    perms = np.array([rng.permutation(p) for _ in range(half)])
    perms = np.concatenate([perms, perms[:, ::-1]])  # antithetic pairs
    prefix = np.cumsum(np.left_shift(1, perms).astype(np.int64), axis=1)
    uniq, inv = np.unique(prefix.ravel(), return_inverse=True)
    r2 = _masks_r2(R, rxy, uniq)[inv].reshape(prefix.shape)
    gains = np.diff(np.column_stack([np.zeros(len(perms)), r2]), axis=1)
    contrib = np.zeros_like(gains)
    np.put_along_axis(contrib, perms, gains, axis=1)
    pair = (contrib[:half] + contrib[half:]) / 2
    full = float(_masks_r2(R, rxy, np.array([(1 << p) - 1]))[0])
    return {"values": contrib.mean(axis=0), "r2": full, "exact": False,
            "se": pair.std(axis=0, ddof=1) / math.sqrt(half) if half > 1 else np.zeros(p),
            "method": f"Monte Carlo: {2 * half} random orderings (antithetic pairs, seed {seed}) of {p} drivers, "
                      f"since exact enumeration is limited to {EXACT_MAX}"}
