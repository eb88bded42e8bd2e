"""Driver analysis: planted-driver recovery, exact Shapley vs brute force, relative weights, impact,
outcome kinds, error paths and the ``voc drivers`` command on a run of the demo sample."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from typer.testing import CliRunner

from voc.analyze.drivers import driver_analysis, resolve_outcome
from voc.analyze.driverstore import run_drivers
from voc.analyze.importance import (all_subset_r2, logistic_relative_weights, relative_weights, shapley_from_values,
                                    shapley_r2)
from voc.cli.main import app
from voc.errors import InputError
from tests.demo_run import shared_demo_run

# Planted drivers: standardised strength |beta| * sd(x), strictly decreasing, with mixed prevalence and sign.
STRENGTH = np.array([0.90, 0.75, 0.60, 0.48, 0.36, 0.26, 0.16, 0.08])
PREVALENCE = np.array([0.10, 0.30, 0.20, 0.15, 0.35, 0.25, 0.12, 0.40])
SIGN = np.array([-1, 1, -1, -1, 1, -1, 1, -1])
NAMES = [f"{'neg' if s < 0 else 'pos'}:t/c{i}" for i, s in enumerate(SIGN)]


def _planted(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Independent 0/1 drivers and a latent score driven by them with the planted strengths."""
    rng = np.random.default_rng(seed)
    X = (rng.random((n, len(STRENGTH))) < PREVALENCE).astype(int)
    beta = SIGN * STRENGTH / np.sqrt(PREVALENCE * (1 - PREVALENCE))
    latent = (X - PREVALENCE) @ beta + rng.normal(0, 1.0, n)
    return pd.DataFrame(X, columns=NAMES), latent


def _spearman(a, b) -> float:
    return float(spearmanr(a, b).statistic)


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_drivers_recovered_for_nps(seed):
    df, latent = _planted(2000, seed)
    df["nps"] = np.clip(np.round(7.5 + 1.3 * latent), 0, 10)
    r = driver_analysis(df, "nps", NAMES, n_boot=0)
    d = r.drivers.set_index("feature").loc[NAMES]
    for col in ("shapley", "rw", "logit_importance"):
        rho = _spearman(STRENGTH, d[col])
        assert rho >= 0.9, (col, rho)
    # Direction: negative drivers lower the score, positive ones raise it.
    assert (np.sign(d["corr"].to_numpy()) == SIGN).all()
    assert r.info["shapley_exact"] and r.info["logistic_target"].startswith("detractor")


def test_planted_drivers_recovered_for_a_binary_churn_flag():
    df, latent = _planted(3000, 2)
    rng = np.random.default_rng(5)
    # churn is more likely for customers with negative experiences: flip the latent's sign
    df["churned"] = np.where(rng.random(len(df)) < 1 / (1 + np.exp(-(-1.0 - 1.2 * latent))), "是", "否")
    r = driver_analysis(df, "churned", NAMES, n_boot=0)
    assert r.info["kind"] == "binary" and "Tonidandel" in r.info["rw_model"]
    d = r.drivers.set_index("feature").loc[NAMES]
    for col in ("shapley", "rw", "logit_importance"):
        assert _spearman(STRENGTH, d[col]) >= 0.9, col
    # Negative experiences raise the odds of churning.
    assert (d.loc[[n for n in NAMES if n.startswith("neg")], "odds_ratio"].head(3) > 1).all()


def _ols_r2(X, y, cols) -> float:
    import statsmodels.api as sm

    if not cols:
        return 0.0
    return float(sm.OLS(y, sm.add_constant(X[:, list(cols)])).fit().rsquared)


