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
    df.loc[df["_row"] == 5, "NPS"] = ""  # A5: no text and no score
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


def test_a_score_without_text_is_kept(csv_utf8):
    """A respondent who gave a score but wrote nothing counts in the scores; only rows with neither go."""
    _, df, _ = read_all(csv_utf8)
    mapped, rejected, _ = map_columns(df, _cfg(id="编号", nps="NPS"))
    assert rejected == [] and len(mapped) == len(df)
    a5 = mapped[mapped["id"] == "A5"].iloc[0]
    assert a5["nps"] == 5 and a5["text"].strip() == ""
    # with no score column mapped, the same row has nothing to keep
    _, rejected, _ = map_columns(df, _cfg(id="编号"))
    assert [r.row for r in rejected] == [5]


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


# --- encodings that are forced, wrong or mixed -------------------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from voc.io.readers import DelimitedReader  # noqa: E402
from voc.io.records import split_records  # noqa: E402

LINES = ["1,好评,送餐很快", "2,差评,汤洒了一半", "3,中评,价格还行"]


def _mixed(tmp_path, name="mixed.csv", header="编号,标签,内容", gbk_line=1):
    """A UTF-8 CSV with one GBK line, as when two exports are concatenated."""
    data = header.encode("utf-8") + b"\n" + b"".join(
        (line.encode("gbk") if i == gbk_line else line.encode("utf-8")) + b"\n" for i, line in enumerate(LINES))
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_gbk_file_with_ascii_header_forced_to_utf8_loads_and_warns(tmp_path):
    p = tmp_path / "gbk.csv"
    p.write_bytes(("id,label,text\n" + "\n".join(LINES) + "\n").encode("gbk"))
    r, df, rejected = read_all(p, encoding="utf-8")
    assert df["text"].tolist() == [line.split(",")[2] for line in LINES] and rejected == []
    assert df[ROW].tolist() == [1, 2, 3]


def test_gbk_chunks_report_fallback_rows(tmp_path):
    p = tmp_path / "gbk.csv"
    p.write_bytes(("id,label,text\n" + "\n".join(LINES) + "\n").encode("gbk"))
    warns = [c.warnings for c in open_reader(p, encoding="utf-8")]
    assert sum(w.get("decoded_as_gb18030", 0) for w in warns) == 3


def test_gbk_file_with_chinese_header_forced_to_utf8_is_one_clear_error(csv_gbk):
    with pytest.raises(InputError, match=r"header of fb_gbk.csv is not valid utf-8 .*input.encoding=gb18030"):
        open_reader(csv_gbk, encoding="utf-8")


@pytest.mark.parametrize("header", ["编号,日期,内容", "编号,内容"])
def test_utf8_header_forced_to_gb18030_is_one_clear_error(tmp_path, header):
    # The first header fails strict GB18030; the second decodes as GB18030 mojibake but is valid UTF-8.
    p = _mixed(tmp_path, header=header)
    with pytest.raises(InputError, match=r"header of mixed.csv (is not valid|looks like UTF-8, not) gb18030.*"
                                         r"input.encoding=utf-8"):
        open_reader(p, encoding="gbk")


@pytest.mark.parametrize("encoding", ["auto", "utf-8"])
def test_utf8_file_with_one_gbk_line_loads(tmp_path, encoding):
    p = _mixed(tmp_path)
    assert detect_encoding(p.read_bytes()) == "utf-8"
    chunks = list(open_reader(p, encoding=encoding))
    df = pd.concat([c.frame for c in chunks], ignore_index=True)
    assert df["内容"].tolist() == [line.split(",")[2] for line in LINES]
    assert df[ROW].tolist() == [1, 2, 3] and not any(c.rejected for c in chunks)
    assert sum(c.warnings.get("decoded_as_gb18030", 0) for c in chunks) == 1


