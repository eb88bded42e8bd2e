"""Per-theme trends and alerts: a synthetic store with planted emerging issues, the demo run, the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from voc.analyze.trends import _poisson_upper, alerts, method_text, new_phrases, run_trends, theme_trends, trend_alerts
from voc.cli.main import app
from voc.errors import InputError
from tests.demo_run import shared_demo_run

MONTHS = 8


def _store(path, volatile: bool = False):
    """100 comments a month for 8 months. Planted: 'delivery' jumps from 10 to 30 mentions in the last month;
    'refund' negative share goes from 20% to 80% in month 7 (10 mentions a month); 'app' is steady at 10;
    the phrase 支付-失败 appears only in the last month, in 5 comments. ``volatile``: 'noisy' alternates
    2/18 mentions and jumps to 30 as well."""
    comments, mentions = [], []
    for m in range(MONTHS):
        start = datetime(2026, 1 + m, 1)
        for i in range(100):
            cid = f"c{m}-{i}"
            comments.append({"id": cid, "date": start + timedelta(days=i % 28, hours=i % 7), "quality": "ok",
                             "nps": float((i * 7 + m) % 11), "keywords": ["味道"] if i % 9 == 0 else []})
            def add(cat, pol, phrase=""):
                mentions.append({"comment_id": cid, "taxonomy": "tp", "category": cat, "stage": None,
                                 "polarity": pol, "evidence": "", "phrase": phrase, "clause": ""})
            if i < (30 if m == MONTHS - 1 else 10):
                add("delivery", "negative" if i % 2 else "positive")
            if 10 <= i < 20:
                neg = (i - 10) < (8 if m == 6 else 2)
                add("refund", "negative" if neg else "positive")
            if 20 <= i < 30:
                add("app", "negative" if i % 2 else "positive")
            if m == MONTHS - 1 and 40 <= i < 45:
                add("app", "negative", "支付-失败")
            if volatile:
                n_noisy = 30 if m == MONTHS - 1 else (2 if m % 2 else 18)
                if 50 <= i < 50 + n_noisy:
                    add("noisy", "negative")
    con = duckdb.connect(str(path))
    c, mm = pd.DataFrame(comments), pd.DataFrame(mentions)  # noqa: F841 (read by DuckDB)
    con.execute("CREATE TABLE comments AS SELECT * FROM c")
    con.execute("CREATE TABLE mentions AS SELECT * FROM mm")
    return con


@pytest.fixture()
def store(tmp_path):
    con = _store(tmp_path / "s.duckdb")
    yield con
    con.close()


def test_trends_are_complete_and_match_counts(store):
    tr = theme_trends(store, "month")
    assert len(tr) == 3 * MONTHS and set(tr["period"]) == {f"2026-{m:02d}" for m in range(1, MONTHS + 1)}
    last = tr[(tr["category"] == "delivery") & (tr["period"] == "2026-08")].iloc[0]
    assert last["volume"] == 30 and last["comments"] == 100 and last["share"] == pytest.approx(0.30)
    assert last["negative"] + last["positive"] == 30 and last["net_sentiment"] == pytest.approx(0.0)
    refund7 = tr[(tr["category"] == "refund") & (tr["period"] == "2026-07")].iloc[0]
    assert refund7["negative_share"] == pytest.approx(80.0)
    # The mentioners' NPS is the NPS of those comments.
    con_nps = store.execute("""SELECT nps FROM comments c JOIN (SELECT DISTINCT comment_id FROM mentions
        WHERE category = 'refund') m ON m.comment_id = c.id WHERE strftime(date, '%Y-%m') = '2026-07'""").df()
    from voc.analyze.metrics import nps

    assert refund7["nps"] == pytest.approx(nps(con_nps["nps"])["nps"], abs=0.01)
    # A theme with no mention in a period keeps a zero row.
    wk = theme_trends(store, "week")
    assert (wk.groupby(["taxonomy", "category"]).size() == wk["period"].nunique()).all()
    assert (wk["volume"] == 0).any()
    assert all(pd.Timestamp(p).day_of_week == 0 for p in wk["period"])  # weeks are labelled by their Monday


def test_planted_alerts_are_found_and_steady_themes_are_quiet(store):
    al = alerts(store, period="month")
    vol = al[al["kind"] == "volume"]
    assert list(zip(vol["category"], vol["period"])) == [("delivery", "2026-08")]
    row = vol.iloc[0]
    assert row["expected"] == pytest.approx(10.0) and row["lift"] == pytest.approx(3.0) and row["p_value"] < 1e-6
    assert row["latest"] and row["q_value"] >= row["p_value"]
    neg = al[al["kind"] == "negative_share"]
    assert list(zip(neg["category"], neg["period"])) == [("refund", "2026-07")]
    assert not neg.iloc[0]["latest"]
    new = al[al["kind"] == "new_phrase"]
    assert list(new["phrase"]) == ["支付-失败"] and new.iloc[0]["observed"] == 5 and new.iloc[0]["category"] == "app"
    assert "app" not in set(al.loc[al["kind"].isin(["volume", "negative_share"]), "category"])
    assert al["kind"].ne("new_keyword").all()  # 味道 is seen every month


def test_a_volatile_history_raises_the_bar(tmp_path):
    con = _store(tmp_path / "v.duckdb", volatile=True)
    tr = theme_trends(con, "month")
    con.close()
    al = trend_alerts(tr)
    vol = al[al["kind"] == "volume"].set_index("category")
    # delivery (steady history) alerts; noisy jumps to the same 30 from a mean of 10 but its own
    # history (2/18 alternating) is overdispersed, so the quasi-Poisson test does not call it.
    assert "delivery" in vol.index and "noisy" not in vol.index
    # Without the dispersion the same jump would be called: P(Poisson(10) >= 30) is tiny.
    hist = tr[(tr["category"] == "noisy") & (tr["period"] < "2026-08")]["volume"].to_numpy(float)
    phi = ((hist - hist.mean()) ** 2 / hist.mean()).sum() / (len(hist) - 1)
    assert _poisson_upper(30, 10, 1.0) < 1e-6 and phi > 5 and _poisson_upper(30, 10, phi) > 0.01


def test_thresholds_and_history(store):
    tr = theme_trends(store, "month")
    assert trend_alerts(tr, min_history=MONTHS).empty            # nothing has enough history
    assert trend_alerts(tr, min_count=31)["kind"].ne("volume").all()
    assert new_phrases(store, "month", min_phrase_count=6).empty
    from scipy.stats import poisson

    for k, lam in ((1, 0.5), (7, 3.2), (25, 14.4)):  # the quasi-Poisson tail is the Poisson tail when phi = 1
        assert _poisson_upper(k, lam, 1.0) == pytest.approx(poisson.sf(k - 1, lam), rel=1e-9)
    text = method_text(alpha=0.05)
    assert "p < 0.05" in text["volume"] and "quasi-Poisson" in text["volume"] and "binomial" in text["negative_share"]


def test_errors(store, tmp_path):
    with pytest.raises(InputError, match="unknown trend period 'day'"):
        theme_trends(store, "day")
    with pytest.raises(InputError, match="no voc store"):
        run_trends(tmp_path / "missing")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    return shared_demo_run(tmp_path_factory)


def test_demo_trends_match_sound_and_flag_the_september_issue(demo_run):
    con = duckdb.connect(str(demo_run / "voc.duckdb"), read_only=True)
    tr = con.execute("SELECT * FROM theme_trends").df()
    sound = con.execute("SELECT * FROM sound WHERE grouping = 'month'").df()
    al = con.execute("SELECT * FROM alerts").df()
    con.close()
    assert set(tr["period"]) == {f"2026-{m:02d}" for m in range(5, 11)}  # the sample covers May-Oct 2026
    m = tr.merge(sound, left_on=["taxonomy", "category", "period"], right_on=["taxonomy", "category", "group"],
                 suffixes=("", "_s"))
    assert len(m) == (tr["volume"] > 0).sum()
    assert (m["volume"] == m["volume_s"]).all() and np.allclose(m["net_sentiment"], m["net_sentiment_s"])
    # The sample has an app crash / payment failure wave in September 2026.
    sep = al[al["period"] == "2026-09"]
    assert len(sep) and (sep["phrase"].fillna("").str.contains("闪退|支付失败").any()
                         or (sep["category"] == "ordering_payment").any())
    assert set(al["kind"]) <= {"volume", "negative_share", "new_phrase", "new_keyword"}


def test_cli_trends(demo_run):
    runner = CliRunner()
    res = runner.invoke(app, ["trends", str(demo_run), "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["period"] == "month" and obj["periods"] == 6 and "quasi-Poisson" in obj["method"]["volume"]
    assert len(obj["trends"]) == obj["periods"] * obj["themes"]
    res = runner.invoke(app, ["trends", str(demo_run), "--period", "week"])
    assert res.exit_code == 0 and "alert(s) over" in res.output
    res = runner.invoke(app, ["trends", str(demo_run), "--period", "day"])
    assert res.exit_code == 2 and "unknown trend period" in res.output


def _province_store(path):
    """Five provinces, 50 comments each a month for 8 months, 10 'install' mentions each (20% negative). In
    the last month 8 of 河南's 10 are negative: 32% overall (no alert there), 80% in 河南."""
    comments, mentions = [], []
    provinces = ["河南", "四川", "湖北", "山东", "广东"]
    for m in range(MONTHS):
        for p, prov in enumerate(provinces):
            for i in range(50):
                cid = f"c{m}-{p}-{i}"
                comments.append({"id": cid, "date": datetime(2026, 1 + m, 1 + i % 28), "quality": "ok",
                                 "nps": float(i % 11), "keywords": [], "seg_province": prov})
                if i < 10:
                    neg = i < (8 if (prov == "河南" and m == MONTHS - 1) else 2)
                    mentions.append({"comment_id": cid, "taxonomy": "tp", "category": "install", "stage": None,
                                     "polarity": "negative" if neg else "positive", "evidence": "", "phrase": "",
                                     "clause": ""})
    con = duckdb.connect(str(path))
    c, mm = pd.DataFrame(comments), pd.DataFrame(mentions)  # noqa: F841 (read by DuckDB)
    con.execute("CREATE TABLE comments AS SELECT * FROM c")
    con.execute("CREATE TABLE mentions AS SELECT * FROM mm")
    con.close()
    return path


