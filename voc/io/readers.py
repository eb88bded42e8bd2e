"""Chunked readers for CSV, TSV, XLSX, JSONL and Parquet dumps.

Every reader yields :class:`RawChunk` objects: a DataFrame of string columns
plus ``_row``, and the records it could not parse, each with a reason and its
row. ``_row`` is 1-based: for CSV/TSV the ordinal of the record after the
header (empty lines skipped, a quoted multi-line value is one record); for
JSONL the physical line number; for XLSX and Parquet the ordinal of the data
row. Memory stays bounded by the
chunk size whatever the file size.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from voc.errors import InputError
from voc.io.encoding import other_encoding, sniff_file_encoding
from voc.io.records import Split, split_records

ROW = "_row"
FORMATS = ("csv", "tsv", "xlsx", "jsonl", "parquet")
_EXT = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv", ".xlsx": "xlsx", ".xlsm": "xlsx",
        ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class Rejected:
    """A source record that cannot be used, and why."""

    reason: str
    raw: str
    row: int | None = None


@dataclass
class RawChunk:
    """A batch of source rows as strings, plus the records rejected while reading it and counts of
    things worth a warning (``decoded_as_gb18030``: rows read in the file's other encoding)."""

    frame: pd.DataFrame
    rejected: list[Rejected] = field(default_factory=list)
    warnings: dict[str, int] = field(default_factory=dict)


def infer_format(path: Path, fmt: str = "auto") -> str:
    """The reader to use for ``path``: the configured format or the file extension's."""
    if fmt != "auto":
        return fmt
    found = _EXT.get(path.suffix.lower())
    if found is None:
        raise InputError(
            f"unsupported input format {path.suffix or '(no extension)'!r} for {path.name}; "
            f"use one of .csv .tsv .xlsx .jsonl .parquet or set input.format"
        )
    return found


class Reader:
    """Base reader: iterate to get chunks; ``columns`` is the header; progress in ``done/total``."""

    def __init__(self, path: Path, chunk_size: int = 5000):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"input file {self.path} does not exist; check input.path")
        self.chunk_size = chunk_size
        self.columns: list[str] = []
        self.title_like = False  # the header row has a single filled cell, like a title above the real header
        self.total: int = 1
        self.done: int = 0

    def __iter__(self) -> Iterator[RawChunk]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _frame(self, rows: list[list[str]], start: int | list[int]) -> pd.DataFrame:
        """Rows as a frame; ``_row`` counts up from ``start``, or is ``start`` when it is a list of numbers."""
        df = pd.DataFrame(rows, columns=self.columns, dtype=object) if rows else pd.DataFrame(columns=self.columns)
        df[ROW] = start if isinstance(start, list) else range(start, start + len(df))
        return df


def _cell(v) -> str:
    """A cell value as text: None is empty, 10.0 is '10', dates are ISO."""
    if v is None:
        return ""
    if isinstance(v, float):
        if v != v:
            return ""
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, (datetime, date, time)):
        return v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


