"""Apply a column mapping: source columns become voc's canonical fields.

Canonical columns: ``id``, ``source_row``, ``date``, ``channel``, ``source``,
``nps``, ``csat``, ``rating``, ``ces``, ``text`` and one ``seg_<name>`` per segment.
Scores outside their scale and unparseable dates become null (counted in the
run summary); rows without usable text are rejected.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from voc.config import ColumnMap, InputConfig
from voc.errors import InputError
from voc.io.readers import ROW, Rejected

CANONICAL = ["id", "source_row", "date", "channel", "source", "nps", "csat", "rating", "ces", "text"]
_NUM = re.compile(r"-?\d+(?:\.\d+)?")
_CN_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")


def check_columns(columns: list[str], cmap: ColumnMap) -> None:
    """Raise a clear error when a mapped column is not in the file."""
    present = set(columns)
    wanted = {"text": cmap.text}
    wanted.update({k: getattr(cmap, k) for k in ("id", "date", "channel", "source", "nps", "csat", "rating", "ces")
                   if getattr(cmap, k)})
    wanted.update({f"segments.{k}": v for k, v in cmap.segments.items()})
    for field, col in wanted.items():
        if col not in present:
            shown = ", ".join(columns[:12]) + (" …" if len(columns) > 12 else "")
            raise InputError(f"column {col!r} (input.columns.{field}) is not in the file; its columns are: {shown}")


def segment_columns(cmap: ColumnMap) -> list[str]:
    """Names of the stored segment columns for a mapping."""
    return [f"seg_{k}" for k in cmap.segments]


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse mixed date strings (ISO, 2026/6/7, 2026年7月8日, with or without time) to datetime64.

    Unparseable values become NaT.
    """
    s = values.fillna("").astype(str).str.strip()
    s = s.str.replace(_CN_DATE, lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", regex=True)
    return pd.to_datetime(s.where(s != ""), errors="coerce", format="mixed")


def parse_scores(values: pd.Series, lo: float, hi: float) -> pd.Series:
    """First number in each cell (``10分`` gives 10); values outside ``[lo, hi]`` become NaN."""
    s = values.fillna("").astype(str).str.extract(f"({_NUM.pattern})", expand=False)
    num = pd.to_numeric(s, errors="coerce")
    return num.where((num >= lo) & (num <= hi))


def map_columns(frame: pd.DataFrame, cfg: InputConfig) -> tuple[pd.DataFrame, list[Rejected], dict[str, int]]:
    """Map a raw chunk to canonical columns.

    Returns
    -------
    mapped : DataFrame with canonical columns (rows with text only).
    rejected : rows without any text, with reason ``empty text``.
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
        out["date"] = parse_dates(raw)
        warnings["date_invalid"] = int(((raw != "") & out["date"].isna()).sum())
    else:
        out["date"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for key in ("channel", "source"):
        col = getattr(cm, key)
        out[key] = frame[col].fillna("").astype(str).str.strip().replace("", None) if col else None
    for key, scale in (("nps", cfg.nps_scale), ("csat", cfg.csat_scale), ("rating", cfg.rating_scale),
                       ("ces", cfg.ces_scale)):
        col = getattr(cm, key)
        if col:
            raw = frame[col].fillna("").astype(str).str.strip()
            out[key] = parse_scores(raw, *scale)
            warnings[f"{key}_invalid"] = int(((raw != "") & out[key].isna()).sum())
        else:
            out[key] = np.nan
    for name, col in cm.segments.items():
        out[f"seg_{name}"] = frame[col].fillna("").astype(str).str.strip().replace("", None)
    text = frame[cm.text].fillna("").astype(str)
    out["text"] = text
    empty = text.str.strip() == ""
    rejected = []
    if empty.any():
        bad = frame.loc[empty.to_numpy()]
        cells = bad[[c for c in frame.columns if c != ROW]].itertuples(index=False, name=None)
        rejected = [Rejected("empty text", ",".join(map(str, line)), int(r))
                    for line, r in zip(cells, bad[ROW].tolist())]
    out = out[~empty].reset_index(drop=True)
    assert len(out) + len(rejected) == n
    return out[CANONICAL + segment_columns(cm)], rejected, warnings
