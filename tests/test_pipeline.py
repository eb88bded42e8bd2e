"""End to end: pipeline runs, row accounting, store contents, Parquet export, query and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from voc.cli.main import app
from voc.config import load_config
from voc.errors import InputError
from voc.pipeline import run_pipeline
from voc.store.query import CommentQuery, query_comments
from tests.conftest import pipeline_data
from tests.demo_run import shared_demo_run

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture()
def fixture_run(csv_utf8, tmp_path):
    cfg = load_config(data=pipeline_data(csv_utf8, tmp_path / "run"))
    return run_pipeline(cfg), tmp_path / "run"


def test_fixture_run_accounts_for_every_row(fixture_run):
    res, out = fixture_run
    written = {p.name for p in out.iterdir() if p.is_file()}
    assert {Path(f).name for f in res.files} == written | {"summary.json"}  # every file the run wrote
    # A5 scored 5 but wrote nothing: kept, so that it counts in the NPS
    assert res.rows_in == 7 and res.written == 7 and res.quarantined == 0 and res.balanced
    c = pd.read_parquet(out / "comments.parquet")
    a5 = c[c["id"] == "A5"].iloc[0]
    assert a5["quality"] == "empty" and a5["sentiment"] == "neutral" and a5["nps"] == 5
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["balanced"] and summary["warnings"]["nps_invalid"] == 2


def test_store_tables(fixture_run):
    _, out = fixture_run
    con = duckdb.connect(str(out / "voc.duckdb"), read_only=True)
    c = con.execute("SELECT * FROM comments ORDER BY source_row").df()
    m = con.execute("SELECT * FROM mentions").df()
    con.close()
    assert c["id"].tolist() == ["A1", "A2", "A3", "A4", "A5", "A6", "A7"]
    a3 = c.set_index("id").loc["A3"]
    assert "13812345678" not in a3["text"] and "[手机号]" in a3["text"] and list(a3["pii"]) == ["phone"]
    assert c.set_index("id").loc["A7", "text"].startswith("价格实惠")
    assert c.set_index("id").loc["A4", "quality"] == "boilerplate"
    assert c.set_index("id").loc["A4", "sentiment"] == "neutral" and c.set_index("id").loc["A4", "rater"] == ""
    assert list(c.set_index("id").loc["A6", "emojis"]) == ["😡"]
    assert set(m.columns) >= {"comment_id", "taxonomy", "category", "polarity", "evidence", "clause"}
    # One mention row per comment × taxonomy × category, consistent with the label columns.
    for _, row in c.iterrows():
        for tax in ("rater", "touchpoint"):
            pairs = sorted(p for p in row[tax].split(";") if p)
            got = sorted(f"{r.category}:{r.polarity}" for r in m[(m.comment_id == row.id) & (m.taxonomy == tax)]
                         .itertuples())
            assert pairs == got
    a1 = m[m.comment_id == "A1"]
    assert set(a1.category) >= {"delivery", "responsiveness"}
    assert (out / "comments.parquet").is_file() and len(pd.read_parquet(out / "comments.parquet")) == 7
    assert (out / "config.yaml").is_file()


def test_query_filters(fixture_run):
    _, out = fixture_run
    df = query_comments(out, CommentQuery(category="delivery", polarity="negative"))
    assert "A1" in df["id"].tolist()
    assert query_comments(out, CommentQuery(segments={"city": "北京"}))["id"].tolist() == ["A2"]
    assert query_comments(out, CommentQuery(since="2026-07-01", until="2026-07-08"))["id"].tolist() == ["A3"]
    assert query_comments(out, CommentQuery(keyword="洒了"))["id"].tolist() == ["A6"]
    # keywords are normalised as the stored text is (traditional, full width, upper case)
    assert query_comments(out, CommentQuery(keyword="灑了"))["id"].tolist() == ["A6"]
    assert query_comments(out, CommentQuery(keyword="價格"))["id"].tolist() == ["A7"]
    # the scores the run has (NPS here, not CSAT) come right after the sentiment
    cols = query_comments(out, CommentQuery()).columns.tolist()
    assert cols[cols.index("sentiment") + 1] == "nps" and "csat" not in cols
    assert set(query_comments(out, CommentQuery(sentiment="neutral"))["id"]) >= {"A4"}
    with pytest.raises(InputError, match="unknown segment"):
        query_comments(out, CommentQuery(segments={"country": "中国"}))
    with pytest.raises(InputError, match="positive, neutral or negative"):
        query_comments(out, CommentQuery(sentiment="angry"))
    with pytest.raises(InputError, match="no voc store"):
        query_comments(out / "nope", CommentQuery())


def test_query_category_by_chinese_name(fixture_run):
    _, out = fixture_run
    by_key = query_comments(out, CommentQuery(category="delivery", limit=None))["id"].tolist()
    assert by_key and "A1" in by_key
    for spec in ("物流配送", "touchpoint/物流配送", " 物流配送 ", "delivery ", "Delivery"):
        assert query_comments(out, CommentQuery(category=spec, limit=None))["id"].tolist() == by_key, spec
    with pytest.raises(InputError) as e:
        query_comments(out, CommentQuery(category="宽带"))
    msg = str(e.value)
    assert "no category '宽带'" in msg and "delivery (物流配送)" in msg and "responsiveness (" in msg
    with pytest.raises(InputError, match=r"no category .物流配送.*responsiveness"):
        query_comments(out, CommentQuery(category="rater/物流配送"))  # 物流配送 is touchpoint's, not rater's


@pytest.mark.parametrize("fixture", ["csv_gbk", "xlsx_file", "jsonl_file", "parquet_file", "tsv_file"])
def test_other_formats_run(fixture, request, tmp_path):
    path = request.getfixturevalue(fixture)
    res = run_pipeline(load_config(data=pipeline_data(path, tmp_path / "r")))
    assert res.balanced and res.written == 7


def test_parallel_run_matches_serial(csv_utf8, tmp_path):
    a = run_pipeline(load_config(data=pipeline_data(csv_utf8, tmp_path / "a")))
    b = run_pipeline(load_config(data=pipeline_data(csv_utf8, tmp_path / "b", workers=2)))
    assert (a.rows_in, a.written, a.quarantined) == (b.rows_in, b.written, b.quarantined)
    ca = pd.read_parquet(tmp_path / "a" / "comments.parquet")
    cb = pd.read_parquet(tmp_path / "b" / "comments.parquet")
    pd.testing.assert_frame_equal(ca, cb)


def test_worker_failure_propagates_and_does_not_hang(csv_utf8, tmp_path, monkeypatch):
    import voc.pipeline as pl

    real = pl.Processor.process_to_parts

    def fail_on_second(self, index, raw, parts_dir):
        if index == 1:
            raise RuntimeError("boom in a worker")
        return real(self, index, raw, parts_dir)

    monkeypatch.setattr(pl.Processor, "process_to_parts", fail_on_second)  # forked workers inherit it
    with pytest.raises(RuntimeError, match="boom in a worker"):
        run_pipeline(load_config(data=pipeline_data(csv_utf8, tmp_path / "x", workers=2)))
    assert not (tmp_path / "x" / "_parts").exists()


@pytest.mark.slow
def test_spawned_workers_match_serial(csv_utf8, tmp_path, monkeypatch):
    monkeypatch.setenv("VOC_MP_START", "spawn")  # the start method outside Linux: workers load the models
    a = run_pipeline(load_config(data=pipeline_data(csv_utf8, tmp_path / "a")))
    b = run_pipeline(load_config(data=pipeline_data(csv_utf8, tmp_path / "b", workers=2)))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "comments.parquet"),
                                  pd.read_parquet(tmp_path / "b" / "comments.parquet"))
    assert a.written == b.written


def test_demo_sample_end_to_end(tmp_path, tmp_path_factory):
    # Two forked workers here; the shared demo run is serial (the sample is under PARALLEL_MIN_BYTES).
    res = run_pipeline(load_config(ROOT / "pipelines" / "demo.yaml",
                                   [f"output.dir={tmp_path / 'demo'}", "workers=2", "output.report=false"]))
    assert res.balanced
    assert 300 <= res.rows_in <= 600
    assert res.quarantined >= 1 and any(k.startswith("malformed row") for k in res.reasons)
    c = pd.read_parquet(tmp_path / "demo" / "comments.parquet")
    # the sample's empty answers all carry a score: kept, neutral, without categories
    empty = c[c["quality"] == "empty"]
    assert len(empty) >= 5 and (empty["sentiment"] == "neutral").all()
    assert empty[["nps", "csat", "rating"]].notna().any(axis=1).all() and (empty["rater"] == "").all()
    assert c["text"].str.contains(r"(?<!\d)1[3-9]\d{9}(?!\d)").sum() == 0
    assert (c["quality"] == "boilerplate").sum() >= 5
    assert c["ces"].between(1, 7).sum() >= 200 and res.warnings["ces_invalid"] == 2  # 9 and 很难说 are nulled
    m = pd.read_parquet(tmp_path / "demo" / "mentions.parquet")
    from voc.taxonomy.model import load_taxonomy
    for tax in ("rater", "touchpoint"):
        found = set(m.loc[m.taxonomy == tax, "category"])
        assert found == set(load_taxonomy(tax).keys), tax
    # The workers computed the drivers (one job per outcome) while the main process built the rest:
    # every analysis table equals the serial run's.
    serial = shared_demo_run(tmp_path_factory)
    for name in ("drivers", "driver_themes", "sound", "segment_scores", "alerts", "comments"):
        a = pd.read_parquet(serial / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, pd.read_parquet(tmp_path / "demo" / f"{name}.parquet"), obj=name)
    assert set(pd.read_parquet(serial / "drivers.parquet")["outcome"]) >= {"nps", "csat"}


def test_cli_run_and_query(csv_utf8, tmp_path):
    import yaml

    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(pipeline_data(csv_utf8, tmp_path / "x"), allow_unicode=True), encoding="utf-8")
    r = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "cli"), "-q", "input.chunk_size=2"])
    assert r.exit_code == 0, r.output
    assert "rows in = written + quarantined: 7 = 7 + 0" in r.output
    r = runner.invoke(app, ["query", str(tmp_path / "cli"), "--segment", "city=上海", "--format", "json"])
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert {x["id"] for x in rows} == {"A1", "A4", "A6"}
    r = runner.invoke(app, ["query", str(tmp_path / "cli"), "-c", "delivery", "-f", "csv"])
    assert r.exit_code == 0 and r.stdout.startswith("id,date")
    r = runner.invoke(app, ["query", str(tmp_path / "cli"), "-k", "前台"])
    assert r.exit_code == 0 and "A2" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["run", "missing.yaml"], "does not exist"),
    (["run", "PIPE", "input.path=/nonexistent/x.csv"], "does not exist"),
    (["run", "PIPE", "input.columns.text=评论"], "is not in the file"),
    (["run", "PIPE", "input.path=FILE.docx"], "unsupported input format"),
    (["run", "PIPE", "input.chunk_size=-1"], "input.chunk_size"),
    (["query", "/nonexistent"], "no voc store"),
    (["query", "RUN", "--format", "xml"], "--format"),
])
def test_cli_user_errors_are_one_sentence(args, msg, csv_utf8, tmp_path, fixture_run):
    import yaml

    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(pipeline_data(csv_utf8, tmp_path / "y"), allow_unicode=True), encoding="utf-8")
    docx = tmp_path / "f.docx"
    docx.write_text("x", encoding="utf-8")
    args = [a.replace("PIPE", str(p)).replace("FILE.docx", str(docx)).replace("RUN", str(fixture_run[1]))
            for a in args]
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert msg in r.output and "Traceback" not in r.output
    assert r.output.count("error:") == 1 and "voc run test" not in r.output  # fails before the progress bar


def test_help_lists_commands():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "run" in r.output and "query" in r.output
    for cmd in ("run", "query"):
        assert runner.invoke(app, [cmd, "--help"]).exit_code == 0


def test_bench_json_is_one_object():
    r = runner.invoke(app, ["bench", "--n", "400", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    for key in ("n", "end_to_end_docs_per_s", "segment_mb_per_s", "peak_rss_mb", "cpu_seconds", "cpu_ms_per_doc"):
        assert key in res and res[key] > 0
    assert res["n"] == 400 and res["rows_in"] == 400 and res["written"] + res["quarantined"] == 400


def test_model_stage_runs_its_model_in_mini_batches():
    import numpy as np

    from voc.stages import ModelStage

    class Lengths(ModelStage):
        batch_size = 3

        def __init__(self):
            self.calls = []

        def preprocess(self, batch):
            return batch["text"].tolist()

        def forward(self, inputs):
            self.calls.append(len(inputs))
            return np.array([[len(t)] for t in inputs], dtype=float).reshape(-1, 1)

        def postprocess(self, batch, outputs):
            return batch.assign(n=outputs[:, 0])

    st = Lengths()
    out = st(pd.DataFrame({"text": ["好", "很好", "非常好", "一般", "差", "太差了", "还行"]}))
    assert out["n"].tolist() == [1, 2, 3, 2, 1, 3, 2] and st.calls == [3, 3, 1]
    assert st(pd.DataFrame({"text": []}))["n"].tolist() == [] and st.calls[-1] == 0


def test_query_table_shows_scores_and_a_zero_nps():
    import pandas as pd
    from rich.console import Console

    from voc.cli.main import _comments_table

    df = pd.DataFrame({"id": ["a", "b"], "date": [pd.Timestamp("2026-05-01"), pd.NaT], "channel": ["App", None],
                       "sentiment": ["negative", "positive"], "nps": [0.0, float("nan")],
                       "text": ["送餐太慢", "很好"], "touchpoint": ["delivery:negative", None]})
    console = Console(width=120, record=True)
    console.print(_comments_table(df))
    out = console.export_text()
    assert "NPS" in out and " 0 " in out and "delivery:negative" in out and "None" not in out and "nan" not in out


def test_text_emptied_by_cleaning_is_kept_only_with_a_score(tmp_path):
    from tests.conftest import HEADER, write_csv

    rows = [["B1", "2026-05-01", "App", "外卖", "上海", "3", "https://example.com/a"],
            ["B2", "2026-05-01", "App", "外卖", "上海", "", "https://example.com/b"],
            ["B3", "2026-05-01", "App", "外卖", "上海", "9", "送餐很快，味道很好"]]
    assert len(HEADER) == len(rows[0])
    res = run_pipeline(load_config(data=pipeline_data(write_csv(tmp_path / "u.csv", rows), tmp_path / "run")))
    assert res.rows_in == 3 and res.written == 2 and res.quarantined == 1 and res.balanced
    q = pd.read_csv(tmp_path / "run" / "quarantine.csv", encoding="utf-8-sig")
    assert q["reason"].tolist() == ["empty after cleaning"] and q["row"].tolist() == [2]
    con = duckdb.connect(str(tmp_path / "run" / "voc.duckdb"), read_only=True)
    got = dict(con.execute("SELECT id, quality FROM comments").fetchall())
    assert got == {"B1": "empty", "B3": "ok"}
    assert con.execute("SELECT count(*) FROM mentions WHERE comment_id = 'B1'").fetchone()[0] == 0


def test_a_run_records_its_models_once(csv_utf8, tmp_path, monkeypatch):
    """summary.json names each model (as written, folder, created, backend, weight hash) and the report's
    footer shows them; the model, written next to the pipeline file, is found from another folder, and its
    weights are hashed once per run (not per chunk)."""
    import hashlib

    import yaml

    from voc.classify import registry
    from voc.classify.modelio import save_model_folder
    from voc.classify.tfidf import TfidfSentiment

    texts = ["味道很好", "送餐很快", "服务很好", "味道很差", "送餐太慢", "服务很差"]
    model = TfidfSentiment(min_df=1).fit(texts, ["positive"] * 3 + ["negative"] * 3)
    pipes = tmp_path / "pipes"
    folder = save_model_folder(pipes / "models" / "senti", model, {"task": "sentiment", "backend": "tfidf"},
                               {}, {}, "# c\n")
    data = pipeline_data(csv_utf8, tmp_path / "run", sentiment={"model": "models/senti"},
                         taxonomies=[{"name": "rater", "mapper": "rules"}])
    data["output"]["report"] = True
    (pipes / "p.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    calls = []
    real = registry.weights_hash
    monkeypatch.setattr(registry, "weights_hash", lambda *a, **k: calls.append(a) or real(*a, **k))
    res = run_pipeline(load_config(pipes / "p.yaml"))
    assert len(calls) == 1  # 3 chunks, one hash
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    sha = hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()[:12]
    assert summary["models"] == res.models == {
        "sentiment": {"given": "models/senti", "name": "senti", "path": str(folder.resolve()), "backend": "tfidf",
                      "created": meta["created"], "sha256": sha},
        "taxonomies": {"rater": {"given": "rules", "name": "rules", "path": None, "backend": "rules",
                                 "created": None, "sha256": None}}}
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    footer = html[html.index("<footer"):html.index("</footer>")]
    assert f"senti ({meta['created'][:10]})" in footer and "rater: " in footer and sha in footer
    from voc.report.html import render_report

    assert footer in render_report(tmp_path / "run")  # re-rendered later: from summary.json


def test_title_row_above_the_header(tmp_path, csv_utf8):
    """A survey export with a title line: without input.header_row one sentence says to set it; with it
    every row is accounted for and the quarantine keeps data-row numbers."""
    from tests.conftest import pipeline_data
    from voc.config import load_config
    from voc.errors import InputError
    from voc.pipeline import run_pipeline

    p = tmp_path / "title.csv"
    p.write_bytes("2026年NPS调研答卷导出\n".encode("utf-8") + csv_utf8.read_bytes() + "A9,2026-07-09,App,外卖,上海,,\n".encode())
    data = pipeline_data(p, tmp_path / "r")
    with pytest.raises(InputError, match="looks like a title .*input.header_row=2"):
        run_pipeline(load_config(data=data))
    data["input"]["header_row"] = 2
    res = run_pipeline(load_config(data=data))
    plain = run_pipeline(load_config(data=pipeline_data(csv_utf8, tmp_path / "plain")))
    assert res.balanced and res.rows_in == plain.rows_in + 1 and res.written == plain.written
    q = (tmp_path / "r" / "quarantine.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    assert [line.split(",")[:2] for line in q] == [[str(plain.rows_in + 1), "empty text"]]
