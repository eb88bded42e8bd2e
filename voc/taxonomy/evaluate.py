"""Evaluate a category mapper against a labelled file in GUIDELINES format.

The labelled file is a CSV with columns ``id,text,sentiment,rater,touchpoint``;
``rater`` and ``touchpoint`` hold ``;``-separated ``key:polarity`` pairs.
Comments go through the pipeline's own preprocessing (clean → quality check →
clauses → clause sentiment scores → ``map_clauses``/``map_batch``), so what
is evaluated is what runs. Any mapper with ``map_clauses`` (the lexicon rules,
a trained :class:`~voc.taxonomy.learned.CategoryModel`) can be evaluated.

Detection is scored per category (precision, recall, F1), micro- and macro-
averaged; ``polarity_accuracy`` is the share of correctly found categories
whose polarity is also right.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from voc.errors import InputError
from voc.taxonomy.model import POLARITIES, Taxonomy, load_taxonomy
from voc.text.pii import masked_cells

REQUIRED_COLUMNS = ("id", "text")


_LABEL_SEP = re.compile(r"[;,]")


def parse_labels(s) -> dict[str, str]:
    """``'delivery:negative;price_value:positive'`` → ``{'delivery': 'negative', 'price_value': 'positive'}``.

    Empty, missing (None/NaN) and blank values give ``{}``. A key without a polarity is ``neutral``.
    Full-width punctuation (``delivery：negative；…``) and commas between labels are accepted.
    """
    if s is None or (isinstance(s, float) and np.isnan(s)):
        return {}
    out: dict[str, str] = {}
    for part in _LABEL_SEP.split(unicodedata.normalize("NFKC", str(s))):
        part = part.strip()
        if not part:
            continue
        key, _, pol = part.partition(":")
        key, pol = key.strip(), (pol.strip().lower() or "neutral")
        if not key:
            raise InputError(f"label {part!r} has no category key; write labels as key:polarity")
        if pol not in POLARITIES:
            raise InputError(f"label {part!r} has polarity {pol!r}; use one of {', '.join(POLARITIES)}")
        out[key] = pol
    return out


def load_gold(path: str | Path, taxonomies: tuple[str, ...] | list[str] | None = None) -> pd.DataFrame:
    """Read a GUIDELINES-format CSV (UTF-8, UTF-8 with BOM or GBK/GB18030, detected as for every input
    file); every column as text, empty cells as ``''``.

    ``taxonomies`` names label columns that must be present (e.g. ``('rater',)``); by default at least
    one of ``rater``/``touchpoint`` must be.
    """
    from voc.io.encoding import read_table_detected

    p = Path(path)
    if not p.is_file():
        raise InputError(f"labelled file {p} does not exist; give the path of a CSV with columns "
                         "id,text,sentiment,rater,touchpoint")
    df = read_table_detected(p, "labelled file")
    need = list(REQUIRED_COLUMNS) + list(taxonomies or [])
    missing = [c for c in need if c not in df.columns]
    if not taxonomies and not ({"rater", "touchpoint"} & set(df.columns)):
        missing.append("rater or touchpoint")
    if missing:
        raise InputError(f"labelled file {p} lacks column(s) {', '.join(missing)}; "
                         f"it has {masked_cells(df.columns)} (see GUIDELINES.md for the format)")
    return df


def check_label_keys(gold_df: pd.DataFrame, taxonomy, column: str | None = None,
                     source: str | Path | None = None) -> list[dict[str, str]]:
    """The parsed labels of a taxonomy's column, checked against the taxonomy's categories.

    Parameters
    ----------
    gold_df : GUIDELINES-format labels (see :func:`load_gold`).
    taxonomy : a :class:`Taxonomy`, a bundled name or a YAML path.
    column : the label column (default: the taxonomy's name).
    source : the file the labels came from, named in the error.

    Returns
    -------
    One ``{category: polarity}`` dict per row.

    Raises
    ------
    InputError
        A label names a category the taxonomy lacks, or a polarity that is not negative/neutral/positive.
    """
    tax: Taxonomy = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
    col = column or tax.name
    gold = [parse_labels(s) for s in gold_df[col].tolist()]
    unknown = sorted({k for g in gold for k in g} - set(tax.keys))
    if unknown:
        where = f"{source}: " if source is not None else ""
        raise InputError(f"{where}column {col!r} uses categories {unknown} that taxonomy {tax.name!r} does not "
                         f"define; fix the labels or use a taxonomy with these categories")
    return gold


@dataclass
class Prepared:
    """Comments after the pipeline's preprocessing: clauses and clause scores (empty for non-``ok`` texts)."""

    texts: list[str]
    clauses: list[list[str]]
    scores: list[list[float]]
    quality: list[str]
    seconds: float


def prepare(texts, sentiment_model=None, clean_config=None) -> Prepared:
    """Clean, quality-check, split into clauses and score clauses exactly as the pipeline does.

    ``sentiment_model`` is any fitted model with ``predict_proba``/``classes_`` (the lexicon model by default).
    Comments whose quality is not ``ok`` (boilerplate, meaningless, empty) get no clauses, as in
    :class:`~voc.taxonomy.stage.CategoryStage`.
    """
    from voc.classify.lexicon import LexiconSentiment
    from voc.classify.sentiment import align_proba
    from voc.text.boilerplate import classify_quality
    from voc.text.normalize import TextCleaner
    from voc.text.segment import split_clauses

    t0 = time.perf_counter()
    model = sentiment_model if sentiment_model is not None else LexiconSentiment().fit()
    cleaner = TextCleaner(clean_config)
    cfg = cleaner.config
    cleaned_texts, clauses, quality = [], [], []
    for raw in texts:
        c = cleaner.clean("" if raw is None else str(raw))
        q = ("empty" if len(c.text) < max(cfg.min_chars, 1) and not c.emojis
             else classify_quality(c.text, c.emojis, cfg.boilerplate_extra))
        cleaned_texts.append(c.text)
        quality.append(q)
        clauses.append(split_clauses(c.text) if q == "ok" else [])
    flat = [c for cl in clauses for c in cl]
    if flat:
        p = align_proba(model, np.asarray(model.predict_proba(flat)))
        flat_scores = (p[:, 2] - p[:, 0]).round(4).tolist()
    else:
        flat_scores = []
    scores, pos = [], 0
    for cl in clauses:
        scores.append(flat_scores[pos:pos + len(cl)])
        pos += len(cl)
    return Prepared(cleaned_texts, clauses, scores, quality, time.perf_counter() - t0)


def map_all(mapper, clauses: list[list[str]], scores: list[list[float]]) -> list:
    """Mentions per comment, with the mapper's batch method when it has one (as CategoryStage does)."""
    if hasattr(mapper, "map_batch"):
        return mapper.map_batch(clauses, scores)
    return [mapper.map_clauses(c, s) for c, s in zip(clauses, scores)]


def predicted_labels(mapper, prep: Prepared) -> list[dict[str, str]]:
    """``{category: polarity}`` per prepared comment, as ``mapper`` finds them."""
    return [{m.category: m.polarity for m in ms} for ms in map_all(mapper, prep.clauses, prep.scores)]


def detection_counts(gold: list[dict], pred: list[dict], keys: list[str]) -> tuple[np.ndarray, ...]:
    """Per document and category (arrays of shape (n, K)): found (tp), extra (fp) and missed (fn)."""
    G = np.array([[k in g for k in keys] for g in gold], dtype=bool).reshape(len(gold), len(keys))
    P = np.array([[k in p for k in keys] for p in pred], dtype=bool).reshape(len(pred), len(keys))
    return G & P, P & ~G, G & ~P


def score_mentions(gold: list[dict[str, str]], pred: list[dict[str, str]], keys: list[str]) -> dict:
    """Detection and polarity metrics of predicted ``{category: polarity}`` dicts against gold ones; ``ci``
    holds 95% bootstrap intervals of micro- and macro-F1 (documents resampled)."""
    from voc.analyze.metrics import f1_intervals

    dtp, dfp, dfn = detection_counts(gold, pred, keys)
    tp = dict(zip(keys, dtp.sum(0).tolist()))
    fp = dict(zip(keys, dfp.sum(0).tolist()))
    fn = dict(zip(keys, dfn.sum(0).tolist()))
    pol_ok = dict.fromkeys(keys, 0)
    for g, p in zip(gold, pred):
        for k in g.keys() & p.keys():
            pol_ok[k] += g[k] == p[k]

    def prf(t, f_p, f_n):
        prec = t / (t + f_p) if t + f_p else 0.0
        rec = t / (t + f_n) if t + f_n else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        return prec, rec, f1

    per_class = {}
    for k in keys:
        prec, rec, f1 = prf(tp[k], fp[k], fn[k])
        per_class[k] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4),
                        "support": tp[k] + fn[k], "predicted": tp[k] + fp[k],
                        "polarity_accuracy": round(pol_ok[k] / tp[k], 4) if tp[k] else None}
    T, FP, FN = sum(tp.values()), sum(fp.values()), sum(fn.values())
    mp, mr, mf = prf(T, FP, FN)
    present = [k for k in keys if per_class[k]["support"] > 0]
    strict_t = sum(pol_ok.values())
    _, _, strict_f = prf(strict_t, FP + T - strict_t, FN + T - strict_t)
    return {
        "micro_precision": round(mp, 4), "micro_recall": round(mr, 4), "micro_f1": round(mf, 4),
        "macro_f1": round(float(np.mean([per_class[k]["f1"] for k in present])) if present else 0.0, 4),
        "polarity_accuracy": round(strict_t / T, 4) if T else None,
        "strict_micro_f1": round(strict_f, 4),
        "ci": f1_intervals(dtp, dfp, dfn, np.array([per_class[k]["support"] > 0 for k in keys], dtype=bool)),
        "per_class": per_class,
    }


