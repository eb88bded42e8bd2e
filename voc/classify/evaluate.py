"""Evaluate models the way the pipeline runs them, for ``voc eval``.

Sentiment files have columns ``text,label`` (labels ``positive``/``neutral``/``negative``; a GUIDELINES file's
``sentiment`` column serves when there is no ``label``). When the gold
labels are only positive and negative, predictions are compared on positive vs negative: the argmax over
those two probabilities, so a binary benchmark is not penalised for the model's neutral class.
Category files follow GUIDELINES.md (``id,text,sentiment,rater,touchpoint``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from voc.analyze.metrics import f1_intervals
from voc.classify.datasets import norm_label, read_text_csv, sentiment_columns
from voc.classify.sentiment import LABELS, SentimentStage, load_sentiment_model
from voc.errors import InputError, ModelError
from voc.text.stages import CleanStage

TASKS = ("sentiment", "rater", "touchpoint")


def load_sentiment_file(path: str | Path) -> pd.DataFrame:
    """A ``text,label`` CSV (UTF-8, UTF-8-BOM or GBK); other columns are kept.

    A GUIDELINES-format file (``sentiment`` instead of ``label``) works too. Labels are normalised as for
    training (:func:`voc.classify.datasets.norm_label`: ``1``/``0`` are ``positive``/``negative``).
    """
    p = Path(path)
    df = sentiment_columns(read_text_csv(p, (), missing_file="evaluation file {p} does not exist"), p)
    df["label"] = norm_label(df["label"])
    bad = set(df["label"]) - set(LABELS)
    if bad:
        raise InputError(f"{p.name} has labels {sorted(bad)[:5]}; use positive, neutral or negative")
    return df


def predict_sentiment(model, texts: list[str]) -> np.ndarray:
    """Probabilities (negative, neutral, positive) through the pipeline's clean and sentiment stages."""
    batch = CleanStage()(pd.DataFrame({"text": texts}))
    batch.loc[batch["quality"] == "empty", "quality"] = "meaningless"
    out = SentimentStage(model)(batch)
    return out[["p_negative", "p_neutral", "p_positive"]].to_numpy()


def _sentiment_predictions(model, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """``(gold, predicted, labels, seconds)``: binary gold (positive/negative only) is compared on the argmax of
    those two probabilities, 3-class gold on the argmax of all three."""
    if df.empty:
        raise InputError("the evaluation file has no rows")
    t = time.perf_counter()
    proba = predict_sentiment(model, df["text"].tolist())
    secs = time.perf_counter() - t
    gold = df["label"].to_numpy()
    if set(gold) <= {"positive", "negative"}:
        return gold, np.where(proba[:, 2] >= proba[:, 0], "positive", "negative"), ["negative", "positive"], secs
    return gold, np.array(LABELS)[proba.argmax(axis=1)], list(LABELS), secs


def _label_counts(gold: np.ndarray, pred: np.ndarray, labels: list[str]) -> tuple[np.ndarray, ...]:
    """Per document and class (n, K): true positives, false positives, false negatives (one label each, as
    :func:`~voc.taxonomy.evaluate.detection_counts` counts categories)."""
    from voc.taxonomy.evaluate import detection_counts

    return detection_counts([{g: g} for g in gold], [{p: p} for p in pred], labels)


def evaluate_sentiment(model, df: pd.DataFrame) -> dict:
    """Accuracy, macro-F1 (over the classes the gold labels use), their 95% bootstrap intervals (``ci``),
    per-class scores and the confusion matrix of a sentiment model on ``df``."""
    gold, pred, labels, secs = _sentiment_predictions(model, df)
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    present = [lab for lab in labels if (gold == lab).any()]  # macro-F1 over the classes the gold uses
    ci = f1_intervals(*_label_counts(gold, pred, labels), np.isin(labels, present))
    return {
        "task": "sentiment",
        "n": int(len(df)),
        "mode": "3-class" if len(labels) == 3 else "binary (argmax of positive vs negative)",
        "accuracy": round(float(accuracy_score(gold, pred)), 4),
        "macro_f1": _macro_f1(gold, pred, labels),
        "ci": {"accuracy": ci["micro_f1"], "macro_f1": ci["macro_f1"]},  # 95% bootstrap intervals
        "per_class": {lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                            "f1": round(float(f[i]), 4), "support": int(s[i])} for i, lab in enumerate(labels)},
        "labels": labels,
        "confusion": confusion_matrix(gold, pred, labels=labels).tolist(),
        "docs_per_s": round(len(df) / secs, 1) if secs else None,
    }


def is_taxonomy_file(task: str) -> bool:
    """True when a ``--task`` names a taxonomy YAML file of one's own (its ``name`` is the label column)."""
    return str(task).lower().endswith((".yaml", ".yml"))


