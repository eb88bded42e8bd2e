"""Sound indicators, experience metrics and the HTML report."""

from __future__ import annotations

import numpy as np
import json
import re

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voc.analyze.build import overview
from voc.analyze.metrics import mean_ci, nps
from voc.config import load_config
from voc.pipeline import run_pipeline
from voc.report.html import SECTIONS
from tests.conftest import pipeline_data
from tests.demo_run import shared_demo_run


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    return shared_demo_run(tmp_path_factory)


def test_nps_and_ci():
    r = nps([10, 9, 8, 7, 6, 0, None, "x", 11])
    assert r["n"] == 6 and r["promoters"] == 2 and r["detractors"] == 2 and r["nps"] == 0.0
    assert r["ci_low"] < 0 < r["ci_high"]
    big = nps([10] * 600 + [0] * 200 + [8] * 200)
    assert big["nps"] == 40.0 and 40 - 6 < big["ci_low"] < 40 < big["ci_high"] < 40 + 6
    assert nps([])["nps"] is None
    m = mean_ci([4, 5, 3, 4])
    assert m["mean"] == 4.0 and m["ci_low"] < 4 < m["ci_high"]


def test_sound_matches_a_hand_computation(demo_run):
    con = duckdb.connect(str(demo_run / "voc.duckdb"), read_only=True)
    c = con.execute("SELECT id, nps, quality, seg_city FROM comments").df()
    m = con.execute("SELECT DISTINCT comment_id, taxonomy, category, polarity FROM mentions").df()
    sound = con.execute("SELECT * FROM sound").df()
    con.close()
    ok = c[c.quality == "ok"]
    row = sound[(sound.grouping == "all") & (sound.category == "delivery")].iloc[0]
    mm = m[(m.category == "delivery") & m.comment_id.isin(ok.id)]
    assert row.volume == mm.comment_id.nunique() and row.comments == len(ok)
    assert row.share == pytest.approx(len(mm) / len(ok))
    net = 100 * ((mm.polarity == "positive").sum() - (mm.polarity == "negative").sum()) / len(mm)
    assert row.net_sentiment == pytest.approx(net, abs=0.01)
    ment = ok[ok.id.isin(mm.comment_id)]
    others = ok[~ok.id.isin(mm.comment_id)]
    assert row.nps == pytest.approx(nps(ment.nps)["nps"], abs=0.01)
    assert row.nps_others == pytest.approx(nps(others.nps)["nps"], abs=0.01)
    # Per segment and per month rows exist and add up to the overall volume.
    city = sound[(sound.grouping == "seg_city") & (sound.category == "delivery")]
    assert city.volume.sum() == row.volume
    assert set(sound.grouping) >= {"all", "month", "seg_city", "seg_product_line"}


def test_phrases_keywords_verbatims(demo_run):
    con = duckdb.connect(str(demo_run / "voc.duckdb"), read_only=True)
    ph = con.execute("SELECT * FROM phrases").df()
    vb = con.execute("SELECT * FROM verbatims").df()
    kw = con.execute("SELECT * FROM category_keywords").df()
    con.close()
    assert len(ph) and len(vb) and len(kw)
    assert set(vb.polarity) <= {"positive", "negative"}
    assert vb.groupby(["taxonomy", "category", "polarity"]).size().max() <= 3
    assert ph[ph.phrase.str.contains("-")].shape[0] > 0  # aspect-opinion pairs such as 房间-干净