def test_exact_shapley_equals_brute_force_over_all_subsets():
    rng = np.random.default_rng(3)
    n, p = 300, 4
    X = rng.normal(size=(n, p))
    X[:, 1] += 0.6 * X[:, 0]          # correlated predictors make the split non-trivial
    X[:, 3] = (X[:, 2] + rng.normal(size=n) > 0).astype(float)
    y = X @ np.array([1.0, 0.5, -0.7, 0.3]) + rng.normal(size=n)
    r2 = {frozenset(s): _ols_r2(X, y, s) for k in range(p + 1) for s in itertools.combinations(range(p), k)}
    # Brute force 1: the average marginal gain over all p! orderings.
    by_order = np.zeros(p)
    for order in itertools.permutations(range(p)):
        seen: set[int] = set()
        for j in order:
            by_order[j] += r2[frozenset(seen | {j})] - r2[frozenset(seen)]
            seen.add(j)
    by_order /= math.factorial(p)
    # Brute force 2: dominance analysis, average within each subset size, then over sizes.
    dominance = np.zeros(p)
    for j in range(p):
        others = [i for i in range(p) if i != j]
        per_size = [np.mean([r2[frozenset(s) | {j}] - r2[frozenset(s)] for s in itertools.combinations(others, k)])
                    for k in range(p)]
        dominance[j] = np.mean(per_size)
    got = shapley_r2(X, y)
    assert got["exact"]
    np.testing.assert_allclose(got["values"], by_order, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got["values"], dominance, rtol=1e-6, atol=1e-9)
    assert got["values"].sum() == pytest.approx(r2[frozenset(range(p))], abs=1e-8)
    # Every subset R² from the correlation matrix matches statsmodels.
    v = all_subset_r2(X, y)
    for s, val in r2.items():
        assert v[sum(1 << i for i in s)] == pytest.approx(val, abs=1e-7)


def test_monte_carlo_shapley_is_close_to_exact():
    rng = np.random.default_rng(4)
    X = (rng.random((800, 9)) < 0.3).astype(float)
    X[:, 1] = np.maximum(X[:, 1], X[:, 0] * (rng.random(800) < 0.6))
    y = X @ rng.uniform(0.2, 2.0, 9) + rng.normal(size=800)
    exact = shapley_r2(X, y)
    mc = shapley_r2(X, y, exact_max=4, n_perm=1000, seed=1)
    assert not mc["exact"] and "Monte Carlo" in mc["method"]
    assert mc["values"].sum() == pytest.approx(exact["r2"], abs=1e-9)  # each ordering adds up to R²
    assert np.all(np.abs(mc["values"] - exact["values"]) <= np.maximum(5 * mc["se"], 2e-3))


def test_relative_weights_add_up_to_r2():
    import statsmodels.api as sm

    rng = np.random.default_rng(6)
    X = rng.normal(size=(400, 5))
    X[:, 2] += X[:, 1]
    y = X @ np.array([0.5, 1.0, -0.3, 0.0, 0.8]) + rng.normal(size=400)
    w, r2 = relative_weights(X, y)
    assert r2 == pytest.approx(sm.OLS(y, sm.add_constant(X)).fit().rsquared, abs=1e-9)
    assert w.sum() == pytest.approx(r2) and (w >= 0).all()
    # Uncorrelated predictors: relative weights equal the squared correlations, as Shapley values do.
    Xo = rng.normal(size=(400, 3))
    Xo = np.linalg.qr(Xo - Xo.mean(axis=0))[0]
    yo = Xo @ np.array([1.0, 2.0, 0.5]) + 0.01 * rng.normal(size=400)
    np.testing.assert_allclose(relative_weights(Xo, yo)[0], shapley_r2(Xo, yo)["values"], atol=1e-6)
    # Logistic weights add up to the squared correlation of the outcome with the fitted probabilities.
    yb = (y > 0).astype(float)
    wl, r2l = logistic_relative_weights(X, yb)
    prob = sm.Logit(yb, sm.add_constant(X)).fit(disp=0).predict()
    assert wl.sum() == pytest.approx(r2l) and r2l == pytest.approx(np.corrcoef(yb, prob)[0, 1] ** 2, rel=1e-4)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(0, 10_000))
def test_shapley_values_add_up_to_r2(p, seed):
    rng = np.random.default_rng(seed)
    X = (rng.random((60, p)) < rng.uniform(0.1, 0.9, p)).astype(float)
    y = rng.normal(size=60) + X[:, 0]
    v = all_subset_r2(X, y)
    phi = shapley_from_values(v, p)
    assert phi.sum() == pytest.approx(v[-1], abs=1e-8)
    assert (phi >= -1e-9).all()  # R² never falls when a predictor is added, so no Shapley value is negative


