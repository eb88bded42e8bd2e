"""Train the fast (TF-IDF) sentiment model and write it as a registry folder with its model card."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from voc.classify.blend import LexiconBlend
from voc.classify.datasets import SHARED_TRAIN, hash_split, load_category_file, load_sentiment_csv
from voc.classify.evaluate import evaluate_sentiment, load_sentiment_file
from voc.classify.modelio import save_model_folder
from voc.classify.tfidf import TfidfSentiment
from voc.errors import InputError
from voc.taxonomy.card import LABELS_DIR


def _load_many(paths: list[Path]) -> pd.DataFrame:
    frames = []
    for p in paths:
        df = load_sentiment_csv(p)
        df["source_file"] = Path(p).name
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["text", "label"])


def _neutral_paths(neutral) -> list:
    """``neutral`` (a path, a list of paths or None) as a list."""
    return [neutral] if isinstance(neutral, (str, Path)) else list(neutral or [])


def load_neutral_files(neutral) -> pd.DataFrame | None:
    """The 3-class files (GUIDELINES format) that tune and measure neutral, concatenated with a
    ``source_file`` column; ``neutral`` is a path, a list of paths or None (then None is returned)."""
    paths = _neutral_paths(neutral)
    if not paths:
        return None
    frames = [load_category_file(p).assign(source_file=Path(p).name) for p in paths]
    return pd.concat(frames, ignore_index=True)


def drop_neutral_overlap(train: pd.DataFrame, cat: pd.DataFrame | None) -> tuple[pd.DataFrame, int]:
    """``train`` without the comments (same text or id) of the 3-class files, and how many were dropped."""
    if cat is None:
        return train, 0
    overlap = train["text"].isin(set(cat["text"]))
    if "id" in train:
        overlap |= train["id"].isin(set(cat["id"]))
    return train[~overlap].reset_index(drop=True), int(overlap.sum())


def check_training_labels(train: pd.DataFrame, data: list[Path]) -> None:
    """Refuse training rows a sentiment model cannot learn from, with one sentence saying what to add.

    Parameters
    ----------
    train : the training rows (``text``, ``label``) after any 3-class comments were removed.
    data : the training files, named in the error.

    Raises
    ------
    InputError
        No labelled rows, or not both positive and negative examples (neutral alone cannot train the polar
        model).
    """
    files = ", ".join(str(p) for p in data)
    if len(train) == 0:
        raise InputError(f"the training data ({files}) has no labelled rows; give a CSV with text,label rows "
                         "(positive, negative and optionally neutral)")
    counts = train["label"].value_counts()
    missing = [lab for lab in ("positive", "negative") if not counts.get(lab, 0)]
    if missing:
        have = ", ".join(f"{k} {v}" for k, v in counts.sort_index().items())
        raise InputError(f"the training data ({files}) has no {' or '.join(missing)} examples (it has {have}); "
                         "sentiment training needs both positive and negative labels")


def neutral_heldout_metrics(model, cat: pd.DataFrame, tune) -> dict:
    """3-class metrics on the held-out halves: all files together, and per file when there are several."""
    held = cat.loc[~tune, ["text", "sentiment", "source_file"]].rename(columns={"sentiment": "label"})
    out = {"neutral_3class_heldout": _summary(evaluate_sentiment(model, held[["text", "label"]]))}
    if held["source_file"].nunique() > 1:
        out["neutral_3class_heldout_by_file"] = {
            name: _summary(evaluate_sentiment(model, g[["text", "label"]].reset_index(drop=True)))
            for name, g in held.groupby("source_file", sort=False)}
    return out


CHECK_FILES = {  # comments we wrote in other domains, never trained on: scored after training
    "ood_check.csv": "food delivery, telecom, banking, ride hailing ...",
    "ood_blind.csv": "scored for candidate models, never used to choose one",
    "ood_blind2.csv": "film, games, music, books, social media, local services, tourism",
    "ood_blind3.csv": "16 service and media domains, written blind to voc's code and data",
}


def default_check_files() -> list[Path]:
    """The committed other-domain check files that exist (:data:`CHECK_FILES` under ``models/labels``)."""
    return [LABELS_DIR / n for n in CHECK_FILES if (LABELS_DIR / n).is_file()]


def score_check_files(model, paths: list[Path]) -> dict:
    """Per check file: 3-class accuracy (or binary, for binary gold) and positive-vs-negative accuracy on its
    polar rows."""
    out = {}
    for p in paths:
        df = load_sentiment_file(p)
        res = {"n": int(len(df)), "all": _summary(evaluate_sentiment(model, df))}
        polar = df[df["label"].isin(["positive", "negative"])]
        if 0 < len(polar) < len(df):
            res["polar"] = _summary(evaluate_sentiment(model, polar))
        out[Path(p).name] = res
    return out


def check_metrics(model, data: list[Path], checks: list[Path] | None = None) -> dict:
    """:func:`score_check_files` on ``checks`` (None: :func:`default_check_files`), leaving out any file the
    model was trained on (``data``)."""
    trained_on = {Path(d).name for d in data}
    checks = default_check_files() if checks is None else [Path(c) for c in checks]
    return score_check_files(model, [c for c in checks if c.name not in trained_on])


def train_sentiment(data: list[Path], dev: list[Path] | None = None, neutral: Path | list[Path] | None = None,
                    out: Path | None = None, seed: int = 0, params: dict | None = None,
                    command: str = "", lexicon_weight: float = 0.2, data_weights: dict[str, float] | None = None,
                    checks: list[Path] | None = None):
    """Train :class:`~voc.classify.tfidf.TfidfSentiment` and evaluate it.

    Parameters
    ----------
    data : training CSVs with ``text,label`` (binary or 3-class labels).
    dev : evaluation CSVs; each is scored separately (binary gold: positive vs negative).
    neutral : GUIDELINES-format file(s) with 3-class ``sentiment`` labels. A fixed half of each (hash of id)
        tunes the neutral decision, the other half measures 3-class accuracy; their comments are not trained on.
    out : the model folder to write (None: do not save).
    seed : seed of the folds and the split.
    params : hyper-parameters passed to ``TfidfSentiment``.
    lexicon_weight : weight of the lexicon model blended in (:class:`~voc.classify.blend.LexiconBlend`);
        0 keeps the TF-IDF model alone.
    command : the command line that reproduces the model (for the card).
    data_weights : training file name → weight of each of its rows (default 1), e.g. to up-weight a small
        file from the user's own domain.
    checks : other-domain files (``text`` and ``label`` or ``sentiment``) scored after training, for the
        card's "Other domains" table; None for :func:`default_check_files`, ``[]`` for none.
    """
    if not data:
        raise InputError("give at least one training file (--data)")
    train = _load_many(data)
    data_weights = {str(k): float(v) for k, v in (data_weights or {}).items()}
    unknown = sorted(set(data_weights) - set(train["source_file"]))
    if unknown:
        raise InputError(f"--data-weight names {', '.join(unknown)}, which is not a training file; use the file "
                         f"name of a --data file ({', '.join(sorted(set(train['source_file'])))})")
    if any(not w >= 0 for w in data_weights.values()):
        raise InputError("a --data-weight must be a number of 0 or more, e.g. my_domain.csv=3")
    cat = load_neutral_files(neutral)
    # The 3-class files tune and measure neutral: none of their comments may be trained on.
    train, excluded = drop_neutral_overlap(train, cat)
    check_training_labels(train, data)
    params = dict(params or {})
    t0 = time.perf_counter()
    weights = train["source_file"].map(data_weights).fillna(1.0).to_numpy() if data_weights else None
    model = TfidfSentiment(random_state=seed, **params).fit(train["text"].tolist(), train["label"].tolist(),
                                                            sample_weight=weights)
    metrics: dict = {"train_rows": int(len(train)), "train_seconds": 0.0, "dev": {},
                     "train_labels": {str(k): int(v) for k, v in train["label"].value_counts().sort_index().items()}}
    if cat is not None:
        metrics["excluded_overlap_with_neutral_file"] = excluded
        tune = hash_split(cat["id"], 0.5, seed)
        model.tune_neutral(cat.loc[tune, "text"].tolist(), cat.loc[tune, "sentiment"].tolist())
    base = model
    if lexicon_weight > 0:
        model = LexiconBlend.from_fitted(base, lexicon_weight)
    if cat is not None:
        metrics.update(neutral_heldout_metrics(model, cat, tune))
    metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
    for p in dev or []:
        metrics["dev"][Path(p).name] = _summary(evaluate_sentiment(model, load_sentiment_csv(p)))
    metrics["checks"] = check_metrics(model, data, checks)
    if out is not None:
        config = {"task": "sentiment", "backend": "tfidf", "seed": seed, "data": [str(p) for p in data],
                  "dev": [str(p) for p in dev or []], "neutral": neutral_names(neutral),
                  "data_weights": data_weights, "lexicon_weight": lexicon_weight, "params": base.get_params()}
        meta = {"task": "sentiment", "backend": "tfidf", "labels": list(model.classes_),
                "label_map": {str(i): c for i, c in enumerate(model.classes_)}, "lexicon_weight": lexicon_weight}
        save_model_folder(out, model, meta, config, metrics, _card(Path(out).name, config, metrics, command))
    return model, metrics


def neutral_names(neutral) -> list[str]:
    """The 3-class files as strings, for the resolved config."""
    return [str(p) for p in _neutral_paths(neutral)]


def neutral_card_text(config: dict, metrics: dict) -> str:
    """The model card's sentence on the neutral decision."""
    neu = metrics.get("neutral_3class_heldout")
    if not neu:
        return "No 3-class data was given: neutral uses the default thresholds."
    files = _neutral_paths(config.get("neutral"))
    txt = (f"3-class accuracy {neu['accuracy']:.4f}, macro-F1 {neu['macro_f1']:.4f} on the held-out halves "
           f"({neu['n']} comments) of {', '.join(f'`{Path(f).name}`' for f in files)}; the other halves tuned the "
           "neutral decision.")
    by = metrics.get("neutral_3class_heldout_by_file") or {}
    if by:
        txt += " Per file: " + "; ".join(f"`{k}` {v['accuracy']:.4f} ({v['n']})" for k, v in by.items()) + "."
    return txt