def test_mostly_gbk_file_detects_gb18030(tmp_path):
    data = "编号,内容\n".encode("gbk") + "1,好\n2,房间很干净\n".encode("gbk") + "3,快\n".encode("utf-8")
    assert detect_encoding(data) == "gb18030"


def test_undecodable_row_is_quarantined_with_reason(tmp_path):
    p = tmp_path / "bad_bytes.csv"
    p.write_bytes("编号,内容\n1,很好\n".encode() + b"2,\xff\xfe\xff\n" + "3,不错\n".encode())
    _, df, rejected = read_all(p)
    assert df["内容"].tolist() == ["很好", "不错"] and df[ROW].tolist() == [1, 3]
    assert [(r.reason, r.row) for r in rejected] == [("text is neither valid UTF-8 nor GB18030", 2)]
    assert rejected[0].raw.startswith("2,")


# --- row numbers of malformed and later rows ---------------------------------------------------------------

@pytest.mark.parametrize("block", [1 << 20, 7])
def test_malformed_rows_keep_exact_row_numbers_csv(tmp_path, block, monkeypatch):
    monkeypatch.setattr(DelimitedReader, "BLOCK", block)
    p = tmp_path / "rows.csv"
    p.write_bytes('a,b,text\r\n1,2,好\r\n"3",4,"多行\r\n评论，带逗号"\r\n5,6,房间,很,脏\r\n7,8,干净\r\n\r\n9,10\r\n'
                  '11,12,"说""不错"""\r\n'.encode("utf-8"))
    _, df, rejected = read_all(p, chunk_size=2)
    assert df["text"].tolist() == ["好", "多行\r\n评论，带逗号", "干净", '说"不错"']
    assert df[ROW].tolist() == [1, 2, 4, 6]
    assert [(r.row, r.reason) for r in rejected] == [
        (3, "malformed row: 5 fields, expected 3"), (5, "malformed row: 2 fields, expected 3")]
    assert rejected[0].raw == "5,6,房间,很,脏"


def test_malformed_rows_keep_exact_row_numbers_tsv(tmp_path):
    p = tmp_path / "rows.tsv"
    p.write_text('a\tb\ttext\n1\t2\t说"好\n3\t4\t多\t余\n5\t6\t"差\n7\n8\t9\t行\n', encoding="utf-8")
    _, df, rejected = read_all(p)
    assert df["text"].tolist() == ['说"好', '"差', "行"] and df[ROW].tolist() == [1, 3, 5]
    assert [r.row for r in rejected] == [2, 4]


def test_unclosed_quote_at_end_is_rejected(tmp_path):
    p = tmp_path / "open.csv"
    p.write_text('a,b\n1,好\n2,"没有\n结束\n', encoding="utf-8")
    _, df, rejected = read_all(p)
    assert df["b"].tolist() == ["好"]
    assert [(r.row, r.reason) for r in rejected] == [(2, "malformed row: a quote is never closed")]


_CELL = st.text(alphabet=["a", "好", ",", '"', "\n", "\r", " "], max_size=5)


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(st.lists(_CELL, min_size=1, max_size=4), max_size=8), raw=st.booleans(),
       block=st.sampled_from([3, 8, 64]))
def test_reader_agrees_with_python_csv(tmp_path_factory, lines, raw, block):
    """Records, fields and row numbers match Python's csv module, for quoted and stray-quote input."""
    import csv
    import io

    buf = io.StringIO(newline="")
    if raw:  # cells written as they are: stray quotes, bare line ends
        buf.write("x,y,z\n" + "\n".join(",".join(cells) for cells in lines) + "\n")
    else:
        w = csv.writer(buf)
        w.writerow(["x", "y", "z"])
        w.writerows(lines)
    text = buf.getvalue()
    try:
        want = [r for r in csv.reader(io.StringIO(text, newline=""), strict=False) if r][1:]
    except csv.Error:
        return
    p = tmp_path_factory.mktemp("h") / "h.csv"
    p.write_bytes(text.encode("utf-8"))
    r = open_reader(p)
    r.BLOCK = block
    frames, rejected = [], []
    for c in r:
        frames.append(c.frame)
        rejected += c.rejected
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["x", "y", "z", ROW])
    # A quote left open at the end of the file: Python's csv keeps the record, the reader rejects it.
    unclosed = split_records(text.encode("utf-8"), ord(","), True, final=True).unclosed
    ok = [len(row) == 3 for row in want]
    if unclosed:
        ok[-1] = False
    good = [(i + 1, row) for i, row in enumerate(want) if ok[i]]
    assert df[ROW].tolist() == [i for i, _ in good]
    assert df[["x", "y", "z"]].values.tolist() == [row for _, row in good]
    assert sorted(x.row for x in rejected) == [i + 1 for i in range(len(want)) if not ok[i]]