def test_trends_by_segment_find_a_provincial_problem(tmp_path):
    path = _province_store(tmp_path / "voc.duckdb")
    overall = run_trends(path)
    assert not [a for a in overall["alerts"] if a["kind"] == "negative_share"]
    res = run_trends(path, by="province")
    neg = [a for a in res["alerts"] if a["kind"] == "negative_share"]
    assert [(a["segment"], a["segment_value"], a["period"], a["category"]) for a in neg] == [
        ("province", "河南", "2026-08", "install")]
    assert res["by"] == "province" and len(res["trends"]) == 5 * MONTHS
    henan = [t for t in res["trends"] if t["segment_value"] == "河南" and t["period"] == "2026-08"]
    assert henan[0]["volume"] == 10 and henan[0]["negative"] == 8 and henan[0]["comments"] == 50
    assert run_trends(path, by="seg_province")["alerts"] == res["alerts"]
    with pytest.raises(InputError, match="segment 'city' is not in this run; its segments are: province"):
        run_trends(path, by="city")


def test_cli_trends_by_segment(tmp_path):
    path = _province_store(tmp_path / "voc.duckdb")
    runner = CliRunner()
    res = runner.invoke(app, ["trends", str(tmp_path), "--by", "province"])
    assert res.exit_code == 0, res.output
    assert "河南" in res.stdout and "negative_share" in res.stdout and "each value of province" in res.output
    res = runner.invoke(app, ["trends", str(tmp_path), "--by", "province", "--json"])
    assert json.loads(res.stdout)["alerts"][0]["segment_value"] == "河南"
    res = runner.invoke(app, ["trends", str(tmp_path), "--by", "city"])
    assert res.exit_code == 2 and "segment 'city' is not in this run" in res.output and "Traceback" not in res.output