EXTRA_FILES = {  # own-written training files: what the card says of each
    "sentiment_extra.csv": "1,281 short comments in 16 service domains (food delivery, telecom, banking, ride "
                           "hailing, apps, travel, health, property, government ...), many of them positive "
                           "comments in complaint vocabulary (退款秒到账, 一点都不疼) and negative ones in praise "
                           "vocabulary",
    "sentiment_extra2.csv": "602 short comments on film, games, music, books, social media, local services and "
                            "tourism",
    "sentiment_extra3.csv": "480 longer comments (mean 51 characters, a quarter over 80) in 17 service and media "
                            "domains: internet slang, mixed verdicts, negation, sarcasm, Weibo-style posts",
    "sentiment_extra4.csv": "598 comments in the styles of food-delivery reviews, Weibo posts about daily life, "
                            "restaurant reviews, short film comments, app-store reviews and public-service "
                            "complaints",
    "sentiment_extra5.csv": "148 short comments where 好 intensifies a complaint (好贵, 分量好少, 等了好几天) next to "
                            "praise written with 好 (好吃, 回购好几次), and value-for-money verdicts (不值这个价)",
    "sentiment_extra6.csv": "132 short comments that praise by negating a complaint (没有任何问题, 没有色差, 不卡不闪退) "
                            "beside complaints written with the same negators (没有收到货, 没有任何效果, 一点都不新鲜)",
}


