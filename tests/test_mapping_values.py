"""Value parsing of the column mapping (dates with time zones, full-width scores) and duplicate ids."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROWS, pipeline_data, write_csv
from voc.config import PipelineConfig
from voc.errors import ConfigError
from voc.io.mapping import DUPLICATE_ID, DuplicateIds, parse_dates, parse_scores
from voc.io.readers import ROW
from voc.pipeline import run_pipeline


@pytest.mark.parametrize("raw, want", [
    ("2026-06-28T23:00:00+08:00", "2026-06-28 23:00:00"),   # stays on its day, not 15:00 UTC
    ("2026-06-28T15:30:00Z", "2026-06-28 23:30:00"),
    ("2026-06-30T20:00:00-05:00", "2026-07-01 09:00:00"),
    ("2026-06-30 20:00 +0800", "2026-06-30 20:00:00"),
    ("2026-06-28 23:00", "2026-06-28 23:00:00"),            # no offset: taken as local time
    ("05-09-2026", "2026-05-09 00:00:00"),                  # a date, not an offset
    ("２０２６年５月８日", "2026-05-08 00:00:00"),           # full-width digits
    ("2026-06-28T23:00:00+08", "2026-06-28 23:00:00"),      # short offset
    ("2026-06-28 15:00 UTC", "2026-06-28 23:00:00"),
    ("2026-06-28 15:00 GMT+8", "2026-06-28 15:00:00"),      # GMT+8 as written in China: UTC+8
    ("2026-06-28T23:00:00.5-05:00", "2026-06-29 12:00:00.500000"),
    ("Sun Jun 28 23:00:00 CST 2026", "2026-06-28 23:00:00"),  # Java's Date.toString() in China
    ("2026-06-28 15:00:00 CST", "2026-06-28 15:00:00"),       # CST is China Standard Time
])
def test_dates_with_offsets_become_local_time(raw, want):
    got = parse_dates(pd.Series([raw, "2026-01-02"]))
    assert str(got.iloc[0]) == want and str(got.iloc[1]) == "2026-01-02 00:00:00"


def test_dates_with_unusual_offsets_are_converted_too():
    got = parse_dates(pd.Series(["2026-06-28 23:00:00 +0000 (UTC)", "2026-01-02"]))
    assert got.tolist() == [pd.Timestamp("2026-06-29 07:00"), pd.Timestamp("2026-01-02")]


def test_dates_in_another_zone():
    got = parse_dates(pd.Series(["2026-06-28T15:30:00Z", "2026-06-28 23:30 CST", "2026-06-28 23:30 北京时间",
                                "北京时间 2026-06-28 23:30"]), "UTC")
    assert got.astype(str).tolist() == ["2026-06-28 15:30:00"] * 4


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10), st.sampled_from(["{}", "{}分", " {} ", "NPS:{}"]), st.booleans())
def test_scores_read_ascii_and_full_width_digits(v, fmt, wide):
    s = fmt.format(v)
    if wide:
        s = s.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    assert parse_scores(pd.Series([s]), 0, 10).iloc[0] == v


def test_unknown_time_zone_is_a_config_error(tmp_path, csv_utf8):
    data = pipeline_data(csv_utf8, tmp_path / "out")
    data["input"]["timezone"] = "Mars/Olympus"
    with pytest.raises((ConfigError, ValueError), match="time zone"):
        PipelineConfig.model_validate(data)


def test_duplicate_ids_across_chunks():
    d = DuplicateIds("id")
    a = pd.DataFrame({"id": ["1", "2", "2", ""], "t": ["甲", "乙", "乙", "丙"], ROW: [1, 2, 3, 4]})
    kept, rej = d.split(a)
    assert kept["id"].tolist() == ["1", "2", ""] and [r.row for r in rej] == [3]
    assert rej[0].reason == DUPLICATE_ID and rej[0].raw == "2,乙"
    b = pd.DataFrame({"id": [" 1 ", "", "3"], "t": ["丁", "戊", "己"], ROW: [5, 6, 7]})
    kept, rej = d.split(b)
    assert kept["id"].tolist() == ["", "3"] and [r.row for r in rej] == [5]  # ids are compared stripped


@pytest.mark.parametrize("policy", ["quarantine", "keep"])
def test_pipeline_duplicate_ids(tmp_path, policy):
    rows = [list(r) for r in ROWS] + [list(ROWS[0])]  # A1 again: an export appended twice
    path = write_csv(tmp_path / "dup.csv", rows)
    data = pipeline_data(path, tmp_path / "out")
    data["input"]["duplicate_ids"] = policy
    res = run_pipeline(PipelineConfig.model_validate(data))
    assert res.balanced and res.rows_in == len(rows)
    con = duckdb.connect(str(tmp_path / "out" / "voc.duckdb"), read_only=True)
    n_a1 = con.execute("SELECT count(*) FROM comments WHERE id = 'A1'").fetchone()[0]
    con.close()
    q = pd.read_csv(tmp_path / "out" / "quarantine.csv", encoding="utf-8-sig")
    dup = q[q["reason"].str.startswith("duplicate id")]
    if policy == "quarantine":
        assert n_a1 == 1 and dup["row"].tolist() == [len(rows)]
        summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
        assert summary["reasons"][DUPLICATE_ID] == 1
    else:
        assert n_a1 == 2 and dup.empty


def test_missing_column_on_the_first_sheet_names_the_other_sheets(tmp_path, rows):
    from tests.conftest import HEADER
    from voc.errors import InputError
    from voc.pipeline import PipelineRun

    p = tmp_path / "survey.xlsx"
    with pd.ExcelWriter(p) as w:
        pd.DataFrame({"说明": ["本表为问卷导出"]}).to_excel(w, sheet_name="说明", index=False)
        pd.DataFrame(rows, columns=HEADER).to_excel(w, sheet_name="问卷结果", index=False)
    data = pipeline_data(p, tmp_path / "out")
    with pytest.raises(InputError, match="'问卷结果': set input.sheet"):
        PipelineRun(PipelineConfig.model_validate(data))
    data["input"]["sheet"] = "问卷结果"
    assert run_pipeline(PipelineConfig.model_validate(data)).balanced


def test_auto_models_are_the_shipped_ones_or_the_baselines(tmp_path, csv_utf8, monkeypatch):
    from voc.classify.registry import default_models
    from voc.pipeline import resolve_auto

    data = pipeline_data(csv_utf8, tmp_path / "out")
    data["taxonomies"] = [{"name": "rater"}, {"name": "touchpoint"},
                          {"name": "mine", "path": str(tmp_path / "mine.yaml")}]
    cfg = resolve_auto(PipelineConfig.model_validate(data))
    assert cfg.sentiment.model == "sentiment-tfidf"
    assert [t.mapper for t in cfg.taxonomies] == ["rater-tfidf", "touchpoint-tfidf", "rules"]
    # a pipeline file that names no models lists the shipped ones as its defaults
    p = tmp_path / "p.yaml"
    p.write_text("name: x\ninput: {path: a.csv, columns: {text: t}}\n", encoding="utf-8")
    assert set(default_models(p)) == {"sentiment", "rater", "touchpoint"}
    # without the shipped models (an installed package without models/), the baselines
    monkeypatch.setenv("VOC_MODELS_DIR", str(tmp_path / "none"))
    cfg = resolve_auto(PipelineConfig.model_validate(data))
    assert cfg.sentiment.model == "lexicon" and {t.mapper for t in cfg.taxonomies} == {"rules"}


def test_excel_row_numbers_count_blank_rows(tmp_path, rows):
    from tests.conftest import HEADER
    from voc.io.readers import open_reader

    p = tmp_path / "gaps.xlsx"
    frame = pd.DataFrame([rows[0], [None] * len(HEADER), rows[1], rows[2]], columns=HEADER)
    frame.to_excel(p, index=False)
    got = pd.concat([c.frame for c in open_reader(p, chunk_size=2)])
    assert got["编号"].tolist() == ["A1", "A2", "A3"] and got[ROW].tolist() == [1, 3, 4]  # sheet rows 2, 4, 5


def test_jsonl_lines_in_the_other_encoding(tmp_path):
    from voc.io.readers import open_reader

    p = tmp_path / "mixed.jsonl"
    good = '{"id": "1", "text": "房间很干净"}\n'.encode("utf-8")
    gbk = '{"id": "2", "text": "送餐太慢了"}\n'.encode("gb18030")
    junk = b"{\"id\": \"3\", \"text\": \"\xff\xfe\xff\"}\n"
    p.write_bytes(b"\xef\xbb\xbf" + good + gbk + junk + good.replace(b'"1"', b'"4"'))
    chunks = list(open_reader(p, chunk_size=10))
    got = pd.concat([c.frame for c in chunks])
    assert got["text"].tolist() == ["房间很干净", "送餐太慢了", "房间很干净"] and got[ROW].tolist() == [1, 2, 4]
    rej = [r for c in chunks for r in c.rejected]
    assert [(r.row, r.reason) for r in rej] == [(3, "text is neither valid UTF-8 nor GB18030")]
    assert sum(c.warnings.get("decoded_as_gb18030", 0) for c in chunks) == 1


def test_bom_file_with_a_gbk_row_and_an_undecodable_row(tmp_path):
    from voc.io.readers import open_reader

    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + "编号,内容\n1,很好\n".encode() + b"2,\xff\xfe\xff\n" + "3,差评\n".encode("gbk"))
    chunks = list(open_reader(p))
    got = pd.concat([c.frame for c in chunks])
    assert got.columns[0] == "编号" and got["内容"].tolist() == ["很好", "差评"] and got[ROW].tolist() == [1, 3]
    assert [(r.row, r.reason) for c in chunks for r in c.rejected] == [(2, "text is neither valid UTF-8 nor GB18030")]
    assert sum(c.warnings.get("decoded_as_gb18030", 0) for c in chunks) == 1


def test_utf8_rows_in_a_gbk_file(tmp_path):
    from voc.io.readers import open_reader

    rows = [("1", "上海", "房间很干净，服务也好"), ("2", "北京", "送餐太慢了，等了一个小时"), ("3", "中山", "味道一般")] * 5
    body = "编号,城市,内容\n" + "".join(",".join(r) + "\n" for r in rows)
    utf8_row = "9,杭州,客服态度很好，问题当天解决\n".encode()
    p = tmp_path / "gbk.csv"
    p.write_bytes(body.encode("gbk") + utf8_row)
    chunks = list(open_reader(p))
    got = pd.concat([c.frame for c in chunks])
    assert got["城市"].tolist() == [r[1] for r in rows] + ["杭州"]  # short GBK cells stay GBK
    assert got["内容"].iloc[-1] == "客服态度很好，问题当天解决"
    assert sum(c.warnings.get("decoded_as_utf-8", 0) for c in chunks) == 1


def test_duplicate_id_after_an_empty_copy_is_kept():
    d = DuplicateIds("id", "t")
    a = pd.DataFrame({"id": ["A1", "A1", "A1"], "t": ["  ", "送餐太慢", "送餐太慢"], ROW: [1, 2, 3]})
    kept, rej = d.split(a)
    assert kept[ROW].tolist() == [1, 2] and [r.row for r in rej] == [3]  # row 1 goes on to "empty text"


def test_utf8_line_in_a_gbk_jsonl(tmp_path):
    from voc.io.readers import open_reader

    p = tmp_path / "gbk.jsonl"
    gbk = "".join(f'{{"id": "{i}", "city": "上海", "text": "送餐太慢了，等了一个小时"}}\n' for i in range(5))
    p.write_bytes(gbk.encode("gb18030") + '{"id": "9", "city": "杭州", "text": "物流很快，包装完好"}\n'.encode())
    chunks = list(open_reader(p))
    got = pd.concat([c.frame for c in chunks])
    assert got["text"].iloc[-1] == "物流很快，包装完好" and got["city"].iloc[0] == "上海"
    assert sum(c.warnings.get("decoded_as_utf-8", 0) for c in chunks) == 1


def test_short_utf8_cell_in_a_gbk_file(tmp_path):
    from voc.io.readers import open_reader

    body = "编号,内容\n" + "".join(f"{i},送餐太慢了，等了一个小时\n" for i in range(5))
    p = tmp_path / "gbk.csv"
    short = ["差评", "好评", "不错", "很好", "满意", "失望", "推荐"]  # two characters: too short for the row test
    p.write_bytes(body.encode("gbk") + "".join(f"u{i},{w}\n" for i, w in enumerate(short)).encode())
    got = pd.concat([c.frame for c in open_reader(p)])
    assert got["内容"].tolist()[-len(short):] == short and got["内容"].iloc[0] == "送餐太慢了，等了一个小时"


def test_star_ratings():
    got = parse_scores(pd.Series(["★★★", "★★★★☆", " ★ ", "☆☆☆☆☆", "5星", "★3"]), 1, 5).tolist()
    assert got[:3] == [3.0, 4.0, 1.0] and pd.isna(got[3]) and got[4] == 5.0 and got[5] == 3.0


def test_degree_words_are_never_keywords():
    from voc.text.segment import Segmenter

    seg = Segmenter()
    kws = seg.keywords(seg.content_tokens(seg.cut("有点卡，有点慢，但是界面有点好看，有点")))
    assert "有点" not in kws and "但是" not in kws


@pytest.mark.parametrize("raw, want", [
    ("46090", "2026-03-09 00:00:00"),            # an Excel date stored as a serial number
    ("46090.0", "2026-03-09 00:00:00"),
    ("46090.75", "2026-03-09 18:00:00"),          # the fraction is the time of day
    ("２０２６０６２８", "2026-06-28 00:00:00"),   # yyyymmdd, full width: not a serial number
    ("20260628", "2026-06-28 00:00:00"),
    ("1782651600", "2026-06-28 21:00:00"),        # epoch seconds: wall-clock time in Asia/Shanghai
    ("1782651600123", "2026-06-28 21:00:00.123000"),  # epoch milliseconds
])
def test_plain_number_dates(raw, want):
    got = parse_dates(pd.Series([raw, "2026-01-02"]))
    assert str(got.iloc[0]) == want and str(got.iloc[1]) == "2026-01-02 00:00:00"


@pytest.mark.parametrize("raw", ["19999", "80000", "99999", "1.5", "202606", "12345678901", "0", "9999999999",
                                 "9223343237000"])
def test_implausible_plain_numbers_are_not_dates(raw):
    assert parse_dates(pd.Series([raw])).isna().all()


@settings(max_examples=100, deadline=None)
@given(st.dates(pd.Timestamp("1954-10-03").date(), pd.Timestamp("2119-01-04").date()), st.integers(0, 86399))
def test_excel_serials_and_yyyymmdd_agree(day, secs):
    ts = pd.Timestamp(day) + pd.Timedelta(seconds=secs)
    serial = (ts - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
    got = parse_dates(pd.Series([f"{serial:.10f}", str(int(serial)), day.strftime("%Y%m%d")]))
    assert abs(got.iloc[0] - ts) <= pd.Timedelta(seconds=1)
    assert got.iloc[1] == got.iloc[2] == pd.Timestamp(day)


@settings(max_examples=50, deadline=None)
@given(st.integers(1_000_000_000, 4_102_444_799))
def test_epoch_seconds_and_millis(sec):
    want = pd.Timestamp(sec, unit="s", tz="UTC").tz_convert("Asia/Shanghai").tz_localize(None)
    got = parse_dates(pd.Series([str(sec), str(sec * 1000)]))
    assert got.tolist() == [want, want]


def test_scores_in_chinese_numerals_and_full_marks():
    got = parse_scores(pd.Series(["九分", "十分", "零分", "〇分", "两分", " 八 ", "满分", "十分满意", "一般", "十一分"]),
                       0, 10, integer=True)
    assert got.iloc[:7].tolist() == [9, 10, 0, 0, 2, 8, 10] and got.iloc[7:].isna().all()
    assert parse_scores(pd.Series(["满分", "五星", "四分"]), 1, 5).tolist() == [5, 5, 4]


def test_integer_scales_null_fractions():
    s = pd.Series(["9.5", "9.0", "9", "7.25分", "4.5"])
    nps = parse_scores(s, 0, 10, integer=True)
    assert nps.isna().tolist() == [True, False, False, True, True] and nps.iloc[1] == 9
    assert parse_scores(s, 0, 10).tolist() == [9.5, 9.0, 9.0, 7.25, 4.5]  # rating: half stars are real


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10), st.sampled_from(["{}", "{}分", " {} "]))
def test_chinese_numeral_scores(v, fmt):
    numeral = "零一二三四五六七八九十"[v]
    assert parse_scores(pd.Series([fmt.format(numeral)]), 0, 10, integer=True).iloc[0] == v


def test_fractional_nps_is_counted_invalid_and_rating_keeps_half_stars(tmp_path):
    from voc.config import InputConfig
    from voc.io.mapping import map_columns

    frame = pd.DataFrame({"t": ["信号很好", "网速慢", "还行", "客服态度好"], "n": ["9.5", "九分", "满分", "3"],
                          "c": ["4", "4.5", "五分", ""], "r": ["4.5", "5", "", "3"], ROW: [2, 3, 4, 5]})
    cfg = InputConfig(path=tmp_path / "x.csv", columns={"text": "t", "nps": "n", "csat": "c", "rating": "r"})
    out, rejected, warnings = map_columns(frame, cfg)
    assert not rejected and out["nps"].tolist()[1:] == [9, 10, 3] and pd.isna(out["nps"].iloc[0])
    assert warnings["nps_invalid"] == 1 and warnings["csat_invalid"] == 1 and warnings["rating_invalid"] == 0
    assert out["csat"].iloc[2] == 5 and out["rating"].iloc[0] == 4.5