def test_impact_matches_a_hand_computation():
    # 10 respondents; 'neg:t/a' is mentioned by 4 of them (3 detractors, 1 passive).
    df = pd.DataFrame({"nps": [0, 3, 5, 8, 9, 10, 10, 9, 7, 6],
                       "neg:t/a": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
                       "pos:t/a": [0, 0, 0, 0, 1, 1, 0, 0, 0, 0]})
    r = driver_analysis(df, "nps", ["neg:t/a", "pos:t/a"], n_boot=0, min_rows=5, min_count=2)
    d = r.drivers.set_index("feature")
    base = 100 * (4 - 4) / 10
    assert r.info["metric_value"] == pytest.approx(base)
    assert d.loc["neg:t/a", "impact_neutral"] == pytest.approx(100 * 3 / 10)       # 3 detractors → passives
    assert d.loc["neg:t/a", "impact_removed"] == pytest.approx(100 * (4 - 1) / 6 - base)
    assert d.loc["pos:t/a", "impact_neutral"] == pytest.approx(-100 * 2 / 10)      # 2 promoters → passives
    assert d.loc["pos:t/a", "impact_removed"] == pytest.approx(100 * (2 - 4) / 8 - base)
    assert any("detractors (0-6) count as passives" in s for s in r.info["impact_definitions"])
    themes = r.themes.set_index("category")
    assert themes.loc["a", "volume"] == 6 and themes.loc["a", "net_sentiment"] == pytest.approx(100 * (2 - 4) / 6)


def test_outcome_kinds():
    df = pd.DataFrame({"nps": [0, 9, 10, 6, None], "seg_churn": ["是", "否", "否", "是", ""],
                       "seg_plan": ["gold", "basic", "gold", "basic", "gold"], "flag": [0, 1, 1, 0, 1]})
    assert resolve_outcome(df, "detractor").values(df["nps"]).tolist()[:4] == [1, 0, 0, 1]
    assert resolve_outcome(df, "promoter").kind == "promoter"
    churn = resolve_outcome(df, "churn")                # a segment name resolves to seg_churn
    assert churn.column == "seg_churn" and churn.kind == "binary"
    assert churn.values(df["seg_churn"]).tolist()[:4] == [1, 0, 0, 1] and np.isnan(churn.values(df["seg_churn"])[4])
    plan = resolve_outcome(df, "plan", positive="gold")
    assert plan.values(df["seg_plan"]).tolist() == [1, 0, 1, 0, 1]
    assert resolve_outcome(df, "flag").kind == "binary"
    assert resolve_outcome(df, "nps").scale == (0, 10)
    with pytest.raises(InputError, match="not a yes/no column"):
        resolve_outcome(df, "plan").values(df["seg_plan"])


def test_more_than_15_drivers_use_a_stated_approximation():
    rng = np.random.default_rng(8)
    names = [f"neg:t/c{i}" for i in range(18)]
    df = pd.DataFrame((rng.random((500, 18)) < 0.2).astype(int), columns=names)
    df["csat"] = np.clip(np.round(4 - df[names[:5]].sum(axis=1) * 0.5 + rng.normal(0, 0.7, 500)), 1, 5)
    r = driver_analysis(df, "csat", names, n_boot=20)
    assert not r.info["shapley_exact"] and any("exceed the exact Shapley limit" in s for s in r.info["notes"])
    assert r.drivers["shapley_se"].gt(0).all() and r.drivers["shapley_ci_low"].isna().all()
    assert r.drivers["rw_ci_low"].notna().all()  # relative weights are still bootstrapped
    assert set(r.drivers.head(5)["feature"]) == set(names[:5])
    assert r.info["logistic_target"].startswith("csat below the scale midpoint 3")


def test_bootstrap_intervals_contain_the_estimates():
    df, latent = _planted(600, 9)
    df["nps"] = np.clip(np.round(7.5 + 1.3 * latent), 0, 10)
    r = driver_analysis(df, "nps", NAMES, n_boot=60, seed=3)
    d = r.drivers
    for k in ("shapley", "rw", "impact_removed", "impact_neutral"):
        assert (d[f"{k}_ci_low"] <= d[k] + 1e-9).all() and (d[k] <= d[f"{k}_ci_high"] + 1e-9).all(), k
    assert (d["or_ci_low"] < d["odds_ratio"]).all() and (d["odds_ratio"] < d["or_ci_high"]).all()
    again = driver_analysis(df, "nps", NAMES, n_boot=60, seed=3)
    pd.testing.assert_frame_equal(d, again.drivers)  # seeded


