"""Apply a column mapping: source columns become voc's canonical fields.

Canonical columns: ``id``, ``source_row``, ``date``, ``channel``, ``source``,
``nps``, ``csat``, ``rating``, ``ces``, ``text`` and one ``seg_<name>`` per segment.
Scores outside their scale and unparseable dates become null (counted in the
run summary); rows with neither text nor a score are rejected.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from voc.config import ColumnMap, InputConfig
from voc.errors import InputError
from voc.io.readers import ROW, Rejected
from voc.text.pii import mask_pii, masked_cells

CANONICAL = ["id", "source_row", "date", "channel", "source", "nps", "csat", "rating", "ces", "text"]
SCORE_COLUMNS = ("nps", "csat", "rating", "ces")
_NUM = re.compile(r"-?\d+(?:\.\d+)?")
_CN_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
# a time followed by a UTC offset or zone name: 12:00Z, 12:00:00+08:00, 12:00 +0800, 12:00+08, 12:00 UTC,
# 12:00 GMT+8 (not a date such as 05-09-2026)
_TZ_SUFFIX = re.compile(r"(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*"
                        r"(?:(?P<z>[zZ])|(?P<name>UTC|GMT)?\s*(?:(?P<sign>[+-])(?P<h>\d{1,2}):?(?P<m>\d{2})?)?)$")


# CST in Chinese exports is China Standard Time (Java's Date.toString(): Sat Jun 28 23:00:00 CST 2026), not
# US Central: written as +08:00, with a trailing year moved before the time
_CST = re.compile(r"(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:CST|北京时间)(?:\s+(\d{4}))?\s*$")
_TZ_HINT = re.compile(r"[zZ+]|UTC|GMT|:\d\d(?:\.\d+)?\s*-")  # what every offset form above contains


def _offset(m: re.Match) -> str:
    """The time of a :data:`_TZ_SUFFIX` match with its offset written ``+HH:MM`` (UTC and Z are +00:00)."""
    if m["sign"]:
        return f"{m[1]}{m['sign']}{int(m['h']):02d}:{m['m'] or '00'}"
    return f"{m[1]}+00:00" if (m["z"] or m["name"]) else m[0]


def check_columns(columns: list[str], cmap: ColumnMap, title_like: bool = False, header_row: int = 1) -> None:
    """Raise a clear error when a mapped column is not in the file.

    Parameters
    ----------
    columns : the file's header.
    cmap : the configured column map.
    title_like : the header row has one filled cell, like a title (2026年NPS调研答卷导出) above the real
        header: the error then suggests ``input.header_row``.
    header_row : the configured header row (suggested plus one).
    """
    present = set(columns)
    wanted = {"text": cmap.text}
    wanted.update({k: getattr(cmap, k) for k in ("id", "date", "channel", "source", "nps", "csat", "rating", "ces")
                   if getattr(cmap, k)})
    wanted.update({f"segments.{k}": v for k, v in cmap.segments.items()})
    for field, col in wanted.items():
        if col not in present:
            if title_like:
                title = mask_pii(next((c for c in columns if c and not re.fullmatch(r"column\d+", c)), ""))[0]
                raise InputError(f"column {col!r} (input.columns.{field}) is not in the file, whose row "
                                 f"{header_row} looks like a title ({title!r}); set input.header_row to the row "
                                 f"that names the columns (e.g. input.header_row={header_row + 1})")
            shown = masked_cells(columns, 12)
            raise InputError(f"column {col!r} (input.columns.{field}) is not in the file; its columns are: {shown}")


def segment_columns(cmap: ColumnMap) -> list[str]:
    """Names of the stored segment columns for a mapping."""
    return [f"seg_{k}" for k in cmap.segments]


def _nfkc(s: pd.Series) -> pd.Series:
    """NFKC (full-width digits to ASCII) of the values that are not plain ASCII already."""
    wide = ~s.str.isascii()
    if wide.any():
        s = s.copy()
        s[wide] = s[wide].str.normalize("NFKC")
    return s


# a date cell holding a plain number: Excel serial days from 5 digits (20000-79999: 1954-10-03 to 2119-01-04,
# a fraction is the time of day), Unix epoch seconds from 10 digits and milliseconds from 13 (2001-09-09 to
# 2099); 8 digits stay yyyymmdd (20260628) and every other number goes to the text parser
_PLAIN_NUMBER = re.compile(r"(\d+)(?:\.\d+)?")
EXCEL_SERIAL = (20000, 80000)
EPOCH_END = 4102444800  # 2100-01-01 UTC
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _numeric_dates(s: pd.Series, timezone: str) -> tuple[pd.Series, pd.Series]:
    """Dates of the cells of ``s`` that are Excel serial days or Unix epoch seconds / milliseconds, and the
    mask of those cells (see :data:`_PLAIN_NUMBER`); epoch instants become wall-clock time in ``timezone``."""
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    whole = s.str.fullmatch(_PLAIN_NUMBER.pattern, na=False)
    if not whole.any():
        return out, whole
    digits = s.str.extract(_PLAIN_NUMBER, expand=False).str.len().where(whole, 0)
    num = pd.to_numeric(s.where(whole), errors="coerce")
    serial = whole & (num >= EXCEL_SERIAL[0]) & (num < EXCEL_SERIAL[1])
    secs = whole & (digits == 10) & (num < EPOCH_END)
    millis = whole & (digits == 13) & (num < EPOCH_END * 1000)
    if serial.any():
        days = pd.to_timedelta(num[serial], unit="D").dt.round("s")
        out[serial] = _EXCEL_EPOCH + days
    for mask, unit in ((secs, "s"), (millis, "ms")):
        if mask.any():
            t = pd.to_datetime(num[mask], unit=unit, utc=True).dt.tz_convert(timezone).dt.tz_localize(None)
            out[mask] = t.dt.round("ms" if unit == "ms" else "s")
    return out, serial | secs | millis


def parse_dates(values: pd.Series, timezone: str = "Asia/Shanghai") -> pd.Series:
    """Parse mixed date strings (ISO, 2026/6/7, 2026年7月8日, full-width digits, with or without time) to
    naive datetime64.

    A value with a UTC offset (``2026-06-28T23:00:00+08:00``, ``…Z``, ``… CST``: China Standard Time) becomes
    the wall-clock time in ``timezone``, so a review posted just before midnight in China stays on its day.
    A plain number is an Excel serial day (``46090`` is 2026-03-09, from 20000 to 79999), Unix epoch seconds
    (10 digits) or milliseconds (13 digits; both before 2100, as wall-clock time in ``timezone``), or ``yyyymmdd``
    (``20260628``). Unparseable values become NaT.
    """
    s = _nfkc(values.fillna("").astype(str)).str.strip()
    numeric, is_num = _numeric_dates(s, timezone)
    if is_num.any():
        return _parse_text_dates(s.where(~is_num, ""), timezone).where(~is_num, numeric)
    return _parse_text_dates(s, timezone)


def _parse_text_dates(s: pd.Series, timezone: str) -> pd.Series:
    """:func:`parse_dates` of the (NFKC-normalised, stripped) values that are not plain numbers."""
    s = s.str.replace(_CN_DATE, lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", regex=True)
    s = s.where(s != "")
    cst = s.str.contains("CST|北京时间", na=False)
    if cst.any():
        s = s.where(~cst, s[cst].str.replace(r"^北京时间\s*(.+)$", r"\1 北京时间", regex=True))  # written first
        s = s.where(~cst, s[cst].str.replace(_CST, lambda m: f"{m[2] + ' ' if m[2] else ''}{m[1]}+08:00",
                                                regex=True))
    # only values that can carry an offset go through the (slower) offset pattern
    maybe = s.str.contains(_TZ_HINT, na=False)
    if not maybe.any():
        return _to_datetime(s, timezone)
    found = s[maybe].str.extract(_TZ_SUFFIX).reindex(s.index)
    aware = found["z"].notna() | found["name"].notna() | found["sign"].notna()
    if not aware.any():
        return _to_datetime(s, timezone)
    s = s.where(~aware, s[aware].str.replace(_TZ_SUFFIX, _offset, regex=True))
    out = _to_datetime(s.where(~aware), timezone)
    local = _to_datetime(s.where(aware), timezone, utc=True).dt.tz_convert(timezone).dt.tz_localize(None)
    return out.where(~aware, local).astype("datetime64[ns]")


def _to_datetime(s: pd.Series, timezone: str, utc: bool = False) -> pd.Series:
    """``pd.to_datetime`` with unparseable values as NaT; value by value when the batch cannot be parsed
    as one (an offset form the patterns above miss, such as ``+0000 (UTC)``), so one odd value never stops
    a run; a value that turns out to carry an offset is converted to ``timezone``."""
    try:
        out = pd.to_datetime(s, errors="coerce", format="mixed", utc=utc)
    except (ValueError, TypeError, OverflowError):
        out = None
    if out is None or (not utc and getattr(out.dt, "tz", None) is not None):
        def one(v):
            try:
                t = pd.to_datetime(v, errors="coerce", utc=utc)
            except (ValueError, TypeError, OverflowError):
                return pd.NaT
            if not utc and t is not pd.NaT and t.tzinfo is not None:
                return t.tz_convert(timezone).tz_localize(None)
            return t
        out = pd.to_datetime(pd.Series([one(v) for v in s], index=s.index), utc=utc)
    return out


# a whole cell written in Chinese numerals (九分, 十分, 零分, 两星); only whole cells, since 十分 inside a comment
# (十分满意) means "very" and 一 is in 一般
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9, "十": 10}
_CN_SCORE = re.compile(r"\s*([零〇一二两三四五六七八九十])\s*(?:分|星|颗星)?\s*")
_FULL_MARKS = re.compile(r"\s*满分\s*")
INTEGER_SCORES = ("nps", "csat", "ces")  # per-respondent answers on a whole-number scale; rating may be 4.5 stars


def parse_scores(values: pd.Series, lo: float, hi: float, integer: bool = False) -> pd.Series:
    """First number in each cell (``10分`` and full-width ``９`` work), the number of filled stars
    (``★★★☆☆`` is 3), a whole cell in Chinese numerals (``九分``, ``十分``, ``零分``) or ``满分`` (``hi``).

    Parameters
    ----------
    values : the raw cells.
    lo, hi : the scale; values outside it become NaN.
    integer : when True a value with a fraction (``9.5``) becomes NaN (``9.0`` is 9).
    """
    raw = _nfkc(values.fillna("").astype(str))
    s = raw.str.extract(f"({_NUM.pattern})", expand=False)
    stars = raw.str.fullmatch(r"\s*[★☆]+\s*")
    if stars.any():
        s = s.where(~stars, raw.str.count("★").astype(str))
    if not raw.str.isascii().all():
        cn = raw.str.fullmatch(_CN_SCORE.pattern)
        if cn.any():
            s = s.where(~cn, raw[cn].str.extract(_CN_SCORE.pattern, expand=False).map(_CN_DIGITS).astype(str))
        full = raw.str.fullmatch(_FULL_MARKS.pattern)
        if full.any():
            s = s.where(~full, str(hi))
    num = pd.to_numeric(s, errors="coerce")
    ok = (num >= lo) & (num <= hi)
    if integer:
        ok &= num == np.floor(num)
    return num.where(ok)


def _raw_lines(frame: pd.DataFrame) -> list[str]:
    """Source cells of each row joined by commas (how a quarantined row is shown)."""
    cells = frame[[c for c in frame.columns if c != ROW]].itertuples(index=False, name=None)
    return [",".join(map(str, line)) for line in cells]


DUPLICATE_ID = "duplicate id (an earlier row has the same id)"


class DuplicateIds:
    """Rows whose id was already seen in this input (earlier in the chunk or in an earlier chunk).

    Ids are remembered as 64-bit hashes (about 70 bytes per distinct id in a Python set: 70 MB for a million
    comments). Empty ids are never duplicates: they get a row-based id. Rows with empty text neither count
    nor are checked: they go to the quarantine anyway, and a later copy with text must not be lost.

    Parameters
    ----------
    column : the source column mapped to ``id``.
    text : the source column mapped to ``text``.
    """

    def __init__(self, column: str, text: str | None = None):
        self.column = column
        self.text = text
        self.seen: set[int] = set()

    def split(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Rejected]]:
        """``frame`` without its duplicate-id rows, and those rows as rejected (reason :data:`DUPLICATE_ID`)."""
        ids = frame[self.column].fillna("").astype(str).str.strip()
        has = (ids != "").to_numpy().copy()
        if self.text is not None:
            has &= (frame[self.text].fillna("").astype(str).str.strip() != "").to_numpy()
            ids = ids.where(has, "")  # rows left out must not mark later rows as duplicates
        h = pd.util.hash_pandas_object(ids, index=False).to_numpy()
        seen = self.seen
        dup = np.fromiter((x in seen for x in h.tolist()), dtype=bool, count=len(h))
        dup |= ids.duplicated().to_numpy()
        dup &= has
        seen.update(h[has & ~dup].tolist())
        if not dup.any():
            return frame, []
        bad = frame.loc[dup]
        rejected = [Rejected(DUPLICATE_ID, line, int(r)) for line, r in zip(_raw_lines(bad), bad[ROW].tolist())]
        return frame.loc[~dup].reset_index(drop=True), rejected


def map_columns(frame: pd.DataFrame, cfg: InputConfig) -> tuple[pd.DataFrame, list[Rejected], dict[str, int]]:
    """Map a raw chunk to canonical columns.

    Returns
    -------
    mapped : DataFrame with canonical columns: rows with text, and rows with a score but no text.
    rejected : rows with neither text nor a score, with reason ``empty text``.
    warnings : counts of values nulled (``date_invalid``, ``nps_invalid`` ...).
    """
    cm = cfg.columns
    n = len(frame)
    out = pd.DataFrame(index=frame.index)
    rows = frame[ROW].astype("int64")
    out["source_row"] = rows
    if cm.id:
        ids = frame[cm.id].fillna("").astype(str).str.strip()
        out["id"] = ids.where(ids != "", "row-" + rows.astype(str))
    else:
        out["id"] = "row-" + rows.astype(str)
    warnings: dict[str, int] = {}
    if cm.date:
        raw = frame[cm.date].fillna("").astype(str).str.strip()
        out["date"] = parse_dates(raw, cfg.timezone)
        warnings["date_invalid"] = int(((raw != "") & out["date"].isna()).sum())
    else:
        out["date"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for key in ("channel", "source"):
        col = getattr(cm, key)
        out[key] = frame[col].fillna("").astype(str).str.strip().replace("", None) if col else None
    for key in SCORE_COLUMNS:
        scale = getattr(cfg, f"{key}_scale")
        col = getattr(cm, key)
        if col:
            raw = frame[col].fillna("").astype(str).str.strip()
            out[key] = parse_scores(raw, *scale, integer=key in INTEGER_SCORES)
            warnings[f"{key}_invalid"] = int(((raw != "") & out[key].isna()).sum())
        else:
            out[key] = np.nan
    for name, col in cm.segments.items():
        out[f"seg_{name}"] = frame[col].fillna("").astype(str).str.strip().replace("", None)
    text = frame[cm.text].fillna("").astype(str)
    out["text"] = text
    # a respondent who scored without writing still counts in the scores (quality ``empty`` downstream)
    scored = out[list(SCORE_COLUMNS)].notna().any(axis=1)
    empty = (text.str.strip() == "") & ~scored
    rejected = []
    if empty.any():
        bad = frame.loc[empty.to_numpy()]
        rejected = [Rejected("empty text", line, int(r)) for line, r in zip(_raw_lines(bad), bad[ROW].tolist())]
    out = out[~empty].reset_index(drop=True)
    assert len(out) + len(rejected) == n
    return out[CANONICAL + segment_columns(cm)], rejected, warnings