def _extra_text(config: dict) -> str:
    names = [Path(d).name for d in config["data"] if Path(d).name in EXTRA_FILES]
    if not names:
        return ""
    return "\n" + "\n".join(f"`models/labels/{n}` holds {EXTRA_FILES[n]}; voc's authors wrote them." for n in names)


def _blend_text(config: dict) -> str:
    """The card's sentence on the lexicon blend (how voc chose its default weight, when it is used)."""
    w = config.get("lexicon_weight", 0)
    if not w:
        return "No lexicon model is blended in (lexicon weight 0)."
    return ("The TF-IDF probabilities are blended with the domain-neutral lexicon model "
            f"(`voc.classify.blend.LexiconBlend`,\nlexicon weight {w}). voc's default weight, 0.2, was chosen on "
            "413 clearly polar comments voc's authors wrote for\nthe bundled sample (hotel, e-commerce, food "
            "delivery): positive-vs-negative accuracy 0.852 for TF-IDF alone and 0.894\nwith the blend, for "
            "about half a point less on the shared hotel and shopping dev sets. Texts mostly in Latin letters "
            "(English,\nlogin一直fail) get lexicon weight 0.7, with the lexicon's English entries.")


def _shared_text(config: dict) -> str:
    """The card's note on the shared corpora, when the model was trained on them."""
    if not any(Path(d).name in SHARED_TRAIN for d in config["data"]):
        return ""
    return ("\n`../shared/data` holds public Chinese review corpora (hotels and ten e-commerce categories; not in "
            "the repo).")