def test_error_paths():
    df = pd.DataFrame({"nps": [9, 3] * 20, "neg:t/a": [0, 1] * 20})
    with pytest.raises(InputError, match="outcome column 'csat' is not in the data"):
        driver_analysis(df, "csat", ["neg:t/a"])
    with pytest.raises(InputError, match="only 10 rows have a value"):
        driver_analysis(df.head(10), "nps", ["neg:t/a"])
    with pytest.raises(InputError, match="not in the data"):
        driver_analysis(df, "nps", ["neg:t/b"])
    with pytest.raises(InputError, match="no driver is present"):
        driver_analysis(df.assign(**{"neg:t/a": 0}), "nps", ["neg:t/a"])
    with pytest.raises(InputError, match="single value"):
        driver_analysis(df.assign(nps=9), "nps", ["neg:t/a"])
    with pytest.raises(InputError, match="unknown method"):
        driver_analysis(df, "nps", ["neg:t/a"], methods=("magic",))
    with pytest.raises(InputError, match="unknown outcome kind"):
        driver_analysis(df, "nps", ["neg:t/a"], kind="ordinal")


# ------------------------------------------------------------------------------------ on a real run
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    return shared_demo_run(tmp_path_factory)


def test_run_drivers_on_the_demo(demo_run):
    res = run_drivers(demo_run, "nps", n_boot=20)
    assert {r["taxonomy"] for r in res["results"]} == {"rater", "touchpoint"}
    for r in res["results"]:
        d = pd.DataFrame(r["drivers"])
        assert r["n"] >= 30 and r["shapley_r2"] == pytest.approx(d["shapley"].sum(), abs=1e-4)
        assert d["importance"].sum() == pytest.approx(100, abs=1e-6)
        assert list(d["rank"]) == list(range(1, len(d) + 1)) and d["importance"].is_monotonic_decreasing
        assert set(d["polarity"]) <= {"negative", "positive"}
    rater = next(r for r in res["results"] if r["taxonomy"] == "rater")
    assert rater["shapley_exact"] and rater["drivers"][0]["shapley_pct_ci_low"] is not None
    by = run_drivers(demo_run, "ces", by="product_line", taxonomy="rater", n_boot=0, min_rows=40)
    assert {r["group"] for r in by["results"]} | {s["group"] for s in by["skipped"]} == {"外卖", "电商", "酒店"}
    with pytest.raises(InputError, match="segment 'region' is not in this run"):
        run_drivers(demo_run, by="region")
    with pytest.raises(InputError, match="taxonomy 'nope'"):
        run_drivers(demo_run, taxonomy="nope")
    with pytest.raises(InputError, match="no voc store"):
        run_drivers(demo_run / "missing")


def test_stored_driver_tables(demo_run):
    import duckdb

    con = duckdb.connect(str(demo_run / "voc.duckdb"), read_only=True)
    d = con.execute("SELECT * FROM drivers").df()
    t = con.execute("SELECT * FROM driver_themes").df()
    con.close()
    assert d["outcome"].iloc[0] == "nps" and {"nps", "csat", "rating"} <= set(d["outcome"])
    nps = d[d["outcome"] == "nps"]
    assert nps["shapley_pct_ci_low"].notna().any() and nps["impact_neutral"].notna().all()
    for (o, tax), g in t.groupby(["outcome", "taxonomy"]):
        assert g["importance"].sum() == pytest.approx(100, abs=1e-6), (o, tax)
        assert set(g["quadrant"]) <= {"fix first 优先改进", "keep up 继续保持", "low priority 次要",
                                      "possible overkill 过度投入"}