class DelimitedReader(Reader):
    """CSV/TSV, read in blocks of bytes: records are split on bytes, parsed by pyarrow, then decoded.

    ``_row`` is the ordinal of the record after the header (empty lines are not
    records; a quoted value with line breaks is one record). Malformed records
    (wrong number of fields, unclosed quote) and records whose text is neither
    valid in the file's encoding nor in the other of UTF-8/GB18030 are
    rejected with their reason and row; cells in the other encoding are
    decoded with it and counted in ``warnings`` as ``decoded_as_<encoding>``.
    """

    BLOCK = 1 << 20
    MAX_RECORD = 64 << 20

    def __init__(self, path: Path, chunk_size: int = 5000, encoding: str = "auto", delimiter: str = ",",
                 header_row: int = 1):
        super().__init__(path, chunk_size)
        self.header_row = header_row
        self.encoding = sniff_file_encoding(self.path, encoding)
        self.forced = bool(encoding) and encoding.lower() != "auto"
        self.delimiter = delimiter
        self.total = max(self.path.stat().st_size, 1)
        # Encodings that keep ASCII bytes as they are are parsed as bytes; others (UTF-16) are transcoded.
        base = "utf-8" if self.encoding == "utf-8-sig" else self.encoding  # the BOM is dropped in _blocks
        self._ascii_safe = '\n\r\t,"'.encode(base, "replace") == b'\n\r\t,"'
        self._enc = base if self._ascii_safe else "utf-8"
        self._other = other_encoding(self._enc)
        self.columns = self._header()

    def _blocks(self, size: int | None = None) -> Iterator[tuple[bytes, Split]]:
        """Consecutive buffers of whole records, each with its split; a UTF-8 BOM is dropped."""
        size = size or self.BLOCK
        with open(self.path, "rb") as f:
            if self._ascii_safe:
                read = lambda: f.read(size)  # noqa: E731
            else:
                text = codecs.getreader(self.encoding)(f, errors="replace")
                read = lambda: text.read(size).encode("utf-8")  # noqa: E731
            carry, first = b"", True
            while True:
                data = read()
                buf = carry + data
                if first:
                    buf = buf[3:] if buf.startswith(codecs.BOM_UTF8) else buf
                    first = False
                sp = split_records(buf, ord(self.delimiter), self.delimiter == ",", final=not data)
                if sp.consumed == 0 and data:
                    if len(buf) > self.MAX_RECORD:
                        raise InputError(f"{self.path.name} has a record longer than {self.MAX_RECORD >> 20} MiB "
                                         f"near byte {f.tell() - len(buf)}; a quote is probably never closed")
                    carry = buf
                    continue
                self.done = min(f.tell(), self.total)
                yield buf, sp
                if not data:
                    return
                carry = buf[sp.consumed:]

    def _header(self) -> list[str]:
        """The header's cells; sets ``_skip``, the number of records up to and including the header (the
        record that starts on line ``header_row``; the first record when ``header_row`` is 1), and
        ``title_like``."""
        raw, lines, records, found = b"", 1, 0, False  # lines: the line number at the block's start
        for buf, sp in self._blocks(1 << 14):
            starts = sp.starts.tolist()
            for k, start in enumerate(starts):
                line = lines + buf.count(b"\n", 0, start)
                # the default takes the first record wherever it starts (blank lines above it, as before)
                if line >= self.header_row or self.header_row == 1:
                    if line == self.header_row or self.header_row == 1:
                        raw, found = buf[start:sp.ends[k]], True
                    records += k
                    break
            else:
                records += len(starts)
                lines += buf.count(b"\n", 0, sp.consumed)
                continue
            break
        if self.header_row > 1 and not found:
            raise InputError(f"line {self.header_row} of {self.path.name} (input.header_row) is blank, inside a "
                             f"quoted value or past the end; set input.header_row to the line that names the columns")
        self._skip = records + 1
        text = self._decode_header(raw)
        quote = csv.QUOTE_MINIMAL if self.delimiter == "," else csv.QUOTE_NONE
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter, quoting=quote), None)
        if not first or not any(c.strip() for c in first):
            raise InputError(f"{self.path.name} is empty or has no header row; the first line must name the columns")
        self.title_like = sum(bool(c.strip()) for c in first) == 1
        return [c.strip() for c in first]

    def _decode_header(self, raw: bytes) -> str:
        """The header in the file's encoding; a clear error when it is not valid there."""
        encs = [self._enc] if self.forced else [self._enc, self._other]
        for enc in encs:
            try:
                text = raw.decode(enc)
            except UnicodeDecodeError:
                continue
            if "\ufffd" in text:
                continue
            if enc == "gb18030" and self.forced and not raw.isascii() and _valid(raw, "utf-8"):
                raise InputError(f"the header of {self.path.name} looks like UTF-8, not {self.encoding}; "
                                 f"set input.encoding=utf-8 or input.encoding=auto")
            return text
        hint = "input.encoding=auto"
        if self.forced:
            try:
                found = sniff_file_encoding(self.path, "auto")
            except InputError:
                found = None
            if found and found != self.encoding:
                hint = f"input.encoding={found} (detected) or input.encoding=auto"
        else:
            hint = "input.encoding (utf-8 or gb18030)"
        raise InputError(f"the header of {self.path.name} is not valid {self.encoding} text; set {hint}")

    def __iter__(self) -> Iterator[RawChunk]:
        ncols = len(self.columns)
        rejected: list[Rejected] = []
        warns: dict[str, int] = {}
        buf_frames: list[pd.DataFrame] = []
        n_buf = 0
        row = 0
        skip = self._skip  # the header and the records above it (a title line)
        for buf, sp in self._blocks():
            starts, ends, fields = sp.starts, sp.ends, sp.fields
            if skip and len(starts):
                k = min(skip, len(starts))
                starts, ends, fields = starts[k:], ends[k:], fields[k:]
                skip -= k
            rows = np.arange(row + 1, row + 1 + len(starts))
            row += len(starts)
            good = fields == ncols
            if sp.unclosed and len(good):
                good[-1] = False
            for i in np.flatnonzero(~good).tolist():
                reason = (f"malformed row: {fields[i]} fields, expected {ncols}" if fields[i] != ncols
                          else "malformed row: a quote is never closed")
                rejected.append(Rejected(reason, self._raw(buf[starts[i]:ends[i]]), int(rows[i])))
            if good.any():
                df = self._parse(buf, starts[good], ends[good], rows[good], good.all(), rejected, warns)
                buf_frames.append(df)
                n_buf += len(df)
            while n_buf >= self.chunk_size:
                chunk, buf_frames, n_buf = _take(buf_frames, self.chunk_size)
                out, rejected, w, warns = rejected, [], warns, {}
                yield RawChunk(chunk, out, w)
        self.done = self.total
        if n_buf or rejected:
            chunk = pd.concat(buf_frames, ignore_index=True) if buf_frames else self._frame([], 1)
            yield RawChunk(chunk, rejected, warns)

    def _raw(self, data: bytes) -> str:
        """A record's bytes as text for the quarantine file, whatever their encoding."""
        for enc in (self._enc, self._other):
            try:
                return data.decode(enc)
            except UnicodeDecodeError:
                pass
        return data.decode(self._enc, errors="replace")

    def _parse(self, buf: bytes, starts: np.ndarray, ends: np.ndarray, rows: np.ndarray, contiguous: bool,
               rejected: list[Rejected], warns: dict[str, int]) -> pd.DataFrame:
        """Parse well-formed records with pyarrow as bytes, then decode them; undecodable rows are rejected."""
        import pyarrow.csv as pcsv

        names = [f"c{i}" for i in range(len(self.columns))]
        data = buf[starts[0]:ends[-1]] if contiguous else b"\n".join(
            buf[s:e] for s, e in zip(starts.tolist(), ends.tolist()))
        try:
            table = pcsv.read_csv(
                pa.BufferReader(data),
                read_options=pcsv.ReadOptions(column_names=names, use_threads=True, block_size=len(data) + 1),
                parse_options=pcsv.ParseOptions(delimiter=self.delimiter,
                                                quote_char='"' if self.delimiter == "," else False,
                                                newlines_in_values=self.delimiter == ","),
                convert_options=pcsv.ConvertOptions(column_types={n: pa.binary() for n in names},
                                                    strings_can_be_null=False, quoted_strings_can_be_null=False))
        except pa.ArrowInvalid as e:  # the splitter and pyarrow disagree: a bug, but say where
            raise InputError(f"cannot split {self.path.name} into rows near row {rows[0]} ({str(e)[:80]}); "
                             f"check its quotes") from None
        if table.num_rows != len(rows):
            raise InputError(f"cannot split {self.path.name} into rows near row {rows[0]}; check its quotes")
        bad, other = np.zeros(len(rows), bool), np.zeros(len(rows), bool)
        fast = _utf8 if self._enc == "utf-8" else _ascii
        cols = [fast(col) for col in table.columns]  # vectorised where the bytes allow; None: cell by cell
        raw = {j: table.columns[j].to_pylist() for j, c in enumerate(cols) if c is None}
        row_utf8 = None
        if self._enc == "gb18030" and raw:
            # a UTF-8 row in a GB18030 file: judged on the whole row, since short cells alone are ambiguous
            joined = [b" ".join(r) for r in zip(*(raw.get(j) or c.to_pylist() for j, c in enumerate(table.columns)))]
            row_utf8 = np.array([not j.isascii() and _utf8_chinese(j, min_wide=3) is not None for j in joined])
        for j, values in raw.items():
            cols[j] = pa.array(self._decode_cells(values, bad, other, row_utf8), pa.string())
        df = pa.table(cols, names=names).to_pandas()
        df.columns = self.columns
        df[ROW] = rows
        if bad.any():
            reason = _undecodable(self._enc, self._other)
            for i in np.flatnonzero(bad).tolist():
                rejected.append(Rejected(reason, self._raw(buf[starts[i]:ends[i]]), int(rows[i])))
            df = df[~bad].reset_index(drop=True)
        n_other = int((other & ~bad).sum())
        if n_other:
            key = f"decoded_as_{self._other}"
            warns[key] = warns.get(key, 0) + n_other
        return df

    def _decode_cells(self, values: list[bytes], bad: np.ndarray, other: np.ndarray,
                      row_utf8: np.ndarray | None = None) -> list[str | None]:
        """Cells decoded one by one: the file's encoding, else the other one; ``bad``/``other`` mark rows.

        ``row_utf8`` marks rows of a GB18030 file that read as UTF-8 Chinese: their cells are taken as UTF-8
        first, since UTF-8 text nearly always decodes as (garbled) GB18030 too, while GBK text of three or
        more characters is almost never valid UTF-8 with CJK in it.
        """
        out: list[str | None] = []
        gb = self._enc == "gb18030"
        for i, v in enumerate(values):
            if (row_utf8 is not None and row_utf8[i]) or (gb and not v.isascii() and _utf8_cjk_only(v)):
                try:
                    out.append(v.decode("utf-8"))
                    other[i] = True
                    continue
                except UnicodeDecodeError:
                    pass
            try:
                text = v.decode(self._enc)
                # GB18030 maps many UTF-8 byte pairs to private-use characters (差评 -> 宸\ue1bf瘎): such a
                # cell that is valid UTF-8 is UTF-8
                if self._enc == "gb18030" and _PUA.search(text):
                    try:
                        text, other[i] = v.decode("utf-8"), True
                    except UnicodeDecodeError:
                        pass
                out.append(text)
                continue
            except UnicodeDecodeError:
                pass
            try:
                out.append(v.decode(self._other))
                other[i] = True
            except UnicodeDecodeError:
                out.append(None)
                bad[i] = True
        return out


