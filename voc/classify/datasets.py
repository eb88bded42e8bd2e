"""Loaders for the labelled data in the shared folder beside the project (``../shared``).

The shared folder is read-only input: nothing from it is copied into the
project. ``$VOC_SHARED_DIR`` points elsewhere when it lives somewhere else.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from voc.errors import InputError
from voc.text.pii import masked_cells
from voc.taxonomy.evaluate import parse_labels

SENTIMENT_DOMAINS = ("hotel", "shopping")
POLARITIES = ("negative", "neutral", "positive")
_LABEL_ALIASES = {"0": "negative", "1": "positive", "neg": "negative", "pos": "positive", "neu": "neutral",
                  "正面": "positive", "负面": "negative", "中性": "neutral", "积极": "positive", "消极": "negative",
                  "好评": "positive", "差评": "negative", "中评": "neutral"}


def shared_dir() -> Path:
    """The shared folder: ``$VOC_SHARED_DIR`` if set, else ``<repo root>/../shared``."""
    env = os.environ.get("VOC_SHARED_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared"


# the shared corpora's sentiment training files (hotel and shopping reviews), named on model cards
SHARED_TRAIN = ("hotel_sentiment_train.csv", "shopping_sentiment_train.csv")


def shared_available() -> bool:
    """Whether the shared labelled data (``<shared>/data``) is present."""
    return (shared_dir() / "data").is_dir()


def read_text_csv(path: str | Path, required: Iterable[str],
                  missing_file: str = "labelled data file {p} does not exist; set VOC_SHARED_DIR to the shared "
                                      "folder") -> pd.DataFrame:
    """A CSV (UTF-8, UTF-8-BOM or GBK/GB18030, detected) read as strings, checked for its ``required`` columns
    (one clear error otherwise).

    ``missing_file`` is the error for an absent file, with ``{p}`` for its path.
    """
    from voc.io.encoding import read_table_detected

    p = Path(path)
    if not p.is_file():
        raise InputError(missing_file.format(p=p))
    df = read_table_detected(p, "file")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{p} lacks the column(s) {', '.join(missing)}; it needs {', '.join(required)} and has "
                         f"{masked_cells(df.columns) or 'no columns'}")
    return df


def norm_label(s: pd.Series) -> pd.Series:
    """Labels lower-cased and stripped; ``1``/``0``, ``pos``/``neg``/``neu``, 正面/负面/中性, 积极/消极 and
    好评/差评/中评 become ``positive``/``negative``/``neutral``."""
    s = s.str.strip().str.lower()
    return s.map(lambda v: _LABEL_ALIASES.get(v, v))


def sentiment_columns(df: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """``df`` with its ``text`` and ``label`` columns checked (a GUIDELINES file's ``sentiment`` column serves as
    ``label``); the error names the missing columns and lists the file's columns."""
    if "label" not in df.columns and "sentiment" in df.columns:
        df = df.rename(columns={"sentiment": "label"})
    missing = [c for c in ("text", "label") if c not in df.columns]
    if missing:
        raise InputError(f"{path} lacks column(s) {', '.join(missing)}; sentiment files need text,label (or "
                         f"text,sentiment as in GUIDELINES files) and it has {masked_cells(df.columns) or 'no columns'}")
    return df


def load_sentiment_csv(path: str | Path) -> pd.DataFrame:
    """A sentiment file with columns ``text`` and ``label`` (plus ``id``, ``category`` when present).

    A GUIDELINES-format file (a labelled ``voc label-queue`` file: ``sentiment`` instead of ``label``) works
    too. Labels are lower-cased; ``0``/``1`` become ``negative``/``positive``. Rows with empty text, and
    rows left unlabelled (an empty label), are dropped.
    """
    df = sentiment_columns(read_text_csv(path, ()), path)
    df["label"] = norm_label(df["label"])
    df = df[df["label"] != ""]
    bad = sorted(set(df["label"]) - set(POLARITIES))
    if bad:
        raise InputError(f"{path} has labels {bad[:5]} that are not negative/neutral/positive")
    return df[df["text"].str.strip() != ""].reset_index(drop=True)


def load_shared_sentiment(split: str, domains: Iterable[str] = SENTIMENT_DOMAINS) -> pd.DataFrame:
    """The shared ``{domain}_sentiment_{split}.csv`` files concatenated, with a ``domain`` column.

    Parameters
    ----------
    split : ``train`` or ``dev``.
    domains : which domains to load (``hotel``, ``shopping``).
    """
    if isinstance(domains, str):
        domains = (domains,)
    parts = []
    for d in domains:
        df = load_sentiment_csv(shared_dir() / "data" / f"{d}_sentiment_{split}.csv")
        df.insert(0, "domain", d)
        parts.append(df)
    if not parts:
        raise InputError("no domain given; pass at least one of " + ", ".join(SENTIMENT_DOMAINS))
    return pd.concat(parts, ignore_index=True)


def load_category_file(path: str | Path) -> pd.DataFrame:
    """A labelled category file (``id,text,sentiment,rater,touchpoint``, GUIDELINES.md format).

    Adds ``rater_labels`` and ``touchpoint_labels``: dicts ``{key: polarity}``.
    """
    df = read_text_csv(path, ("id", "text", "sentiment", "rater", "touchpoint"))
    df["sentiment"] = norm_label(df["sentiment"])
    df["rater_labels"] = df["rater"].map(parse_labels)
    df["touchpoint_labels"] = df["touchpoint"].map(parse_labels)
    return df


def hash_split(ids: Iterable, frac: float = 0.5, seed: int = 0) -> np.ndarray:
    """Boolean mask, True for about ``frac`` of ``ids``, stable across runs and machines.

    Each id is hashed (BLAKE2b of ``"{seed}:{id}"``) to a number in [0, 1).
    """
    def u(i) -> float:
        h = hashlib.blake2b(f"{seed}:{i}".encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(h, "big") / 2.0**64

    return np.fromiter((u(i) < frac for i in ids), dtype=bool)