def test_cli_drivers(demo_run):
    runner = CliRunner()
    res = runner.invoke(app, ["drivers", str(demo_run), "--outcome", "nps", "--json", "--boot", "10"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)                      # exactly one JSON object on stdout
    assert obj["outcome"] == "nps" and len(obj["results"]) == 2
    first = obj["results"][0]["drivers"][0]
    assert {"importance", "odds_ratio", "or_ci_low", "impact_neutral", "impact_removed_ci_high"} <= set(first)
    res = runner.invoke(app, ["drivers", str(demo_run), "-t", "rater", "--top", "3", "--boot", "0",
                              "--method", "rw"])
    assert res.exit_code == 0 and "信赖度" in res.stdout + res.output and "relative_weights" in res.output
    assert "Δ neutral" in res.stdout and "--wide adds" in res.output  # CliRunner's 80 columns: compact
    res = runner.invoke(app, ["drivers", str(demo_run), "-t", "rater", "--top", "3", "--boot", "0", "--wide"])
    assert res.exit_code == 0 and "removed" in res.stdout and "reliability" in res.stdout
    res = runner.invoke(app, ["drivers", str(demo_run), "--outcome", "churn"])
    assert res.exit_code == 2 and "outcome column 'churn' is not in the data" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["drivers", str(demo_run / "nope")])
    assert res.exit_code == 2 and "no voc store" in res.output


def test_frequency_weights_equal_repeated_rows():
    import statsmodels.api as sm

    from voc.analyze.drivers import _ols
    from voc.analyze.importance import fit_logit

    rng = np.random.default_rng(11)
    Xu = (rng.random((40, 4)) < 0.4).astype(float)
    yu = np.round(rng.uniform(0, 10, 40))
    w = rng.integers(1, 6, 40)
    X, y = np.repeat(Xu, w, axis=0), np.repeat(yu, w)
    np.testing.assert_allclose(relative_weights(Xu, yu, w)[0], relative_weights(X, y)[0], atol=1e-12)
    np.testing.assert_allclose(shapley_r2(Xu, yu, w=w)["values"], shapley_r2(X, y)["values"], atol=1e-12)
    yb = (yu <= 6).astype(float)
    np.testing.assert_allclose(logistic_relative_weights(Xu, yb, w)[0],
                               logistic_relative_weights(X, np.repeat(yb, w))[0], atol=1e-7)
    a, b = fit_logit(Xu, yb, w=w), fit_logit(X, np.repeat(yb, w))
    np.testing.assert_allclose(a["params"], b["params"], atol=1e-8)
    np.testing.assert_allclose(a["ci_low"], b["ci_low"], atol=1e-8)
    # OLS with HC3 intervals from collapsed rows = statsmodels on the expanded rows.
    ref = sm.OLS(y, sm.add_constant(X)).fit(cov_type="HC3")
    got = _ols(Xu, yu, w.astype(float), 0.95)
    np.testing.assert_allclose(got["coef"], ref.params[1:], atol=1e-10)
    np.testing.assert_allclose(got["coef_ci_low"], np.asarray(ref.conf_int())[1:, 0], atol=1e-8)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 300), st.integers(1, 6), st.booleans(), st.integers(0, 10_000))
def test_unique_rows_matches_numpy(n, p, fractional, seed):
    from voc.analyze.drivers import _unique_rows

    rng = np.random.default_rng(seed)
    M = (rng.random((n, p)) < 0.4).astype(float)
    M[:, -1] = rng.integers(0, 11, n) + (rng.random(n).round(1) if fractional else 0)
    want_rows, want_counts = np.unique(M, axis=0, return_counts=True)
    rows, counts = _unique_rows(M)
    assert np.array_equal(rows, want_rows) and np.array_equal(counts, want_counts)