_NAMES = {"utf-8": "UTF-8", "gb18030": "GB18030"}


def _undecodable(enc: str, other: str) -> str:
    """The quarantine reason of a record valid in neither of a file's two encodings."""
    return f"text is neither valid {_NAMES.get(enc, enc)} nor {_NAMES.get(other, other)}"
_PUA = re.compile("[\ue000-\uf8ff]")  # private-use characters: no real text in a review has them


def _utf8_cjk_only(v: bytes) -> bool:
    """True when ``v`` is valid UTF-8 whose non-ASCII characters are all CJK (ideographs, CJK and full-width
    punctuation), two ideographs at least: short UTF-8 Chinese (好评) in a GB18030 file. No GBK text of 1-10
    random GB2312 characters passed this in 300,000 tries."""
    try:
        text = v.decode("utf-8")
    except UnicodeDecodeError:
        return False
    ideographs = 0
    for c in text:
        if c < "\u0080":
            continue
        if "\u4e00" <= c <= "\u9fff":
            ideographs += 1
        elif not ("\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef"):
            return False
    return ideographs >= 2


def _utf8_chinese(v: bytes, min_wide: int = 1) -> str | None:
    """``v`` decoded as UTF-8 when it is valid UTF-8 whose non-ASCII text is mostly CJK-range characters, at
    least ``min_wide`` of them (what UTF-8 Chinese looks like, and GBK bytes that happen to be valid UTF-8 do
    not: those give 2-byte characters such as U+05D0 for 中); else None."""
    try:
        text = v.decode("utf-8")
    except UnicodeDecodeError:
        return None
    wide = sum(1 for c in text if c >= "\u0800")
    mid = sum(1 for c in text if "\u0080" <= c < "\u0800")
    return text if wide >= min_wide and mid * 4 <= wide else None


