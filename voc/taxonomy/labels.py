"""Extra gold labels stored without their text, joined back to the shared data at training time.

The shared review files may not be copied into the repository, so annotations of their comments are kept
as ``file,id,text_sha1,sentiment,rater,touchpoint`` rows (``models/labels/extra_gold.csv``): ``file`` names
a CSV under the data folder, ``id`` its row, and ``text_sha1`` the first 12 hex digits of the SHA-1 of the
comment's text, which guards against a changed data file. :func:`load_extra_gold` returns the labels in
GUIDELINES format (``id,text,sentiment,rater,touchpoint``) with a ``domain`` column.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from voc.classify.datasets import read_text_csv
from voc.errors import InputError

LABEL_COLUMNS = ("file", "id", "text_sha1", "sentiment", "rater", "touchpoint")


def text_sha1(text: str, n: int = 12) -> str:
    """The first ``n`` hex digits of the SHA-1 of ``text`` (UTF-8)."""
    return hashlib.sha1(str(text).encode("utf-8")).hexdigest()[:n]


def domain_of(file_name: str, row_id: str = "") -> str:
    """A coarse domain: the id prefix before ``-`` (``hotel-…``), else the file's first word."""
    if "-" in str(row_id):
        return str(row_id).split("-", 1)[0]
    return Path(file_name).stem.split("_")[0]


def load_extra_gold(path: str | Path, data_dir: str | Path, strict: bool = False) -> pd.DataFrame:
    """Labels of ``path`` joined to the texts of the CSVs they name under ``data_dir``.

    Parameters
    ----------
    path : a label file with columns ``file,id,text_sha1,sentiment,rater,touchpoint``.
    data_dir : the folder holding the named CSVs (each with ``id`` and ``text`` columns).
    strict : raise when a row's text is missing or its hash differs; by default such rows are dropped.

    Returns a DataFrame with ``id,text,sentiment,rater,touchpoint,domain``, in the label file's order.
    """
    p = Path(path)
    labels = read_text_csv(p, LABEL_COLUMNS, "label file {p} does not exist")
    texts: dict[tuple[str, str], str] = {}
    for name in sorted(set(labels["file"])):
        src = Path(data_dir) / name
        if not src.is_file():
            if strict:
                raise InputError(f"label file {p} names {name}, which is not in {data_dir}")
            continue
        df = read_text_csv(src, ("id", "text"))
        want = set(labels.loc[labels["file"] == name, "id"])
        for i, t in zip(df["id"], df["text"]):
            if i in want:
                texts[(name, i)] = t
    rows, bad = [], 0
    for r in labels.itertuples(index=False):
        t = texts.get((r.file, r.id))
        if t is None or text_sha1(t) != r.text_sha1:
            bad += 1
            continue
        rows.append({"id": r.id, "text": t, "sentiment": r.sentiment, "rater": r.rater,
                     "touchpoint": r.touchpoint, "domain": domain_of(r.file, r.id)})
    if bad and strict:
        raise InputError(f"{bad} row(s) of {p} have no matching text (missing id or changed text) in {data_dir}")
    return pd.DataFrame(rows, columns=["id", "text", "sentiment", "rater", "touchpoint", "domain"])