def test_weight_column_equals_the_expanded_rows():
    df, latent = _planted(600, 4)
    df["nps"] = np.clip(np.round(7.5 + 1.3 * latent), 0, 10)
    df.loc[df.index[:25], "nps"] = np.nan                       # missing outcomes are skipped either way
    cols = [*NAMES, "nps"]
    collapsed = df.groupby(cols, dropna=False).size().reset_index(name="weight")
    collapsed = pd.concat([collapsed, collapsed.head(3).assign(weight=0)], ignore_index=True)  # zero weights
    for outcome in ("nps", "promoter"):
        a = driver_analysis(df, outcome, NAMES, n_boot=25, seed=2)
        b = driver_analysis(collapsed, outcome, NAMES, n_boot=25, seed=2, weight="weight")
        pd.testing.assert_frame_equal(a.drivers, b.drivers, rtol=1e-9)
        pd.testing.assert_frame_equal(a.themes, b.themes, rtol=1e-9)
        assert a.info == b.info and b.info["n"] == 575
    with pytest.raises(InputError, match="whole, non-negative counts"):
        driver_analysis(collapsed.assign(weight=0.5), "nps", NAMES, weight="weight")
    with pytest.raises(InputError, match="weight column 'w' is not in the data"):
        driver_analysis(collapsed, "nps", NAMES, weight="w")


def test_driver_patterns_collapse_the_driver_frame(demo_run):
    import duckdb

    from voc.analyze.driverstore import load_driver_frame, load_driver_patterns

    con = duckdb.connect(str(demo_run / "voc.duckdb"), read_only=True)
    full, feats = load_driver_frame(con)
    pat, feats2 = load_driver_patterns(con)
    con.close()
    assert feats2 == feats and pat["weight"].sum() == len(full) and len(pat) < len(full)
    ind = [c for c in pat.columns if ":" in c]
    assert sorted(ind) == sorted(c for c in full.columns if ":" in c)
    keys = [c for c in pat.columns if c != "weight"]
    want = full[keys].fillna(-1).value_counts().sort_index()
    got = pat.fillna(-1).set_index(keys)["weight"].sort_index()
    assert got.to_dict() == want.to_dict()
    for tax, f in feats.items():
        a = driver_analysis(full, "nps", f, n_boot=10)
        b = driver_analysis(pat, "nps", f, n_boot=10, weight="weight")
        pd.testing.assert_frame_equal(a.drivers, b.drivers, rtol=1e-9)


def _synthetic_store(n: int, cats: list[str], seed: int = 0, memory: str = "64MB"):
    import duckdb

    rng = np.random.default_rng(seed)
    con = duckdb.connect(config={"memory_limit": memory})
    com = pd.DataFrame({"id": [f"c{i}" for i in range(n)], "quality": rng.choice(["ok", "ok", "ok", "empty"], n),
                        "nps": rng.integers(0, 11, n).astype(float),
                        "csat": np.where(rng.random(n) < 0.5, np.nan, rng.integers(1, 6, n))})
    k = 3 * n
    men = pd.DataFrame({"comment_id": [f"c{i}" for i in rng.integers(0, n, k)], "taxonomy": "t",
                        "category": rng.choice(cats, k), "polarity": rng.choice(["negative", "positive", "neutral"], k)})
    con.register("com", com)
    con.register("men", men)
    con.execute("CREATE TABLE comments AS SELECT * FROM com")
    con.execute("CREATE TABLE mentions AS SELECT * FROM men")
    return con


def _same_patterns(con):
    from voc.analyze.driverstore import load_driver_frame, load_driver_patterns

    full, feats = load_driver_frame(con)
    pat, feats2 = load_driver_patterns(con)
    assert feats2 == feats and int(pat["weight"].sum()) == len(full)
    keys = [c for c in pat.columns if c != "weight"]
    assert sorted(keys) == sorted(c for c in full.columns if c not in ("id", "date", "channel"))
    want = full[keys].fillna(-1).value_counts().sort_index()
    got = pat.fillna(-1).set_index(keys)["weight"].sort_index()
    assert got.to_dict() == want.to_dict()
    return full, pat


def test_driver_patterns_stay_within_a_small_duckdb_memory_cap():
    # 120 categories (360 indicator columns) under 32MB: the grouping key is narrow, so DuckDB can spill it
    con = _synthetic_store(20_000, [f"k{j}" for j in range(120)], memory="32MB")
    _, pat = _same_patterns(con)
    assert len(pat) > 1000


