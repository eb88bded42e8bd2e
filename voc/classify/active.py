"""Active learning: the comments a model is least sure about, exported for annotators (``voc label-queue``).

Uncertainty (higher = less sure), per comment:

- sentiment models: ``1 - max(p)`` over negative / neutral / positive, the probabilities the pipeline's
  sentiment stage gives (cleaning, emoji and boilerplate rules included);
- category models (``predict_proba`` with one presence probability per category): the largest
  ``1 - |2p - 1|`` over categories, i.e. how close the most doubtful category is to a coin flip.

The queue is written in the GUIDELINES format (``id,text,sentiment,rater,touchpoint``) with empty labels,
so a labelled queue can be fed back to ``voc train`` / ``voc eval`` as it is.

Before scoring, every comment goes through the pipeline's cleaning with the default clean config
(:class:`~voc.config.CleanConfig`): NFKC, PII masking (a phone number becomes ``[手机号]``, as in the
pipeline's store), traditional to simplified, emoji removed (their polarity still counts for sentiment).
Comments that are empty, boilerplate (默认好评) or meaningless (。。。, 好) after cleaning, and duplicates
after cleaning, are skipped: they waste annotator time. The queue holds the cleaned, masked text only.

The data file is a CSV in UTF-8 (with or without BOM) or GBK/GB18030, detected from its bytes; the text
column is ``text`` unless ``--text-column`` names another (评论内容), the id column ``id`` (or
``--id-column``), else ids are ``row-<n>``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voc.config import CleanConfig
from voc.errors import InputError, ModelError
from voc.text.pii import masked_cells

GUIDELINES_COLUMNS = ("id", "text", "sentiment", "rater", "touchpoint")


def read_texts(path: str | Path, text_column: str | None = None, id_column: str | None = None,
               what: str = "data file") -> pd.DataFrame:
    """Read the ``id`` and raw ``text`` of a CSV, in whatever encoding it has.

    Parameters
    ----------
    path : CSV file; UTF-8, UTF-8 with BOM or GBK/GB18030 (detected with
        :func:`voc.io.encoding.sniff_file_encoding`).
    text_column : column holding the comments (default ``text``).
    id_column : column holding the ids (default ``id`` when there is one, else ``row-<n>``, n counting
        data rows from 1).
    what : how errors name the file (``"unlabelled file"`` for ``voc train --unlabelled``).

    Returns
    -------
    pandas.DataFrame
        Columns ``id`` and ``text`` (not cleaned yet); empty texts and exact duplicates dropped.

    Raises
    ------
    InputError
        The file is missing or unreadable, or a column is missing (the message lists the file's columns).
    """
    from voc.io.encoding import read_table_detected

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {p} does not exist; give a CSV, TSV or .xlsx file with a text column")
    df = read_table_detected(p, what)
    cols = masked_cells(df.columns)
    if text_column is None:
        if "text" not in df.columns:
            raise InputError(f"{what} {p} has no 'text' column; its columns are {cols}; "
                             "name the comment column with --text-column")
        text_column = "text"
    elif text_column not in df.columns:
        raise InputError(f"{what} {p} has no column {text_column!r} (given by --text-column); "
                         f"its columns are {cols}")
    if id_column is not None and id_column not in df.columns:
        raise InputError(f"{what} {p} has no column {id_column!r} (given by --id-column); "
                         f"its columns are {cols}")
    if id_column is None and "id" in df.columns:
        id_column = "id"
    ids = df[id_column] if id_column else pd.Series([f"row-{i + 1}" for i in range(len(df))])
    out = pd.DataFrame({"id": ids.astype(str).to_numpy(), "text": df[text_column].astype(str).to_numpy()})
    return out[out["text"].str.strip() != ""].drop_duplicates("text").reset_index(drop=True)


def clean_texts(data: pd.DataFrame, config: CleanConfig | None = None) -> pd.DataFrame:
    """Clean and PII-mask comments as the pipeline does; keep only those worth labelling.

    Parameters
    ----------
    data : frame with ``id`` and ``text`` columns (raw or already cleaned text).
    config : clean config (default: the pipeline's default :class:`~voc.config.CleanConfig`).

    Returns
    -------
    pandas.DataFrame
        Columns ``id``, ``text`` (cleaned and masked) and ``emoji_score``, without comments that are
        empty, boilerplate or meaningless after cleaning, nor duplicates after cleaning (first kept).
    """
    from voc.text.stages import CleanStage

    if data.empty:
        return pd.DataFrame({"id": [], "text": [], "emoji_score": []})
    batch = CleanStage(config)(data[["id", "text"]].reset_index(drop=True))
    keep = (batch["quality"] == "ok") & (batch["text"].str.strip() != "")
    batch = batch[keep].drop_duplicates("text")
    return batch[["id", "text", "emoji_score"]].reset_index(drop=True)


def uncertainty(model, texts: list[str], emoji_score: Sequence[float] | None = None) -> np.ndarray:
    """Uncertainty of ``model`` on each text (see the module docstring).

    Parameters
    ----------
    model : sentiment model, or category model with ``predict_proba``.
    texts : comments (sentiment models clean them through the pipeline's clean stage first).
    emoji_score : emoji polarity of each comment, for texts already cleaned and filtered by
        :func:`clean_texts` (their emoji removed); used by sentiment models as the pipeline uses it.
        Default: ``texts`` are raw and are cleaned here.

    Returns
    -------
    numpy.ndarray
        One uncertainty per text, higher = less sure.
    """
    if not texts:
        return np.zeros(0)
    if hasattr(model, "map_clauses"):
        if not hasattr(model, "predict_proba"):
            raise ModelError("this category model gives no probabilities; use a trained model, not the rules")
        p = np.asarray(model.predict_proba(list(texts)), dtype=float)
        return (1.0 - np.abs(2.0 * p - 1.0)).max(axis=1) if p.size else np.zeros(len(texts))
    if not hasattr(model, "predict_proba"):
        raise ModelError("the model has no predict_proba; it cannot rank comments by uncertainty")
    if emoji_score is None:
        from voc.classify.evaluate import predict_sentiment

        p = predict_sentiment(model, list(texts))
    else:  # texts cleaned and filtered by clean_texts: the sentiment stage takes them as they are
        from voc.classify.sentiment import SentimentStage

        batch = pd.DataFrame({"text": list(texts), "quality": "ok",
                              "emoji_score": np.asarray(emoji_score, dtype=float)})
        p = SentimentStage(model)(batch)[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    return 1.0 - p.max(axis=1)


def label_queue(model, data: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` least certain comments of ``data``, most uncertain first.

    Parameters
    ----------
    model : sentiment model, or category model with ``predict_proba``.
    data : frame with ``id`` and ``text`` columns; cleaned, masked and filtered with :func:`clean_texts`
        here, so only masked text is scored and returned.
    n : how many comments to return (at most).

    Returns
    -------
    pandas.DataFrame
        GUIDELINES-format frame with empty labels and an ``uncertainty`` column (drop it to write).
    """
    if n < 1:
        raise InputError(f"--n must be at least 1, not {n}")
    data = clean_texts(data)
    u = uncertainty(model, data["text"].tolist(), data["emoji_score"].tolist())
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


def run_label_queue(model_spec: str, data: str | Path, n: int, out: str | Path | None = None,
                    text_column: str | None = None, id_column: str | None = None) -> pd.DataFrame:
    """Load a model, rank the comments of a CSV and write the queue.

    Parameters
    ----------
    model_spec : ``lexicon``, or a model name or folder.
    data : CSV of comments (see :func:`read_texts`).
    n : how many comments to queue.
    out : CSV to write (UTF-8 with BOM); None writes nothing.
    text_column, id_column : columns of ``data`` (see :func:`read_texts`).

    Returns
    -------
    pandas.DataFrame
        The queue (see :func:`label_queue`).
    """
    from voc.classify.registry import load_model

    if model_spec == "lexicon":
        from voc.classify.sentiment import load_sentiment_model

        model = load_sentiment_model("lexicon")
    elif model_spec == "rules":
        raise ModelError("the lexicon rules give no probabilities; use a trained category model or a sentiment model")
    else:
        model = load_model(model_spec)
    queue = label_queue(model, read_texts(data, text_column, id_column), n)
    if out is not None:
        write_queue(queue, out)
    return queue
