"""voc export: Excel workbook round trip, UTF-8-BOM CSVs, cell safety, error paths, CJK chart fonts."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import duckdb
import openpyxl
import pytest
from typer.testing import CliRunner

from tests.conftest import pipeline_data
from voc.cli.main import app
from voc.config import load_config
from voc.errors import InputError
from voc.pipeline import run_pipeline
from voc.report.export import EXCEL_MAX_CHARS, CellStats, csv_value, export_run, open_run, safe_text

LONG = "送餐太慢汤也洒了，" * 4000  # 36,000 characters: over Excel's cell limit
TEXTS = {
    "E1": "前台服务很热情，房间干净，位置方便",
    "E2": "=HYPERLINK(\"http://x.example\",\"点我\") 客服不回复",
    "E3": "@ 物流太慢了",
    "E4": "-5分 包装破损，汤洒了一半",
    "E5": "+1 价格实惠，味道不错",
    "E6": LONG,
    "E7": "发错货了\x07，客服一直不回复",
}


# Scored comments written for these tests, so that driver analysis (>= 30 scores) has data to rank.
SCORED = [("送餐太慢了，等了一个多小时", 3), ("物流很快，第二天就到了", 10), ("客服态度很差，一直不回复", 2),
          ("客服很耐心，问题很快解决了", 9), ("房间很干净，环境不错", 9), ("包装破损，汤洒了一半", 4),
          ("价格实惠，性价比高", 8), ("味道一般，分量太少", 6)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    src = tmp / "fb.csv"
    rows = [(cid, text, str(3 + i)) for i, (cid, text) in enumerate(TEXTS.items())]
    rows += [(f"S{i:02d}", SCORED[i % len(SCORED)][0], str(max(0, SCORED[i % len(SCORED)][1] - i // 16)))
             for i in range(40)]
    with open(src, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["编号", "日期", "渠道", "业务线", "城市", "NPS", "内容"])
        for i, (cid, text, score) in enumerate(rows):
            w.writerow([cid, f"2026-0{5 + i % 3}-{1 + i % 28:02d}", "App", "外卖", "上海" if i % 2 else "北京", score,
                        text])
    run_pipeline(load_config(data=pipeline_data(src, tmp / "run")))
    return tmp / "run"


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    res = export_run(run_dir, xlsx=out / "book.xlsx", csv_dir=out / "csv")
    return res, out


def test_workbook_sheets_headers_and_chinese(exported, run_dir):
    res, out = exported
    wb = openpyxl.load_workbook(out / "book.xlsx")
    assert wb.sheetnames[:4] == ["概览 summary", "主题 themes", "主题明细 by group", "驱动 drivers"]
    assert wb.sheetnames[-3:] == ["短语 phrases", "精选原声 top verbatims", "原声 verbatims"]
    ws = wb["原声 verbatims"]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["编号 id", "日期 date", "渠道 channel"]
    assert {"product_line", "city", "原文 text", "情感 sentiment", "rater (category:polarity)",
            "touchpoint (category:polarity)"} <= set(header)
    assert ws.freeze_panes == "B2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}{len(TEXTS) + 41}"
    rows = {r[0]: dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert set(TEXTS) <= set(rows) and len(rows) == len(TEXTS) + 40
    # Chinese text and the category columns match the store, in keys and in Chinese names
    con = duckdb.connect(str(run_dir / "voc.duckdb"), read_only=True)
    tp = dict(con.execute("SELECT id, touchpoint FROM comments").fetchall())
    text = dict(con.execute("SELECT id, text FROM comments").fetchall())
    con.close()
    assert rows["E1"]["原文 text"] == text["E1"] and "前台服务很热情" in text["E1"]
    assert rows["E1"]["city"] == "北京"
    assert {k: r["touchpoint (category:polarity)"] for k, r in rows.items()} == tp
    zh = rows["E4"]["客户旅程触点 类别:极性"]
    assert tp["E4"] and "负面" in zh and "packaging" not in zh
    assert res.sheet_rows["verbatims"] == len(TEXTS) + 40


def test_themes_sheet_matches_sound_table(exported, run_dir):
    _, out = exported
    ws = openpyxl.load_workbook(out / "book.xlsx")["主题 themes"]
    header = [c.value for c in ws[1]]
    got = {(r[0], r[3]): dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    con = duckdb.connect(str(run_dir / "voc.duckdb"), read_only=True)
    sound = con.execute("SELECT taxonomy, category, volume, net_sentiment, share FROM sound "
                        "WHERE grouping = 'all'").fetchall()
    con.close()
    assert len(got) == len(sound) > 0
    for tax, cat, vol, net, share in sound:
        row = got[(tax, cat)]
        assert row["提及 volume"] == vol and row["净情感 net sentiment"] == pytest.approx(net)
        assert row["占比 share"] == pytest.approx(share)
    assert ws.auto_filter.ref and ws.freeze_panes == "F2"
    assert ws.cell(2, header.index("占比 share") + 1).number_format == "0.0%"


def test_summary_sheet_has_volume_sentiment_and_nps_ci(exported):
    _, out = exported
    ws = openpyxl.load_workbook(out / "book.xlsx")["概览 summary"]
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    n = len(TEXTS) + 40
    assert rows["评论数 comments"][1] == n
    assert sum(rows[k][1] for k in rows if k.startswith("情感 ")) == n
    nps = rows["NPS 净推荐值"]
    assert nps[2] <= nps[1] <= nps[3] and nps[4] == n
    assert rows["驱动因素 drivers"][1] == "nps"


def _driver_rows(path: Path, sheet: str = "驱动 drivers") -> list[dict]:
    ws = openpyxl.load_workbook(path)[sheet]
    head = [c.value for c in ws[1]]
    return [dict(zip(head, r)) for r in ws.iter_rows(min_row=2, values_only=True)]


def test_drivers_sheet_from_store_or_computed_at_export(exported, run_dir, tmp_path):
    import shutil

    from voc.analyze.driverstore import drivers_tables, run_scales

    _, out = exported
    con = duckdb.connect(str(run_dir / "voc.duckdb"), read_only=True)
    if "drivers" in {r[0] for r in con.execute("SHOW TABLES").fetchall()}:
        expected = con.execute("SELECT * FROM drivers").df()
    else:
        expected = drivers_tables(con, run_scales(run_dir / "voc.duckdb"), n_boot=0)[0]
    con.close()
    rows = _driver_rows(out / "book.xlsx")
    assert len(rows) == len(expected) > 0
    top = rows[0]
    assert top["排名 rank"] == 1 and top["结果指标 outcome"] == "nps"
    assert top["驱动因素 driver"].split(" ")[1] in ("正面", "负面")
    assert top["重要性 importance (% of R²)"] == pytest.approx(float(expected["importance"].iloc[0]))
    assert _driver_rows(out / "book.xlsx", "驱动主题 driver themes")[0]["象限 quadrant"]
    # a store without driver tables: computed at export with the same ranking
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    con = duckdb.connect(str(copy / "voc.duckdb"))
    con.execute("DROP TABLE IF EXISTS drivers; DROP TABLE IF EXISTS driver_themes")
    con.close()
    export_run(copy, xlsx=tmp_path / "d.xlsx")
    again = _driver_rows(tmp_path / "d.xlsx")
    assert [r["驱动因素 driver"] for r in again] == [r["驱动因素 driver"] for r in rows]
    # no scores at all: the sheet says drivers were not computed, and why
    con = duckdb.connect(str(copy / "voc.duckdb"))
    con.execute("UPDATE comments SET nps = NULL")
    con.close()
    export_run(copy, xlsx=tmp_path / "e.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "e.xlsx")["驱动 drivers"]
    assert "not computed" in ws.cell(2, 1).value and "30 values" in ws.cell(2, 1).value
    assert "驱动主题 driver themes" not in openpyxl.load_workbook(tmp_path / "e.xlsx").sheetnames


def test_formula_injection_is_written_as_text(exported):
    res, out = exported
    ws = openpyxl.load_workbook(out / "book.xlsx")["原声 verbatims"]
    col = [c.value for c in ws[1]].index("原文 text")
    cells = {r[0].value: r[col] for r in ws.iter_rows(min_row=2)}
    for cid in ("E2", "E3", "E4", "E5"):
        c = cells[cid]
        assert c.data_type == "s" and c.quotePrefix, cid  # text, not a formula
        assert c.value.lower().startswith(TEXTS[cid][:3].lower())  # the text itself is unchanged
    assert res.guarded >= 4
    # nothing in the workbook is a formula
    wb = openpyxl.load_workbook(out / "book.xlsx")
    assert not any(c.data_type == "f" for ws in wb.worksheets for row in ws.iter_rows() for c in row)


def test_long_text_truncated_with_note_and_control_chars_dropped(exported):
    res, out = exported
    ws = openpyxl.load_workbook(out / "book.xlsx")["原声 verbatims"]
    head = [c.value for c in ws[1]]
    rows = {r[0]: dict(zip(head, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    long = rows["E6"]["原文 text"]
    assert len(long) == EXCEL_MAX_CHARS and "truncated" in long[-60:] and long.startswith("送餐太慢")
    assert res.truncated >= 1
    assert "\x07" not in rows["E7"]["原文 text"] and "发错货了" in rows["E7"]["原文 text"]


def test_safe_text_and_csv_value_units():
    st = CellStats()
    assert safe_text("好" * 10, st, limit=100) == "好" * 10
    cut = safe_text("好" * 200, st, limit=100)
    assert len(cut) == 100 and "200" in cut and st.truncated == 1
    assert safe_text("a\x00b\x1fc", st) == "abc" and st.cleaned == 1
    for s in ("=1+1", "+86 138", "-2", "@A1", "\tx"):
        assert csv_value(s, st) == "'" + s
    assert csv_value(-2.5, st) == -2.5 and csv_value("送餐", st) == "送餐" and csv_value(None, st) == ""


def test_csv_files_have_bom_and_round_trip(exported):
    res, out = exported
    names = sorted(Path(p).name for p in res.csv_files)
    assert {"summary.csv", "themes.csv", "themes_by_group.csv", "drivers.csv", "phrases.csv", "top_verbatims.csv",
            "verbatims.csv"} <= set(names)
    for p in res.csv_files:
        assert Path(p).read_bytes()[:3] == b"\xef\xbb\xbf", p
    with open(out / "csv" / "verbatims.csv", encoding="utf-8-sig", newline="") as f:
        rows = {r["编号 id"]: r for r in csv.DictReader(f)}
    assert rows["E1"]["原文 text"].startswith("前台服务很热情")
    assert rows["E2"]["原文 text"].lower().startswith("'=hyperlink")  # Excel shows it as text
    assert len(rows["E6"]["原文 text"]) > EXCEL_MAX_CHARS  # CSV keeps the whole text


@pytest.mark.parametrize("make, msg", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: p, "is not a voc run"),
    (lambda p: (p / "voc.duckdb").write_bytes(b"not a database") and p, "not a readable voc store"),
    (lambda p: duckdb.connect(str(p / "voc.duckdb")).execute("CREATE TABLE t AS SELECT 1").close() or p,
     "not a voc run"),
])
def test_bad_run_folders(tmp_path, make, msg):
    with pytest.raises(InputError, match=msg):
        open_run(make(tmp_path))


def test_bad_outputs(run_dir, tmp_path):
    with pytest.raises(InputError, match="must end in .xlsx"):
        export_run(run_dir, xlsx=tmp_path / "book.csv")
    with pytest.raises(InputError, match="is a folder"):
        export_run(run_dir, xlsx=tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        export_run(run_dir, csv_dir=tmp_path / "f")
    with pytest.raises(InputError, match="nothing to export"):
        export_run(run_dir)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


def test_cli_export_and_errors(run_dir, tmp_path):
    r = CliRunner().invoke(app, ["export", str(run_dir), "--xlsx", str(tmp_path / "b.xlsx"), "--csv",
                                 str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b.xlsx").is_file() and (tmp_path / "c" / "verbatims.csv").is_file()
    r = CliRunner().invoke(app, ["export", str(tmp_path / "nope"), "--xlsx", str(tmp_path / "x.xlsx")])
    assert r.exit_code == 2 and "does not exist" in r.output and "Traceback" not in r.output


# --------------------------------------------------------------------------------------------- fonts


def test_bundled_font_has_chinese_glyphs():
    from fontTools.ttLib import TTFont

    from voc.report.charts import BUNDLED_FAMILY, bundled_font_path, cjk_font_path

    path = bundled_font_path()
    assert path is not None and path.stat().st_size < 3_000_000
    assert (path.parent / "OFL.txt").is_file()
    assert cjk_font_path() == path
    font = TTFont(path)
    cmap = font.getBestCmap()
    for ch in "服务送餐太慢客户旅程触点净情感正面负面，。！？（）":
        assert ord(ch) in cmap, ch
    assert font["name"].getDebugName(1) == BUNDLED_FAMILY


def test_chart_renders_chinese_with_bundled_font_only(run_dir, tmp_path):
    """With system fonts excluded (a fresh machine), no glyph falls back to an empty box."""
    from voc.report.charts import BUNDLED_FAMILY, cjk_font_families, save_figure, theme_chart
    from voc.report.export import themes_table

    assert cjk_font_families(system=False)[0] == BUNDLED_FAMILY
    with open_run(run_dir) as run:
        df = themes_table(run)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = theme_chart(df, system_fonts=False)
        fig.canvas.draw()
    missing = [str(w.message) for w in caught if "missing from" in str(w.message) or "findfont" in str(w.message)]
    assert not missing, missing
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels() if t.get_text()]
    assert any("物流配送" in s or "产品质量" in s or "现场服务" in s for s in labels)
    png = save_figure(fig, tmp_path / "t.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_cli_chart_option(run_dir, tmp_path):
    r = CliRunner().invoke(app, ["export", str(run_dir), "--chart", str(tmp_path / "c.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_sheets_continue_past_the_row_limit(run_dir, tmp_path, monkeypatch):
    import voc.report.export as ex

    monkeypatch.setattr(ex, "EXCEL_MAX_ROWS", 21)  # 20 data rows per sheet
    res = export_run(run_dir, xlsx=tmp_path / "split.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "split.xlsx")
    parts = [n for n in wb.sheetnames if n.startswith("原声 verbatims")]
    assert parts == ["原声 verbatims", "原声 verbatims 2", "原声 verbatims 3"]
    ids = [r[0] for n in parts for r in wb[n].iter_rows(min_row=2, values_only=True)]
    assert len(ids) == len(set(ids)) == res.sheet_rows["verbatims"] == len(TEXTS) + 40
    assert all(wb[n].max_row <= 21 and wb[n].cell(1, 1).value == "编号 id" and wb[n].auto_filter.ref for n in parts)


def test_scores_a_run_lacks_get_no_empty_columns(tmp_path, csv_utf8):
    """An NPS-only run: the themes and verbatims sheets have no CSAT, rating or CES columns (they were empty)."""
    import pandas as pd

    run_pipeline(load_config(data=pipeline_data(csv_utf8, tmp_path / "r")))
    export_run(tmp_path / "r", xlsx=tmp_path / "b.xlsx")
    book = pd.read_excel(tmp_path / "b.xlsx", sheet_name=None)
    for name in ("主题 themes", "主题明细 by group", "原声 verbatims"):
        cols = " ".join(map(str, book[name].columns))
        assert "CSAT" not in cols and "CES" not in cols and "星级" not in cols and "来源" not in cols, name
    assert any("NPS" in str(c) for c in book["主题 themes"].columns)
    assert "NPS" in book["原声 verbatims"].columns