def test_driver_patterns_edge_cases():
    # categories differing only in case, a quote in a key, a duplicated comment id and a NULL category
    con = _synthetic_store(400, ["App", "app", "it's", 'say "hi"'], seed=3)
    con.execute("UPDATE comments SET id = 'c1' WHERE id = 'c2'")
    con.execute("INSERT INTO mentions VALUES ('c1', 't', NULL, 'negative'), ('c1', 't', 'App', 'negative')")
    full, pat = _same_patterns(con)
    both = full[full["id"] == "c1"]
    assert len(both) == 2 and (both["neg:t/App"] == 1).all()  # a mention marks every row of its id
    assert {"neg:t/App", "neg:t/app", "pos:t/it's", 'any:t/say "hi"'} <= set(pat.columns)


def test_outcome_without_values_names_the_ones_present(csv_utf8, tmp_path):
    from tests.conftest import pipeline_data
    from voc.config import PipelineConfig
    from voc.pipeline import run_pipeline

    run_pipeline(PipelineConfig.model_validate(pipeline_data(csv_utf8, tmp_path / "r")))
    with pytest.raises(InputError, match="this run has no csat values.*try --outcome nps"):
        run_drivers(tmp_path / "r", "csat")
    data = pipeline_data(csv_utf8, tmp_path / "r2")
    del data["input"]["columns"]["nps"]
    run_pipeline(PipelineConfig.model_validate(data))
    with pytest.raises(InputError, match="no nps values.*no scores at all"):
        run_drivers(tmp_path / "r2", "promoter")


def test_quadrant_performance_splits_at_zero_net_sentiment():
    """A bad theme among bad themes is 'fix first', not 'keep up' (the split is not the themes' mean)."""
    from voc.analyze.drivers import QUADRANTS

    rng = np.random.default_rng(0)
    n = 400
    a, b = rng.random(n) < 0.3, rng.random(n) < 0.3
    df = pd.DataFrame({"nps": np.clip(9 - 5 * a - 2 * b + rng.integers(-1, 2, n), 0, 10),
                       "neg:t/a": a.astype(int), "neg:t/b": b.astype(int),
                       "pos:t/a": ((rng.random(n) < 0.05) & ~a).astype(int)})
    feats = ["neg:t/a", "pos:t/a", "neg:t/b"]
    res = driver_analysis(df, "nps", feats, n_boot=0)
    t = res.themes.set_index("category")
    assert (t["net_sentiment"] < 0).all()
    assert t.loc["a", "quadrant"] == QUADRANTS[(True, False)]  # important and below zero: fix first


def _driver_result(kind="nps"):
    d = {"taxonomy": "touchpoint", "category": "ordering_payment", "polarity": "negative", "n_mentions": 1470,
         "rank": 10, "importance": 19.6, "shapley_pct_ci_low": 16.4, "shapley_pct_ci_high": 36.2,
         "odds_ratio": 12.93, "or_ci_low": 11.82, "or_ci_high": 14.69, "impact_neutral": -13.1,
         "impact_neutral_ci_low": -17.1, "impact_neutral_ci_high": -12.0, "impact_removed": -14.8,
         "impact_removed_ci_low": -18.9, "impact_removed_ci_high": -11.7}
    return {"kind": kind, "taxonomy": "touchpoint", "grouping": "all", "group": "all", "n": 723, "metric": "NPS",
            "metric_value": 1.52, "shapley_r2": 0.41, "ranked_by": "shapley", "drivers": [d, {**d, "rank": 11}]}


@pytest.mark.parametrize("kind", ["nps", "csat"])
def test_compact_drivers_table_fits_80_columns(kind):
    from rich.cells import cell_len
    from rich.console import Console

    from voc.cli.analysis import drivers_table

    labels = {("touchpoint", "ordering_payment"): "下单/支付/平台"}
    con = Console(width=80, record=True)
    con.print(drivers_table(_driver_result(kind), labels, wide=False))
    lines = con.export_text().splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    rows = [line for line in lines if "下单/支付/平台 −" in line]
    assert len(rows) == 2 and "(16.4…36.2)" in rows[0]   # one line per driver, intervals unbroken
    assert ("(-17.1…-12.0)" if kind == "nps" else "(-18.9…-11.7)") in rows[0]
    con = Console(width=200, record=True)
    con.print(drivers_table(_driver_result(kind), labels, wide=True))
    text = con.export_text()
    assert "ordering_payment" in text and "(11.82…14.69)" in text and "Δ if removed" in text