def test_split_records_waits_for_a_whole_record():
    sp = split_records('1,"a\n'.encode(), ord(","), True, final=False)
    assert sp.consumed == 0 and len(sp.starts) == 0
    sp = split_records(b"1,2\r", ord(","), True, final=False)  # CR may be half of CRLF
    assert sp.consumed == 0


def test_jsonl_row_is_the_line_number(tmp_path):
    p = tmp_path / "lines.jsonl"
    p.write_text('{"内容": "好"}\n\n{坏掉的\n{"内容": "差"}\n[1]\n{"内容": "中"}\n', encoding="utf-8")
    _, df, rejected = read_all(p, chunk_size=1)
    assert df[ROW].tolist() == [1, 4, 6]
    assert [(r.row, r.reason.split(":")[0]) for r in rejected] == [(3, "invalid JSON"),
                                                                   (5, "JSON value is not an object")]


# --- a title above the header (input.header_row) ------------------------------------------------------------

@pytest.mark.parametrize("block", [1 << 20, 7])
def test_csv_header_row_skips_a_title_and_keeps_row_numbers(tmp_path, block, monkeypatch):
    monkeypatch.setattr(DelimitedReader, "BLOCK", block)
    p = tmp_path / "title.csv"
    # line 1 a title, line 2 blank, line 3 a quoted two-line note, line 5 the header
    p.write_bytes('2026年NPS调研答卷导出\r\n\r\n"说明：\r\n0-10分",,\r\nid,nps,text\r\n'
                  'A1,9,信号好\r\nA2,3,网速,慢\r\nA3,0,"装机\r\n太慢"\r\n'.encode("utf-8"))
    r, df, rejected = read_all(p, chunk_size=2, header_row=5)
    assert r.columns == ["id", "nps", "text"] and not r.title_like
    assert df["text"].tolist() == ["信号好", "装机\r\n太慢"] and df[ROW].tolist() == [1, 3]
    assert [(x.row, x.reason) for x in rejected] == [(2, "malformed row: 4 fields, expected 3")]
    r = open_reader(p)
    assert r.columns == ["2026年NPS调研答卷导出"] and r.title_like
    with pytest.raises(InputError, match="line 4 of title.csv .input.header_row. is blank, inside a quoted"):
        open_reader(p, header_row=4)
    with pytest.raises(InputError, match="line 2 of title.csv"):
        open_reader(p, header_row=2)
    with pytest.raises(InputError, match="past the end"):
        open_reader(p, header_row=99)


@pytest.mark.parametrize("block", [1 << 20, 7])
def test_csv_blank_lines_above_the_header_by_default(tmp_path, block, monkeypatch):
    # header_row 1 (the default) takes the first record wherever it starts, as before input.header_row
    monkeypatch.setattr(DelimitedReader, "BLOCK", block)
    p = tmp_path / "blank.csv"
    p.write_text("\n\nid,text\n1,好\n2,差\n", encoding="utf-8")
    r, df, rejected = read_all(p)
    assert r.columns == ["id", "text"] and df["text"].tolist() == ["好", "差"] and df[ROW].tolist() == [1, 2]
    assert not rejected


