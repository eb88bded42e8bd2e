"""Active learning: the comments a model is least sure about, exported for annotators (``voc label-queue``).

Uncertainty (higher = less sure), per comment:

- sentiment models: ``1 - max(p)`` over negative / neutral / positive, the probabilities the pipeline's
  sentiment stage gives (cleaning, emoji and boilerplate rules included);
- category models (``predict_proba`` with one presence probability per category): the largest
  ``1 - |2p - 1|`` over categories, i.e. how close the most doubtful category is to a coin flip.

The queue is written in the GUIDELINES format (``id,text,sentiment,rater,touchpoint``) with empty labels,
so a labelled queue can be fed back to ``voc train`` / ``voc eval`` as it is.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from voc.errors import InputError, ModelError

GUIDELINES_COLUMNS = ("id", "text", "sentiment", "rater", "touchpoint")


def read_texts(path: str | Path) -> pd.DataFrame:
    """``id`` and ``text`` of a CSV with a ``text`` column (ids default to ``row-<n>``); empty texts dropped."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"data file {p} does not exist; give a CSV with a 'text' column")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"data file {p} is not a readable UTF-8 CSV: {str(e).splitlines()[0]}") from None
    if "text" not in df.columns:
        raise InputError(f"data file {p} has no 'text' column; it has {', '.join(map(str, df.columns))}")
    ids = df["id"] if "id" in df.columns else pd.Series([f"row-{i + 1}" for i in range(len(df))])
    out = pd.DataFrame({"id": ids.astype(str), "text": df["text"].astype(str)})
    return out[out["text"].str.strip() != ""].drop_duplicates("text").reset_index(drop=True)


def uncertainty(model, texts: list[str]) -> np.ndarray:
    """Uncertainty of ``model`` on each text (see the module docstring)."""
    if not texts:
        return np.zeros(0)
    if hasattr(model, "map_clauses"):
        if not hasattr(model, "predict_proba"):
            raise ModelError("this category model gives no probabilities; use a trained model, not the rules")
        p = np.asarray(model.predict_proba(list(texts)), dtype=float)
        return (1.0 - np.abs(2.0 * p - 1.0)).max(axis=1) if p.size else np.zeros(len(texts))
    if not hasattr(model, "predict_proba"):
        raise ModelError("the model has no predict_proba; it cannot rank comments by uncertainty")
    from voc.classify.evaluate import predict_sentiment

    p = predict_sentiment(model, list(texts))
    return 1.0 - p.max(axis=1)


def label_queue(model, data: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` least certain comments of ``data`` (columns ``id``, ``text``), most uncertain first.

    Returns a GUIDELINES-format frame with empty labels and an ``uncertainty`` column (drop it to write).
    """
    if n < 1:
        raise InputError(f"--n must be at least 1, not {n}")
    u = uncertainty(model, data["text"].tolist())
    order = np.argsort(-u, kind="stable")[:n]
    out = data.iloc[order][["id", "text"]].copy()
    for c in GUIDELINES_COLUMNS[2:]:
        out[c] = ""
    out["uncertainty"] = np.round(u[order], 4)
    return out.reset_index(drop=True)


def write_queue(queue: pd.DataFrame, path: str | Path | None = None) -> str:
    """Write the queue as a GUIDELINES-format CSV (UTF-8 with BOM for Excel); returns the CSV text."""
    text = queue[list(GUIDELINES_COLUMNS)].to_csv(index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8-sig")
    return text


def run_label_queue(model_spec: str, data: str | Path, n: int, out: str | Path | None = None) -> pd.DataFrame:
    """Load ``model_spec`` (``lexicon`` or a model name/folder), rank ``data`` and write the queue to ``out``."""
    from voc.classify.registry import load_model

    if model_spec == "lexicon":
        from voc.classify.sentiment import load_sentiment_model

        model = load_sentiment_model("lexicon")
    elif model_spec == "rules":
        raise ModelError("the lexicon rules give no probabilities; use a trained category model or a sentiment model")
    else:
        model = load_model(model_spec)
    queue = label_queue(model, read_texts(data), n)
    if out is not None:
        write_queue(queue, out)
    return queue
