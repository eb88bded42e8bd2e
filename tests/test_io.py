"""Ingest: encodings, formats, chunking, column mapping and error paths."""

from __future__ import annotations

import pandas as pd
import pytest

from voc.config import InputConfig
from voc.errors import InputError
from voc.io.encoding import detect_encoding, normalize_encoding
from voc.io.mapping import check_columns, map_columns, parse_dates, parse_scores
from voc.io.readers import ROW, open_reader
from tests.conftest import HEADER, ROWS


def read_all(path, **kw):
    r = open_reader(path, **kw)
    frames, rejected = [], []
    for chunk in r:
        frames.append(chunk.frame)
        rejected += chunk.rejected
    return r, pd.concat(frames, ignore_index=True), rejected


@pytest.mark.parametrize("fixture", ["csv_utf8", "csv_gbk", "csv_bom", "tsv_file", "xlsx_file", "parquet_file"])
def test_every_format_reads_all_rows_in_chunks(fixture, request):
    path = request.getfixturevalue(fixture)
    r, df, rejected = read_all(path, chunk_size=2)
    assert r.columns == HEADER
    assert len(df) == len(ROWS) and rejected == []
    assert df[ROW].tolist() == list(range(1, len(ROWS) + 1))
    assert df["内容"].iloc[1] == ROWS[1][6]
    assert df["NPS"].iloc[0] == "9"


def test_chunks_are_bounded(csv_utf8):
    sizes = [len(c.frame) for c in open_reader(csv_utf8, chunk_size=3)]
    assert sizes == [3, 3, 1]


def test_gbk_and_bom_detected(csv_gbk, csv_bom, csv_utf8):
    assert detect_encoding(csv_gbk.read_bytes()) == "gb18030"
    assert detect_encoding(csv_bom.read_bytes()) == "utf-8-sig"
    assert detect_encoding(csv_utf8.read_bytes()) == "utf-8"
    # A sample cut in the middle of a multibyte character is still UTF-8.
    assert detect_encoding("送餐很快".encode("utf-8")[:-1]) == "utf-8"
    assert normalize_encoding("GBK") == "gb18030"
    with pytest.raises(InputError):
        normalize_encoding("klingon-8")


def test_jsonl_bad_lines_are_rejected_with_reason(jsonl_file):
    _, df, rejected = read_all(jsonl_file)
    assert len(df) == len(ROWS)
    reasons = sorted(r.reason.split(":")[0] for r in rejected)
    assert reasons == ["JSON value is not an object", "invalid JSON"]


def test_malformed_csv_line_is_rejected_not_fatal(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text('a,b,text\n1,2,好\n3,4,房间,很,脏\n"5",6,"多行\n评论"\n', encoding="utf-8")
    _, df, rejected = read_all(p)
    assert df["text"].tolist() == ["好", "多行\n评论"]
    assert len(rejected) == 1 and "malformed row: 5 fields" in rejected[0].reason


@pytest.mark.parametrize("name,content,msg", [
    ("x.docx", "hi", "unsupported input format"),
    ("empty.csv", "", "no header"),
])
def test_reader_errors(tmp_path, name, content, msg):
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=msg):
        open_reader(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_reader(tmp_path / "nope.csv")


def test_broken_xlsx_and_parquet(tmp_path):
    for name in ("b.xlsx", "b.parquet"):
        p = tmp_path / name
        p.write_bytes(b"not really")
        with pytest.raises(InputError, match="cannot open"):
            open_reader(p)


def _cfg(**cols) -> InputConfig:
    return InputConfig(path="x.csv", columns={"text": "内容", **cols})


def test_mapping_rejects_empty_text_and_nulls_bad_values(csv_utf8):
    _, df, _ = read_all(csv_utf8)
    cfg = _cfg(id="编号", date="日期", nps="NPS", segments={"city": "城市"})
    mapped, rejected, warns = map_columns(df, cfg)
    assert len(mapped) + len(rejected) == len(df)
    assert [r.reason for r in rejected] == ["empty text"] and rejected[0].row == 5
    row = df[df["_row"] == 5].iloc[0]  # the quarantined line holds the row's raw cells
    assert rejected[0].raw == ",".join(str(v) for k, v in row.items() if k != "_row")
    assert mapped["id"].tolist()[:3] == ["A1", "A2", "A3"]
    nps = dict(zip(mapped["id"], mapped["nps"]))
    assert nps["A1"] == 9 and pd.isna(nps["A4"]) and pd.isna(nps["A6"]) and nps["A7"] == 8
    assert warns["nps_invalid"] == 2 and warns["date_invalid"] == 1
    assert mapped["seg_city"].iloc[0] == "上海"


def test_mapping_without_id_makes_row_ids(csv_utf8):
    _, df, _ = read_all(csv_utf8)
    mapped, _, _ = map_columns(df, _cfg())
    assert mapped["id"].iloc[0] == "row-1"


def test_missing_column_is_one_clear_error():
    with pytest.raises(InputError, match="column '评论' .*input.columns.text"):
        check_columns(HEADER, _cfg().columns.model_copy(update={"text": "评论"}))


def test_parse_dates_mixed_formats():
    s = parse_dates(pd.Series(["2026-05-03 14:22:10", "2026/6/7", "2026年7月8日", "2026-13-45", "", "昨天"]))
    assert [str(d.date()) if not pd.isna(d) else None for d in s] == [
        "2026-05-03", "2026-06-07", "2026-07-08", None, None, None]


def test_parse_scores_scale():
    s = parse_scores(pd.Series(["10分", "N/A", "11", "-1", "7", ""]), 0, 10)
    assert s.tolist()[0] == 10 and s.tolist()[4] == 7
    assert s.isna().tolist() == [False, True, True, True, False, True]


def test_quarantined_raw_lines_keep_missing_and_typed_cells():
    df = pd.DataFrame({"_row": [1, 2, 3], "内容": ["好", None, float("nan")],
                       "日期": [pd.Timestamp("2024-01-02 08:00"), None, pd.NaT], "n": [1.0, float("nan"), 3.0]})
    _, rejected, _ = map_columns(df, _cfg())
    want = [",".join(str(v) for k, v in df.loc[i].items() if k != "_row") for i in (1, 2)]
    assert [r.raw for r in rejected] == want and [r.row for r in rejected] == [2, 3]
