"""Text encoding detection for the dumps analysts get: UTF-8, UTF-8-BOM, GBK/GB18030."""

from __future__ import annotations

import codecs
from pathlib import Path

from voc.errors import InputError

SAMPLE_BYTES = 1 << 20

# Canonical names for what users write in configs.
_ALIASES = {
    "utf8": "utf-8", "utf-8": "utf-8", "utf8-sig": "utf-8-sig", "utf-8-sig": "utf-8-sig",
    "utf-8-bom": "utf-8-sig", "gbk": "gb18030", "gb2312": "gb18030", "gb18030": "gb18030",
    "cp936": "gb18030",
}


def normalize_encoding(name: str) -> str:
    """Canonical codec name; GBK and GB2312 widen to their superset GB18030."""
    key = name.strip().lower().replace("_", "-")
    enc = _ALIASES.get(key, key)
    try:
        codecs.lookup(enc)
    except LookupError:
        raise InputError(f"unknown encoding {name!r}; use auto, utf-8, utf-8-sig or gb18030") from None
    return enc


def detect_encoding(data: bytes) -> str:
    """Guess the encoding of a byte sample.

    Order: a UTF-8 BOM gives ``utf-8-sig``; bytes that decode as UTF-8
    (allowing a multibyte character cut at the end of the sample) give
    ``utf-8``; a mix (files concatenated from two exports) gives the encoding
    of most of its non-ASCII lines, UTF-8 or GB18030 (a superset of GBK and
    GB2312); otherwise charset-normalizer's best guess.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _decodes(data, "utf-8"):
        return "utf-8"
    mixed = _line_majority(data)
    if mixed:
        return mixed
    if _decodes(data, "gb18030"):
        return "gb18030"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise InputError("cannot detect the file's text encoding; set input.encoding (utf-8 or gb18030)")
    return normalize_encoding(best.encoding)


def _line_majority(data: bytes) -> str | None:
    """``utf-8`` or ``gb18030``: which one more of the sample's non-ASCII lines decode as strictly.

    A line valid in both counts as UTF-8 (GBK text is rarely valid UTF-8, the reverse is common).
    None when no line decodes as either.
    """
    lines = data.split(b"\n")
    if len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut mid-character
    votes = {"utf-8": 0, "gb18030": 0}
    for line in lines:
        if line.isascii():
            continue
        for enc in votes:
            try:
                line.decode(enc)
            except UnicodeDecodeError:
                continue
            votes[enc] += 1
            break
    if not any(votes.values()):
        return None
    return "utf-8" if votes["utf-8"] >= votes["gb18030"] else "gb18030"


def other_encoding(enc: str) -> str:
    """The encoding a stray line of a file in ``enc`` is tried with: GB18030 for UTF-8 files, else UTF-8."""
    return "gb18030" if enc in ("utf-8", "utf-8-sig") else "utf-8"


def _decodes(data: bytes, enc: str) -> bool:
    dec = codecs.getincrementaldecoder(enc)(errors="strict")
    try:
        dec.decode(data, final=False)  # a truncated trailing character is fine
        return True
    except UnicodeDecodeError:
        return False


def sniff_file_encoding(path: Path, configured: str = "auto") -> str:
    """The encoding to read ``path`` with: the configured one, or a detected one."""
    if configured and configured.lower() != "auto":
        return normalize_encoding(configured)
    with open(path, "rb") as f:
        return detect_encoding(f.read(SAMPLE_BYTES))


def read_table_detected(path: str | Path, what: str = "data file", nrows: int | None = None):
    """A whole labelled or unlabelled file read as strings: CSV or TSV in its detected encoding (UTF-8, UTF-8
    with BOM or GBK/GB18030), or the first sheet of an Excel workbook (annotators often save label-queue files
    from Excel).

    Parameters
    ----------
    path : the file (``.csv``, ``.tsv``, ``.txt``, ``.xlsx``, ``.xlsm``); it must exist (callers word their own
        "does not exist" error).
    what : how the error names the file, e.g. ``"labelled file"``.
    nrows : read only this many data rows (0: the header only).

    Returns
    -------
    pandas.DataFrame
        Every cell as text (empty cells, "NA" and "null" stay strings), column names stripped.

    Raises
    ------
    InputError
        The file is empty, not CSV/TSV/Excel, or not valid in its detected encoding.
    """
    import pandas as pd

    p = Path(path)
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            df = pd.read_excel(p, sheet_name=0, dtype=str, keep_default_na=False, nrows=nrows)
        except Exception as e:  # openpyxl raises many kinds for a broken or foreign file
            raise InputError(f"{what} {p} is not a readable Excel workbook ({type(e).__name__}); save it as "
                             ".xlsx or CSV") from None
        df.columns = [str(c).strip() for c in df.columns]
        return df
    enc = sniff_file_encoding(p)
    sep = "\t" if p.suffix.lower() == ".tsv" else ","
    try:
        # keep_default_na=False: a review that reads "NA" or "null" stays text.
        df = pd.read_csv(p, dtype=str, keep_default_na=False, encoding=enc, nrows=nrows, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{what} {p} is not a readable CSV ({enc}): {str(e).splitlines()[0]}; "
                         "save it as CSV in UTF-8 or GBK, or as .xlsx") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df