def evaluate_mapper(mapper, gold_df: pd.DataFrame, taxonomy, sentiment_model=None,
                    prepared: Prepared | None = None, column: str | None = None) -> dict:
    """Score ``mapper`` on the labelled comments of ``gold_df`` for one taxonomy.

    Parameters
    ----------
    mapper : a fitted mapper with ``map_clauses`` (and optionally ``map_batch``).
    gold_df : GUIDELINES-format labels (see :func:`load_gold`).
    taxonomy : a :class:`Taxonomy`, a bundled name (``rater``) or a YAML path; its ``name`` is the label column.
    sentiment_model : the clause scorer (the lexicon model by default), as in the pipeline.
    prepared : the output of :func:`prepare` for ``gold_df['text']``, to reuse across mappers.
    column : the label column when it differs from the taxonomy's name.

    Returns a dict with ``n``, ``micro_f1``, ``macro_f1`` (over categories present in the gold labels),
    ``polarity_accuracy`` (on correctly found categories), ``strict_micro_f1`` (category and polarity
    right), ``docs_per_s`` (mapping only, preprocessing excluded), ``pipeline_docs_per_s`` (clean +
    clauses + clause sentiment + mapping) and ``per_class`` (precision, recall, f1, support per category).
    """
    tax: Taxonomy = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
    col = column or tax.name
    for c in ("text", col):
        if c not in gold_df.columns:
            raise InputError(f"labelled data lacks column {c!r}; it has {masked_cells(gold_df.columns)}")
    keys = tax.keys
    gold = check_label_keys(gold_df, tax, col)
    prep = prepared or prepare(gold_df["text"].tolist(), sentiment_model)
    if len(prep.clauses) != len(gold_df):
        raise InputError("prepared comments do not match the labelled rows")
    t0 = time.perf_counter()
    pred = predicted_labels(mapper, prep)
    map_s = time.perf_counter() - t0
    res = {"n": len(gold_df), "taxonomy": tax.name}
    res.update(score_mentions(gold, pred, keys))
    n = max(len(gold_df), 1)
    res["docs_per_s"] = round(n / map_s, 1) if map_s > 0 else None
    res["pipeline_docs_per_s"] = round(n / (map_s + prep.seconds), 1) if map_s + prep.seconds > 0 else None
    res["per_class"] = res.pop("per_class")
    return res