def test_report_is_self_contained_and_complete(demo_run):
    html = (demo_run / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    for sid in SECTIONS:
        assert f'id="{sid}"' in html, sid
    # plotly.js is inlined; outside that bundle (whose code merely contains URL strings) nothing refers to
    # any URL at all: no src/href, no CSS import, no link.
    head, bundle_and_rest = html.split('<script type="text/javascript" id="plotly-js">', 1)
    bundle, rest = bundle_and_rest.split("</script>", 1)
    assert len(bundle) > 1_000_000 and "Plotly" in bundle
    outside = head + rest
    assert not re.search(r"https?://|src\s*=|href\s*=\s*\"(?!#)|@import|url\(", outside)
    assert "Plotly.newPlot" in rest
    for zh in ("客户心声报告", "信赖度", "专业度", "有形度", "同理度", "反应度", "物流配送", "交付"):
        assert zh in html, zh


def test_fixture_run_without_dates_or_nps(tmp_path, csv_utf8):
    data = pipeline_data(csv_utf8, tmp_path / "r")
    data["input"]["columns"] = {"text": "内容"}
    data["output"]["report"] = True
    res = run_pipeline(load_config(data=data))
    assert res.balanced and (tmp_path / "r" / "report.html").is_file()


def test_report_period_spanning_years_shows_both_years(tmp_path, csv_utf8):
    from voc.report.html import render_report

    res = run_pipeline(load_config(data=pipeline_data(csv_utf8, tmp_path / "r")))
    html = render_report(res.out_dir)
    assert "05-03 → 09-10" in html  # one year: month and day, the year below
    con = duckdb.connect(str(tmp_path / "r" / "voc.duckdb"))
    con.execute("UPDATE comments SET date = TIMESTAMP '2025-12-01' WHERE id = 'A1'")
    con.close()
    assert "2025-12-01 → 2026-09-10" in render_report(res.out_dir)


def test_segment_scores_match_a_hand_computation(demo_run):
    con = duckdb.connect(str(demo_run / "voc.duckdb"), read_only=True)
    c = con.execute("SELECT * FROM comments").df()  # every comment: a 默认好评 row's NPS counts too
    s = con.execute("SELECT * FROM segment_scores").df()
    ov = overview(con)
    con.close()
    assert (c["quality"] != "ok").any()
    city = c["seg_city"].dropna().iloc[0]
    sub = c[c["seg_city"] == city]
    got = s[(s.grouping == "seg_city") & (s.group == city)].set_index("metric")
    want = nps(sub["nps"])
    assert got.loc["nps", "estimate"] == want["nps"] and got.loc["nps", "n"] == want["n"]
    assert (got.loc["nps", "ci_low"], got.loc["nps", "ci_high"]) == (want["ci_low"], want["ci_high"])
    ces = mean_ci(sub["ces"])
    assert got.loc["ces", "estimate"] == ces["mean"] and got.loc["ces", "ci_low"] == pytest.approx(ces["ci_low"])
    csat = sub["csat"].dropna()
    assert got.loc["csat_top", "estimate"] == pytest.approx(100 * (csat >= 4).mean(), abs=0.01)
    assert got.loc["csat_top", "ci_low"] < got.loc["csat_top", "estimate"] < got.loc["csat_top", "ci_high"]
    assert set(s.grouping) == {"all", "channel", "seg_city", "seg_product_line"}
    overall = s[s.grouping == "all"].set_index("metric")
    assert overall.loc["nps", "n"] == c["nps"].notna().sum()
    # the report's overview and its segment table give one NPS
    assert overall.loc["nps", "estimate"] == ov["nps"]["nps"] and overall.loc["nps", "n"] == ov["nps"]["n"]


def test_proportion_and_top_box():
    from voc.analyze.metrics import proportion_ci, top_box

    r = proportion_ci(0, 20)
    assert r["pct"] == 0 and r["ci_low"] == 0 and 0 < r["ci_high"] < 20  # Wilson: a real upper bound at 0
    assert top_box([1, 2, 3, 4, 5, 7, None], (1, 5))["n"] == 5          # out-of-scale 7 is not counted
    assert top_box([5, 6, 7, 4, 1], (1, 7))["pct"] == 60.0                # CES 5-7 of 1-7 is "easy"


def test_report_has_the_analyst_sections(demo_run):
    html = (demo_run / "report.html").read_text(encoding="utf-8")
    for sid in ("scores", "drivers", "trends", "alerts"):
        assert f'id="{sid}"' in html, sid
    for text in ("分群得分", "重要性-表现矩阵", "ΔNPS if neutral", "CES 费力度", "省力率 % easy", "⚠ 预警 alert",
                 "quasi-Poisson", "log-F(1,1)"):
        # chart titles sit in plotly's JSON, \u-escaped unless orjson is installed
        assert text in html or json.dumps(text)[1:-1] in html, text
    con = duckdb.connect(str(demo_run / "voc.duckdb"), read_only=True)
    n_alerts = con.execute("SELECT count(*) FROM alerts").fetchone()[0]
    con.close()
    data = __import__("json").loads(re.search(r'id="voc-data">(.*?)</script>', html, re.S).group(1))
    assert len(data["alerts"]) == n_alerts > 0


def test_matrix_flags_themes_alerted_in_the_latest_period(demo_run, tmp_path):
    """A theme's whole-period quadrant ('keep up') must not hide an alert in the latest period."""
    import shutil

    from voc.report.common import short
    from voc.report.html import render_report
    from voc.taxonomy.model import load_taxonomy

    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    label = "⚠ " + short(load_taxonomy("rater"), "reliability")
    before = render_report(run)
    assert label not in before and json.dumps(label)[1:-1] not in before
    con = duckdb.connect(str(run / "voc.duckdb"))
    con.execute("UPDATE alerts SET latest = true WHERE kind = 'volume' AND category = 'reliability'")
    con.close()
    html = render_report(run)
    assert label in html or json.dumps(label)[1:-1] in html


def test_report_of_a_store_without_the_new_tables(demo_run, tmp_path):
    import shutil

    from voc.report.html import render_report

    run = tmp_path / "old"
    shutil.copytree(demo_run, run)
    con = duckdb.connect(str(run / "voc.duckdb"))
    for t in ("drivers", "driver_themes", "theme_trends", "alerts", "segment_scores"):
        con.execute(f"DROP TABLE {t}")
    con.close()
    html = render_report(run)
    assert html.count("were not computed for this run") == 3 and 'id="drivers"' in html


def test_run_without_ces_skips_it(tmp_path, csv_utf8):
    data = pipeline_data(csv_utf8, tmp_path / "r")
    data["output"]["report"] = True
    res = run_pipeline(load_config(data=data))
    assert res.balanced
    con = duckdb.connect(str(tmp_path / "r" / "voc.duckdb"), read_only=True)
    s = con.execute("SELECT * FROM segment_scores").df()
    d = con.execute("SELECT count(*) FROM drivers").fetchone()[0]
    con.close()
    assert set(s.metric) == {"nps"} and d == 0  # no CES column; too few answers for drivers
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "CES 费力度" not in html and "answers a driver analysis needs" in html


def test_store_connections_are_memory_capped_and_tolerate_an_open_connection(tmp_path, monkeypatch):
    import duckdb

    from voc.store.store import connect

    path = tmp_path / "s.duckdb"
    monkeypatch.setenv("VOC_DUCKDB_MEMORY", "100MB")
    con = connect(path)
    limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit.replace(" ", "").upper() in {"100.0MB", "95.3MIB", "100MB"}, limit
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con.close()
    plain = duckdb.connect(str(path))  # e.g. a notebook's own connection, with default settings
    try:
        again = connect(path)  # the same file with other settings: falls back to the open instance's
        assert again.execute("SELECT x FROM t").fetchone()[0] == 1
        again.close()
    finally:
        plain.close()


def test_capped_connection_retries_out_of_memory_queries():
    import duckdb

    from voc.store.store import MEMORY_RETRIES, CappedConnection

    class Fake:
        def __init__(self, failures):
            self.failures, self.log = failures, []

        def execute(self, sql, *args):
            self.log.append(sql)
            if sql.startswith("SELECT") and self.failures > 0:
                self.failures -= 1
                raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")
            return sql

        def close(self):
            return "closed"

    fake = Fake(3)
    con = CappedConnection(fake, 256)
    assert con.execute("SELECT 1") == "SELECT 1" and con.cap_mb == 1024
    assert fake.log == ["SELECT 1", "SET threads=1", "SELECT 1", "SET memory_limit='512MB'", "SELECT 1",
                        "SET memory_limit='1024MB'", "SELECT 1"]
    assert con.close() == "closed"  # everything else is the wrapped connection's
    with pytest.raises(duckdb.OutOfMemoryException):
        CappedConnection(Fake(MEMORY_RETRIES + 2), 64).execute("SELECT 2")


@given(st.floats(0.05, 5000, allow_nan=False), st.sampled_from(["", "MB", "mb", "GB", "MiB", "GiB", "KB"]),
       st.sampled_from(["", " "]))
@settings(max_examples=80, deadline=None)
def test_memory_cap_parses_sizes(value, unit, space):
    import os

    from voc.store.store import _UNIT, memory_cap_mb

    text = f"{value:g}{space}{unit}"
    old = os.environ.get("VOC_DUCKDB_MEMORY")
    os.environ["VOC_DUCKDB_MEMORY"] = text
    try:
        want = max(16, int(float(f"{value:g}") * _UNIT[(unit or "MB").upper()] / 1e6))
        assert memory_cap_mb() == want
    finally:
        if old is None:
            os.environ.pop("VOC_DUCKDB_MEMORY")
        else:
            os.environ["VOC_DUCKDB_MEMORY"] = old


def test_memory_cap_rejects_a_non_size(monkeypatch):
    from voc.errors import ConfigError
    from voc.store.store import memory_cap_mb

    monkeypatch.setenv("VOC_DUCKDB_MEMORY", "lots")
    with pytest.raises(ConfigError, match="VOC_DUCKDB_MEMORY='lots' is not a size"):
        memory_cap_mb()


@given(st.lists(st.tuples(st.sampled_from([None, 0, 3, 6, 7, 8, 9, 10, 12]), st.sampled_from([None, 1, 2, 4, 5]),
                          st.sampled_from(["北京", "上海"]), st.integers(1, 4)), min_size=1, max_size=30))
@settings(max_examples=60, deadline=None)
def test_weighted_scores_equal_the_expanded_rows(rows):
    from voc.analyze.metrics import segment_scores

    collapsed = pd.DataFrame(rows, columns=["nps", "csat", "seg_city", "weight"]).astype(
        {"nps": float, "csat": float})
    expanded = collapsed.loc[collapsed.index.repeat(collapsed["weight"])].drop(columns="weight")
    a = segment_scores(expanded.reset_index(drop=True), ["seg_city"])
    b = segment_scores(collapsed, ["seg_city"], weight="weight")
    pd.testing.assert_frame_equal(a, b, rtol=1e-9)


def test_overview_counts_and_leaves_the_connection_usable(demo_run):
    from voc.analyze.build import overview

    con = duckdb.connect(str(demo_run / "voc.duckdb"), read_only=True)
    try:
        ov = overview(con)
        c = con.sql("SELECT quality, sentiment, nps FROM comments").df()  # no unfinished result left behind
    finally:
        con.close()
    assert ov["comments"] == len(c) and ov["usable"] == int((c["quality"] == "ok").sum())
    assert ov["quality"] == {k: int(v) for k, v in c["quality"].value_counts().items()}
    with_text = c[c["quality"] != "empty"]  # a score without text has no sentiment but counts in the NPS
    assert (c["quality"] == "empty").any()
    assert ov["sentiment"] == {k: int(v) for k, v in with_text["sentiment"].value_counts().items()}
    assert ov["nps"]["n"] == int(c["nps"].between(0, 10).sum())


def test_or_direction_flag():
    from voc.report.analyst import _or_disagrees

    assert _or_disagrees(12.9, 1.5, 112.9, -7.9)       # praise 'raises' detractor odds, yet helps NPS raw
    assert _or_disagrees(0.3, 0.1, 0.8, 5.0)
    assert not _or_disagrees(3.0, 1.5, 6.0, 4.0)       # both say the driver hurts
    assert not _or_disagrees(3.0, 0.8, 6.0, -4.0)      # interval includes 1: no claim
    assert not _or_disagrees(float("nan"), 1.5, 6.0, -4.0)


def test_or_flag_for_every_higher_is_better_score():
    import pandas as pd

    from voc.report.analyst import _driver_rows

    row = {"rank": 1, "category": "packaging", "polarity": "positive", "importance": 10.0,
           "shapley_pct_ci_low": None, "shapley_pct_ci_high": None, "odds_ratio": 12.9, "or_ci_low": 1.5,
           "or_ci_high": 112.9, "impact_neutral": None, "impact_neutral_ci_low": None,
           "impact_neutral_ci_high": None, "impact_removed": -7.9, "impact_removed_ci_low": None,
           "impact_removed_ci_high": None}
    for kind, flagged in (("nps", True), ("csat", True), ("ces", True), ("detractor", False)):
        d = _driver_rows(pd.DataFrame([{**row, "kind": kind}]), None)
        assert d["or"].iloc[0].endswith("†") == flagged, kind


def test_report_has_a_section_for_a_taxonomy_of_ones_own(tmp_path, csv_utf8):
    from tests.conftest import write_taxonomy
    from voc.report.html import render_report

    tax = write_taxonomy(tmp_path, """
        name: shop
        title: 门店体验
        stages:
          - {key: visit, name: 到店}
          - {key: after, name: 售后}
        categories:
          - {key: food, name: 出品, stage: visit, keywords: [味道, 汤]}
          - {key: service, name: 客服, stage: after, keywords: [客服]}
        """, "shop.yaml")
    data = pipeline_data(csv_utf8, tmp_path / "r")
    data["taxonomies"] = [{"name": "rater"}, {"name": "shop", "path": tax}]
    run_pipeline(load_config(data=data))
    html = render_report(tmp_path / "r")
    assert 'id="tax-shop"' in html and "门店体验 shop · 按阶段 by stage" in html and "到店 visit" in html
    assert 'href="#tax-shop"' in html
    touch = html[html.index('id="touchpoint"'):html.index('id="tax-shop"')]
    assert "does not use this taxonomy" in touch


def test_query_category_shared_by_two_taxonomies(tmp_path, csv_utf8):
    from tests.conftest import write_taxonomy
    from voc.errors import InputError
    from voc.store.query import CommentQuery, query_comments

    tax = write_taxonomy(tmp_path, """
        name: mine
        categories:
          - {key: delivery, name: 配送, keywords: [送得, 送餐]}
        """, "mine.yaml")
    data = pipeline_data(csv_utf8, tmp_path / "r")
    data["taxonomies"] = [{"name": "touchpoint", "mapper": "rules"}, {"name": "mine", "path": tax}]
    run_pipeline(load_config(data=data))
    with pytest.raises(InputError, match="mine/delivery or touchpoint/delivery"):
        query_comments(tmp_path / "r", CommentQuery(category="delivery"))
    assert "A1" in query_comments(tmp_path / "r", CommentQuery(category="mine/delivery"))["id"].tolist()
    with pytest.raises(InputError, match="taxonomy 'nosuch' is not in this run"):
        query_comments(tmp_path / "r", CommentQuery(category="nosuch/delivery"))


def test_sound_means_for_runs_with_stars_only(tmp_path, csv_utf8):
    """A dump with star ratings and no NPS gets the mentioners' mean rating in the Sound table and report."""
    import duckdb

    from voc.report.html import render_report

    data = pipeline_data(csv_utf8, tmp_path / "r")
    cols = data["input"]["columns"]
    cols["rating"] = cols.pop("nps")
    data["input"]["rating_scale"] = [0, 10]
    run_pipeline(load_config(data=data))
    con = duckdb.connect(str(tmp_path / "r" / "voc.duckdb"), read_only=True)
    s = con.execute("SELECT * FROM sound WHERE grouping = 'all'").df()
    c = con.execute("SELECT id, rating FROM comments WHERE quality = 'ok'").df()
    m = con.execute("SELECT DISTINCT comment_id FROM mentions WHERE taxonomy = 'touchpoint' AND category = 'delivery'"
                    ).df()
    con.close()
    row = s[(s.taxonomy == "touchpoint") & (s.category == "delivery")].iloc[0]
    inside = c[c.id.isin(m.comment_id)]["rating"].dropna()
    outside = c[~c.id.isin(m.comment_id)]["rating"].dropna()
    assert row["rating_n"] == len(inside) and row["rating_mean"] == pytest.approx(inside.mean(), abs=1e-3)
    assert row["rating_others"] == pytest.approx(outside.mean(), abs=1e-3) and row["nps_n"] == 0
    html = render_report(tmp_path / "r")
    assert "提及者 星级 rating" in html and "提及者NPS" not in html


def test_sound_others_mean_when_no_mentioner_gave_a_score():
    import duckdb

    from voc.analyze.sound import sound_table

    con = duckdb.connect()
    con.execute("CREATE TABLE comments (id VARCHAR, nps DOUBLE, rating DOUBLE, quality VARCHAR, date DATE)")
    con.execute("INSERT INTO comments VALUES ('a', NULL, NULL, 'ok', '2026-01-01'), ('b', NULL, NULL, 'ok', "
                "'2026-01-01'), ('c', NULL, 5, 'ok', '2026-01-01'), ('d', NULL, 3, 'ok', '2026-01-01'), "
                "('e', NULL, 1, 'ok', '2026-01-01')")
    con.execute("CREATE TABLE mentions (comment_id VARCHAR, taxonomy VARCHAR, category VARCHAR, stage VARCHAR, "
                "polarity VARCHAR)")
    con.execute("INSERT INTO mentions VALUES ('a', 't', 'crash', NULL, 'negative'), ('b', 't', 'crash', NULL, "
                "'negative'), ('c', 't', 'price', NULL, 'positive'), ('a', 't', 'price', NULL, 'positive')")
    t = sound_table(con).set_index("category")
    assert t.loc["crash", "rating_n"] == 0 and t.loc["crash", "rating_others"] == 3.0  # mean of 5, 3, 1
    assert t.loc["price", "rating_mean"] == 5.0 and t.loc["price", "rating_others"] == 2.0


def test_f1_intervals_cover_the_estimate_and_narrow_with_more_documents():
    from voc.analyze.metrics import f1_intervals

    rng = np.random.default_rng(1)
    for n in (60, 2000):
        g = rng.random((n, 3)) < 0.3
        p = np.where(rng.random((n, 3)) < 0.8, g, ~g)  # 80% of cells right
        tp, fp, fn = g & p, p & ~g, g & ~p
        micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())
        ci = f1_intervals(tp, fp, fn)
        assert ci["micro_f1"][0] <= micro <= ci["micro_f1"][1] and ci["macro_f1"][0] <= ci["macro_f1"][1]
        width = ci["micro_f1"][1] - ci["micro_f1"][0]
        assert (width > 0.08) if n == 60 else (width < 0.05)
    assert f1_intervals(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)))["micro_f1"][0] != 0  # nan
    # single-label data: micro-F1 is the accuracy, a perfect model has a point interval
    eye = np.eye(3, dtype=bool)[[0, 1, 2, 0]]
    assert f1_intervals(eye, ~eye & False, ~eye & False) == {"micro_f1": [1.0, 1.0], "macro_f1": [1.0, 1.0]}
