"""Chunked readers for CSV, TSV, XLSX, JSONL and Parquet dumps.

Every reader yields :class:`RawChunk` objects: a DataFrame of string columns
plus ``_row`` (the 1-based ordinal of the data row in the file), and the
records it could not parse, each with a reason. Memory stays bounded by the
chunk size whatever the file size.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow as pa

from voc.errors import InputError
from voc.io.encoding import sniff_file_encoding

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
    """A batch of source rows as strings, plus the records rejected while reading it."""

    frame: pd.DataFrame
    rejected: list[Rejected] = field(default_factory=list)


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
        self.total: int = 1
        self.done: int = 0

    def __iter__(self) -> Iterator[RawChunk]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _frame(self, rows: list[list[str]], start: int) -> pd.DataFrame:
        df = pd.DataFrame(rows, columns=self.columns, dtype=object) if rows else pd.DataFrame(columns=self.columns)
        df[ROW] = range(start, start + len(df))
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
    """CSV/TSV through pyarrow's streaming reader; malformed lines are rejected, not fatal."""

    def __init__(self, path: Path, chunk_size: int = 5000, encoding: str = "auto", delimiter: str = ","):
        super().__init__(path, chunk_size)
        self.encoding = sniff_file_encoding(self.path, encoding)
        self.delimiter = delimiter
        self.total = max(self.path.stat().st_size, 1)
        self.columns = self._header()

    def _header(self) -> list[str]:
        with open(self.path, encoding=self.encoding, errors="replace", newline="") as f:
            quote = csv.QUOTE_MINIMAL if self.delimiter == "," else csv.QUOTE_NONE
            first = next(csv.reader(f, delimiter=self.delimiter, quoting=quote), None)
        if not first or not any(c.strip() for c in first):
            raise InputError(f"{self.path.name} is empty or has no header row; the first line must name the columns")
        return [c.strip() for c in first]

    def __iter__(self) -> Iterator[RawChunk]:
        import pyarrow.csv as pcsv

        rejected: list[Rejected] = []
        ncols = len(self.columns)

        def on_invalid(row) -> str:
            rejected.append(Rejected(f"malformed row: {row.actual_columns} fields, expected {row.expected_columns}",
                                     row.text or ""))
            return "skip"

        enc = "utf8" if self.encoding in ("utf-8", "utf-8-sig") else self.encoding
        names = [f"c{i}" for i in range(ncols)]
        f = open(self.path, "rb")
        try:
            reader = pcsv.open_csv(
                f,
                read_options=pcsv.ReadOptions(encoding=enc, column_names=names, skip_rows=1, block_size=1 << 20),
                parse_options=pcsv.ParseOptions(
                    delimiter=self.delimiter, quote_char='"' if self.delimiter == "," else False,
                    newlines_in_values=self.delimiter == ",", invalid_row_handler=on_invalid),
                convert_options=pcsv.ConvertOptions(
                    column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                    quoted_strings_can_be_null=False),
            )
            buf: list[pd.DataFrame] = []
            n_buf = 0
            start = 1
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as e:
                    raise InputError(f"cannot parse {self.path.name} as {self.encoding} text ({str(e)[:80]}); "
                                     f"set input.encoding") from None
                df = batch.to_pandas()
                df.columns = self.columns
                buf.append(df)
                n_buf += len(df)
                self.done = f.tell()
                while n_buf >= self.chunk_size:
                    chunk, buf, n_buf = _take(buf, self.chunk_size)
                    chunk[ROW] = range(start, start + len(chunk))
                    start += len(chunk)
                    out, rejected = rejected, []
                    yield RawChunk(chunk, out)
            self.done = self.total
            if n_buf or rejected:
                chunk = pd.concat(buf, ignore_index=True) if buf else pd.DataFrame(columns=self.columns)
                chunk[ROW] = range(start, start + len(chunk))
                yield RawChunk(chunk, rejected)
        finally:
            f.close()


def _take(buf: list[pd.DataFrame], n: int) -> tuple[pd.DataFrame, list[pd.DataFrame], int]:
    """Split the first ``n`` rows off a list of frames."""
    whole = pd.concat(buf, ignore_index=True)
    head, tail = whole.iloc[:n].reset_index(drop=True), whole.iloc[n:].reset_index(drop=True)
    return head, ([tail] if len(tail) else []), len(tail)


class ExcelReader(Reader):
    """XLSX through openpyxl's read-only (streaming) mode."""

    def __init__(self, path: Path, chunk_size: int = 5000, sheet: str | int | None = None):
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
        self._rows = self._ws.iter_rows(values_only=True)
        header = next(self._rows, None)
        if not header or not any(h is not None for h in header):
            raise InputError(f"{self.path.name} is empty or has no header row")
        self.columns = [_cell(h).strip() or f"column{i + 1}" for i, h in enumerate(header)]
        self.total = max((self._ws.max_row or 2) - 1, 1)

    def __iter__(self) -> Iterator[RawChunk]:
        n = len(self.columns)
        rows: list[list[str]] = []
        start = 1
        for values in self._rows:
            cells = [_cell(v) for v in values[:n]]
            if not any(cells):
                continue  # trailing blank rows in sheets are formatting, not data
            rows.append(cells + [""] * (n - len(cells)))
            if len(rows) >= self.chunk_size:
                self.done += len(rows)
                yield RawChunk(self._frame(rows, start))
                start += len(rows)
                rows = []
        self.done = self.total
        if rows:
            yield RawChunk(self._frame(rows, start))
        self._wb.close()


class JsonlReader(Reader):
    """One JSON object per line; bad lines are rejected with their reason."""

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

    def __iter__(self) -> Iterator[RawChunk]:
        rows: list[list[str]] = []
        rejected: list[Rejected] = []
        start = 1
        with open(self.path, "rb") as fb:
            f = io.TextIOWrapper(fb, encoding=self.encoding, errors="replace")
            for line in f:
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    rejected.append(Rejected(f"invalid JSON: {e.msg}", line.rstrip("\r\n")))
                    continue
                if not isinstance(obj, dict):
                    rejected.append(Rejected("JSON value is not an object", line.rstrip("\r\n")))
                    continue
                rows.append([_cell(obj.get(c)) for c in self.columns])
                if len(rows) >= self.chunk_size:
                    self.done = fb.tell()
                    yield RawChunk(self._frame(rows, start), rejected)
                    start += len(rows)
                    rows, rejected = [], []
        self.done = self.total
        if rows or rejected:
            yield RawChunk(self._frame(rows, start), rejected)


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
                sheet: str | int | None = None) -> Reader:
    """Open the right chunked reader for a dump.

    Raises
    ------
    InputError
        When the file is missing, its format is unsupported or it cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file {path} does not exist; check input.path")
    kind = infer_format(path, fmt)
    if kind == "csv":
        return DelimitedReader(path, chunk_size, encoding, ",")
    if kind == "tsv":
        return DelimitedReader(path, chunk_size, encoding, "\t")
    if kind == "xlsx":
        return ExcelReader(path, chunk_size, sheet)
    if kind == "jsonl":
        return JsonlReader(path, chunk_size, encoding)
    return ParquetReader(path, chunk_size)