def _valid(data: bytes, enc: str) -> bool:
    try:
        data.decode(enc)
        return True
    except UnicodeDecodeError:
        return False


def _utf8(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The column as strings when all its bytes are valid UTF-8 (vectorised), else None."""
    try:
        return pc.cast(col, pa.string())
    except pa.ArrowInvalid:
        return None


def _ascii(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The column as strings when it is all ASCII (valid in every supported encoding), else None."""
    text = _utf8(col)
    if text is None or not pc.all(pc.string_is_ascii(text)).as_py() in (True, None):
        return None
    return text


def _take(buf: list[pd.DataFrame], n: int) -> tuple[pd.DataFrame, list[pd.DataFrame], int]:
    """Split the first ``n`` rows off a list of frames."""
    whole = pd.concat(buf, ignore_index=True)
    head, tail = whole.iloc[:n].reset_index(drop=True), whole.iloc[n:].reset_index(drop=True)
    return head, ([tail] if len(tail) else []), len(tail)


class ExcelReader(Reader):
    """XLSX through openpyxl's read-only (streaming) mode."""

    def __init__(self, path: Path, chunk_size: int = 5000, sheet: str | int | None = None, header_row: int = 1):
        super().__init__(path, chunk_size)
        from openpyxl import load_workbook

        try:
            self._wb = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises several types for a bad file
            raise InputError(f"cannot open {self.path.name} as an Excel workbook ({type(e).__name__})") from None
        self.sheets: list[str] = list(self._wb.sheetnames)
        if sheet is None:
            self._ws = self._wb.worksheets[0]
        elif isinstance(sheet, int):
            if sheet >= len(self._wb.worksheets):
                raise InputError(f"{self.path.name} has no sheet number {sheet}")
            self._ws = self._wb.worksheets[sheet]
        else:
            if sheet not in self._wb.sheetnames:
                raise InputError(f"{self.path.name} has no sheet {sheet!r}; sheets are {self._wb.sheetnames}")
            self._ws = self._wb[sheet]
        self._rows = self._ws.iter_rows(min_row=header_row, values_only=True)
        header = next(self._rows, None)
        if not header or not any(h is not None and _cell(h).strip() for h in header):
            if header_row > 1:
                raise InputError(f"row {header_row} of {self.path.name} (input.header_row) is empty; set "
                                 f"input.header_row to the row that names the columns")
            raise InputError(f"{self.path.name} is empty or has no header row")
        self.title_like = sum(bool(_cell(h).strip()) for h in header) == 1
        self.columns = [_cell(h).strip() or f"column{i + 1}" for i, h in enumerate(header)]
        self.total = max((self._ws.max_row or 2) - header_row, 1)

    def __iter__(self) -> Iterator[RawChunk]:
        n = len(self.columns)
        rows: list[list[str]] = []
        numbers: list[int] = []  # data row numbers (sheet row - 1): blank rows count, so they match the sheet
        for number, values in enumerate(self._rows, start=1):
            cells = [_cell(v) for v in values[:n]]
            if not any(cells):
                continue  # blank rows in sheets are formatting, not data
            rows.append(cells + [""] * (n - len(cells)))
            numbers.append(number)
            if len(rows) >= self.chunk_size:
                self.done += len(rows)
                yield RawChunk(self._frame(rows, numbers))
                rows, numbers = [], []
        self.done = self.total
        if rows:
            yield RawChunk(self._frame(rows, numbers))
        self._wb.close()


class JsonlReader(Reader):
    """One JSON object per line; bad lines are rejected with their reason and line number.

    ``_row`` is the physical line number in the file (1-based), for parsed and rejected lines alike. A line
    that is not valid in the file's encoding is decoded with the other of UTF-8/GB18030 (counted in
    ``warnings`` as ``decoded_as_<encoding>``), or rejected when it is valid in neither.
    """

    def __init__(self, path: Path, chunk_size: int = 5000, encoding: str = "auto"):
        super().__init__(path, chunk_size)
        self.encoding = sniff_file_encoding(self.path, encoding)
        self.total = max(self.path.stat().st_size, 1)
        self.columns = self._scan_columns()

    def _scan_columns(self) -> list[str]:
        """Column names from the keys of the first objects (later new keys are ignored)."""
        cols: dict[str, None] = {}
        with open(self.path, encoding=self.encoding, errors="replace") as f:
            for i, line in enumerate(f):
                if i >= 1000:
                    break
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    cols.update(dict.fromkeys(obj))
        if not cols:
            raise InputError(f"{self.path.name} has no JSON objects in its first lines; expected one object per line")
        return list(cols)

    def _lines(self, warns: dict[str, int]) -> Iterator[tuple[int, str, str | None]]:
        """``(line number, text, problem)`` of each non-blank line; ``problem`` says why a line that is valid
        in neither UTF-8 nor GB18030 cannot be used (None for usable lines)."""
        enc = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        if enc not in _NAMES:  # UTF-16 and other wide encodings: lines are found after decoding
            with open(self.path, encoding=self.encoding, errors="replace") as f:
                for lineno, line in enumerate(f, start=1):
                    self.done = min(self.done + len(line), self.total)
                    if line.strip():
                        yield lineno, line, None
            return
        other = other_encoding(enc)
        with open(self.path, "rb") as fb:
            for lineno, raw in enumerate(fb, start=1):
                self.done += len(raw)
                if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8):]
                if not raw.strip():
                    continue
                if enc == "gb18030" and not raw.isascii():  # a UTF-8 line in a GB18030 file (see DelimitedReader)
                    text = _utf8_chinese(raw, min_wide=3)
                    if text is not None:
                        warns["decoded_as_utf-8"] = warns.get("decoded_as_utf-8", 0) + 1
                        yield lineno, text, None
                        continue
                try:
                    yield lineno, raw.decode(enc), None
                    continue
                except UnicodeDecodeError:
                    pass
                try:
                    line = raw.decode(other)
                except UnicodeDecodeError:
                    yield lineno, raw.decode(enc, "replace").rstrip("\r\n"), _undecodable(enc, other)
                    continue
                warns[f"decoded_as_{other}"] = warns.get(f"decoded_as_{other}", 0) + 1
                yield lineno, line, None

    def __iter__(self) -> Iterator[RawChunk]:
        """Chunks whose ``_row`` is the physical line number (1-based; blank lines count but are skipped)."""
        rows: list[list[str]] = []
        nums: list[int] = []
        rejected: list[Rejected] = []
        warns: dict[str, int] = {}
        for lineno, line, problem in self._lines(warns):
            if problem is not None:
                rejected.append(Rejected(problem, line, lineno))
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                rejected.append(Rejected(f"invalid JSON: {e.msg}", line.rstrip("\r\n"), lineno))
                continue
            if not isinstance(obj, dict):
                rejected.append(Rejected("JSON value is not an object", line.rstrip("\r\n"), lineno))
                continue
            rows.append([_cell(obj.get(c)) for c in self.columns])
            nums.append(lineno)
            if len(rows) >= self.chunk_size:
                yield RawChunk(self._frame(rows, nums), rejected, warns)
                rows, nums, rejected, warns = [], [], [], {}
        self.done = self.total
        if rows or rejected or warns:
            yield RawChunk(self._frame(rows, nums), rejected, warns)