def _domain_limit(config: dict) -> str:
    """The card's first limit: which text the model was trained on (the shared corpora only when they were)."""
    shared = _shared_text(config)
    if shared and _extra_text(config):
        return ("Real training text is hotel and shopping reviews only; other domains are covered only by the "
                "comments we wrote.")
    if shared and all(Path(d).name in SHARED_TRAIN for d in config["data"]):
        return "Trained on hotel and shopping reviews only: other domains (telecom, banking, food delivery) are unseen."
    return (f"Trained on {', '.join(f'`{Path(d).name}`' for d in config['data'])} only; text unlike it has not "
            "been measured (score some with `voc eval`).")


def _labels_text(metrics: dict) -> str:
    """``binary labels`` or the label counts, for the card."""
    counts = metrics.get("train_labels") or {}
    if set(counts) <= {"negative", "positive"}:
        return "binary labels"
    return "labels " + ", ".join(f"{k} {v:,}" for k, v in counts.items())


def _weights_text(config: dict) -> str:
    w = config.get("data_weights") or {}
    return ("; row weights " + ", ".join(f"`{k}` ×{v:g}" for k, v in w.items())) if w else ""


def _summary(res: dict) -> dict:
    return {k: res[k] for k in ("n", "mode", "accuracy", "macro_f1", "docs_per_s", "per_class")}


def _checks_text(metrics: dict) -> str:
    """The card's table of other-domain check files (comments we wrote, never trained on)."""
    checks = metrics.get("checks") or {}
    if not checks:
        return ""
    rows = []
    for f, r in checks.items():
        what = CHECK_FILES.get(f, "")
        pol = r.get("polar")
        pol_acc = f"{pol['accuracy']:.3f}" if pol else "–"
        label = f"`{f}` ({what})" if what else f"`{f}`"
        rows.append(f"| {label} | {r['n']} | {r['all']['mode']} | {r['all']['accuracy']:.3f} | {pol_acc} |")
    return ("\n## Other domains\nComments voc's authors wrote in other domains (`models/labels`), never trained "
            "on. voc's extra training files\nwere written by the same kind of writer, so these scores overstate "
            "accuracy on real text from those domains.\n\n| file | n | mode | accuracy | positive vs negative on its polar rows |\n|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


def _card(name: str, config: dict, metrics: dict, command: str) -> str:
    rows = "\n".join(f"| {f} | {m['n']} | {m['mode']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | "
                     f"{m['docs_per_s']:,.0f} |" for f, m in metrics["dev"].items())
    neu_txt = neutral_card_text(config, metrics)
    p = config["params"]
    return f"""# Model card: {name}

**Task**: comment- and clause-level sentiment (negative / neutral / positive) for Chinese customer feedback.
**Backend**: `voc.classify.tfidf.TfidfSentiment`: sublinear TF-IDF of character n-grams {tuple(p['ngram_range'])}
(word n-grams: {p['word_ngrams']}) and an L2 logistic regression (C={p['C']}), Platt-calibrated on
out-of-fold scores. Neutral is decided from the calibrated confidence (below a tuned threshold, raised by mild
words such as 一般/还行 and by questions); the pipeline also makes boilerplate (默认好评) neutral.
{_blend_text(config)} The comments of the 3-class files are removed
from the training data ({metrics.get('excluded_overlap_with_neutral_file', 0)} rows), since they tune neutral.

## Data
Training: {', '.join(f'`{Path(d).name}`' for d in config['data'])} ({metrics['train_rows']:,} rows, {_labels_text(metrics)}){_weights_text(config)}.{_shared_text(config)}{_extra_text(config)}

## Metrics
Binary dev sets are scored on positive vs negative (argmax of those two probabilities), as `voc eval` does.

| dev file | n | mode | accuracy | macro-F1 | comments/s |
|---|---|---|---|---|---|
{rows}

Neutral: {neu_txt}
{_checks_text(metrics)}
Training took {metrics['train_seconds']} s on 2 CPU cores.

## Limits
- {_domain_limit(config)}
- Sarcasm and comparisons (比上次好多了) are hard for bag-of-n-gram models.

## Reproduce
```bash
{command or 'voc train --task sentiment --backend tfidf ...'}
```
"""