def _check_task(task: str) -> None:
    if task not in TASKS and not is_taxonomy_file(task):
        raise InputError(f"unknown task {task!r}; use one of {', '.join(TASKS)} or the path of a taxonomy "
                         f"YAML file")


def _macro_f1(gold: np.ndarray, pred: np.ndarray, labels: list[str]) -> float:
    """Macro-F1 over the classes the gold labels use."""
    present = [lab for lab in labels if (gold == lab).any()]
    return round(float(f1_score(gold, pred, labels=present, average="macro", zero_division=0)), 4)


def run_eval(task: str, model: str, data: str | Path) -> dict:
    """Evaluate ``model`` (a name, folder, ``lexicon`` or ``rules``) on a labelled file for ``task``:
    ``sentiment``, a bundled taxonomy (``rater``, ``touchpoint``) or a taxonomy YAML file of one's own, whose
    ``name`` is the label column of the file."""
    _check_task(task)
    if task == "sentiment":
        return {"model": model, **evaluate_sentiment(load_sentiment_model(model), load_sentiment_file(data))}
    from voc.taxonomy.evaluate import evaluate_mapper, load_gold
    from voc.taxonomy.model import load_taxonomy
    from voc.taxonomy.stage import load_mapper

    tax = load_taxonomy(task)
    from voc.taxonomy.evaluate import check_label_keys

    gold = load_gold(data, (tax.name,))
    check_label_keys(gold, tax, source=data)
    mapper = load_mapper(task, model)
    spec = clause_scorer_spec(model)
    scorer = None if spec == "lexicon" else load_sentiment_model(spec)
    return {"model": model, "task": tax.name, "clause_sentiment": spec,
            **evaluate_mapper(mapper, gold, tax, sentiment_model=scorer)}


def run_compare(task: str, model_a: str, model_b: str, data: str | Path) -> dict:
    """Two models on the same labelled file: each one's headline scores and how much ``model_b`` beats
    ``model_a`` (b − a), with paired 95% bootstrap intervals (:func:`~voc.analyze.metrics.paired_f1_difference`).
    For sentiment, ``micro_f1`` is the accuracy; for a taxonomy, detection F1 (and ``polarity_accuracy``)."""
    from voc.analyze.metrics import paired_f1_difference

    _check_task(task)
    out: dict = {"task": task, "a": {"model": model_a}, "b": {"model": model_b}}
    counts = []
    if task == "sentiment":
        df = load_sentiment_file(data)
        for key, name in (("a", model_a), ("b", model_b)):
            gold, pred, labels, _ = _sentiment_predictions(load_sentiment_model(name), df)
            counts.append(_label_counts(gold, pred, labels))
            out[key].update(n=int(len(df)), accuracy=round(float((gold == pred).mean()), 4),
                            macro_f1=_macro_f1(gold, pred, labels))
        classes = np.isin(labels, [x for x in labels if (gold == x).any()])
    else:
        from voc.taxonomy.evaluate import (check_label_keys, detection_counts, load_gold, predicted_labels,
                                           prepare, score_mentions)
        from voc.taxonomy.model import load_taxonomy
        from voc.taxonomy.stage import load_mapper

        tax = load_taxonomy(task)
        gold_df = load_gold(data, (tax.name,))
        gold = check_label_keys(gold_df, tax, source=data)
        prepared: dict[str, object] = {}
        for key, name in (("a", model_a), ("b", model_b)):
            spec = clause_scorer_spec(name)  # each model with the clause scorer it was trained with
            if spec not in prepared:
                prepared[spec] = prepare(gold_df["text"].tolist(),
                                         None if spec == "lexicon" else load_sentiment_model(spec))
            pred = predicted_labels(load_mapper(task, name), prepared[spec])
            counts.append(detection_counts(gold, pred, tax.keys))
            res = score_mentions(gold, pred, tax.keys)
            out[key].update(n=len(gold), clause_sentiment=spec,
                            **{k: res[k] for k in ("micro_f1", "macro_f1", "polarity_accuracy")})
        classes = counts[0][0].any(0) | counts[0][2].any(0)
    out["difference"] = paired_f1_difference(counts[0], counts[1], classes)
    return out


def clause_scorer_spec(model: str) -> str:
    """The sentiment model that scores clauses when a category model is evaluated, as in a pipeline: the
    one the model was trained with (its ``config.yaml``), else the default pipeline's, else ``lexicon``."""
    import yaml

    from voc.classify.registry import default_models, resolve_model

    if model != "rules":
        try:
            cfg = resolve_model(model) / "config.yaml"
            spec = (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("sentiment_model")
            if spec == "lexicon" or (spec and (resolve_model(str(spec)) / "meta.json").is_file()):
                return str(spec)
        except (ModelError, OSError, yaml.YAMLError):
            pass
    default = default_models().get("sentiment")
    return Path(default).name if default is not None else "lexicon"