def test_csv_header_row_beyond_the_first_block(tmp_path):
    p = tmp_path / "long.tsv"
    p.write_text("很长的标题" * 5000 + "\n" * 3 + "id\ttext\n1\t好\n", encoding="utf-8")
    _, df, rejected = read_all(p, header_row=4)
    assert df["text"].tolist() == ["好"] and df[ROW].tolist() == [1] and not rejected


def test_excel_header_row(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["2026年NPS调研答卷导出"])
    ws.append([])
    ws.append(["答卷编号", "推荐意愿", "意见"])
    ws.append(["A1", 9, "信号好"])
    ws.append([])
    ws.append(["A2", 3, "网速慢"])
    p = tmp_path / "title.xlsx"
    wb.save(p)
    r, df, _ = read_all(p, header_row=3)
    assert r.columns == ["答卷编号", "推荐意愿", "意见"] and df["意见"].tolist() == ["信号好", "网速慢"]
    assert df[ROW].tolist() == [1, 3]  # sheet row = row + header_row
    r = open_reader(p)
    assert r.title_like and r.columns[0] == "2026年NPS调研答卷导出"
    cmap = InputConfig(path=p, columns={"text": "意见"}).columns
    with pytest.raises(InputError, match=r"row 1 looks like a title \('2026年NPS调研答卷导出'\); set input.header_row"):
        check_columns(r.columns, cmap, r.title_like)
    with pytest.raises(InputError, match="row 2 of title.xlsx .input.header_row. is empty"):
        open_reader(p, header_row=2)


def test_header_row_is_for_csv_and_excel_only(jsonl_file):
    with pytest.raises(InputError, match="input.header_row applies to CSV, TSV and Excel files, not jsonl"):
        open_reader(jsonl_file, header_row=2)


@settings(max_examples=60, deadline=None)
@given(titles=st.lists(st.sampled_from(["标题", "", '"多行\n标题"', "导出时间,2026-06-28,"]), max_size=4),
       block=st.sampled_from([5, 64, 1 << 20]))
def test_title_lines_do_not_change_rows(tmp_path_factory, titles, block):
    body = 'id,text\n1,好\n2,"差,\n评"\n3,多,余\n4,行\n'
    folder = tmp_path_factory.mktemp("t")
    plain, titled = folder / "plain.csv", folder / "titled.csv"
    plain.write_text(body, encoding="utf-8")
    titled.write_text("".join(t + "\n" for t in titles) + body, encoding="utf-8")
    header_row = 1 + sum(t.count("\n") + 1 for t in titles)
    got = []
    for p, h in ((plain, 1), (titled, header_row)):
        r = open_reader(p, header_row=h)
        r.BLOCK = block
        chunks = list(r)
        got.append((pd.concat([c.frame for c in chunks]).values.tolist(),
                    [(x.row, x.raw) for c in chunks for x in c.rejected]))
    assert got[0] == got[1]


def test_missing_column_error_masks_personal_data(tmp_path):
    # a wrong input.header_row makes a data row the "header": the error lists its cells without the PII
    from voc.config import ColumnMap

    row = ["A1", "我的电话13812345678打不通", "2"]
    with pytest.raises(InputError) as e:
        check_columns(row, ColumnMap(text="text"))
    assert "13812345678" not in str(e.value) and "我的电话[手机号]打不通" in str(e.value)
    with pytest.raises(InputError) as e:
        check_columns(["联系我 13812345678", "", ""], ColumnMap(text="text"), title_like=True, header_row=2)
    assert "13812345678" not in str(e.value) and "input.header_row=3" in str(e.value)
    p = tmp_path / "noheader.csv"
    p.write_text("A1,我的电话13812345678打不通\n", encoding="utf-8")
    from voc.classify.active import read_texts

    with pytest.raises(InputError) as e:
        read_texts(p)
    assert "13812345678" not in str(e.value) and "[手机号]" in str(e.value)