class ParquetReader(Reader):
    """Parquet, batch by batch."""

    def __init__(self, path: Path, chunk_size: int = 5000):
        super().__init__(path, chunk_size)
        import pyarrow.parquet as pq

        try:
            self._pf = pq.ParquetFile(self.path)
        except Exception as e:
            raise InputError(f"cannot open {self.path.name} as Parquet ({type(e).__name__})") from None
        self.columns = list(self._pf.schema_arrow.names)
        self.total = max(self._pf.metadata.num_rows, 1)

    def __iter__(self) -> Iterator[RawChunk]:
        start = 1
        for batch in self._pf.iter_batches(batch_size=self.chunk_size):
            df = batch.to_pandas()
            df = pd.DataFrame({c: [_cell(v) for v in df[c].tolist()] for c in self.columns}, dtype=object)
            df[ROW] = range(start, start + len(df))
            start += len(df)
            self.done = start - 1
            yield RawChunk(df)


def open_reader(path: Path, fmt: str = "auto", chunk_size: int = 5000, encoding: str = "auto",
                sheet: str | int | None = None, header_row: int = 1) -> Reader:
    """Open the right chunked reader for a dump.

    ``header_row`` (CSV, TSV and Excel) is the 1-based line or sheet row that names the columns; rows above
    it are skipped, and data rows (``_row``) count from the one after it.

    Raises
    ------
    InputError
        When the file is missing, its format is unsupported or it cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file {path} does not exist; check input.path")
    kind = infer_format(path, fmt)
    if header_row != 1 and kind not in ("csv", "tsv", "xlsx"):
        raise InputError(f"input.header_row applies to CSV, TSV and Excel files, not {kind}; remove it")
    if kind == "csv":
        return DelimitedReader(path, chunk_size, encoding, ",", header_row)
    if kind == "tsv":
        return DelimitedReader(path, chunk_size, encoding, "\t", header_row)
    if kind == "xlsx":
        return ExcelReader(path, chunk_size, sheet, header_row)
    if kind == "jsonl":
        return JsonlReader(path, chunk_size, encoding)
    return ParquetReader(path, chunk_size)
