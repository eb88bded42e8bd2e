"""Train transformer models end to end and write them as registry folders (``voc train --backend transformer``).

A model folder holds the Hugging Face checkpoint (``config.json``, ``model.safetensors``, tokenizer files),
``meta.json`` (format ``hf``, task, labels, max length, long-text policy, quantize flag, estimator state),
``config.yaml`` (the resolved training configuration), ``metrics.json`` and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from voc.classify.datasets import SHARED_TRAIN
from voc.errors import ConfigError, InputError
from voc.transformer.infer import device_label
from voc.transformer.model import TransformerSentiment, check_checkpoint

# Options of the training functions themselves (the rest go to the estimator).
SENTIMENT_OPTIONS = {"max_train": 0, "max_per_file": 0, "es_dev": 800, "eval_int8": True}
CATEGORY_OPTIONS = {"max_weak": 6000, "es_frac": 0.5, "gold_weight": 3.0, "eval_frac": 0.4}


def split_params(cls, params: dict | None, options: dict) -> tuple[dict, dict]:
    """Split ``name=value`` overrides into estimator parameters and training options; unknown → ConfigError."""
    params = {k: _number(v) for k, v in (params or {}).items()}
    opts = {k: params.pop(k, v) for k, v in options.items()}
    names = set(cls._get_param_names())
    bad = sorted(set(params) - names)
    if bad:
        raise ConfigError(f"unknown transformer setting(s) {', '.join(bad)}; use any of "
                          f"{', '.join(sorted(names | set(options)))}")
    return params, opts


def _number(v):
    """``'3e-5'`` (a string to YAML) as a float; other values unchanged."""
    if isinstance(v, str):
        for cast in (int, float):
            try:
                return cast(v)
            except ValueError:
                pass
    return v


def clean_texts(texts) -> list[str]:
    """Texts as the pipeline's cleaning stage leaves them (what the model sees at run time)."""
    from voc.text.stages import CleanStage

    if len(texts) == 0:
        return []
    return CleanStage()(pd.DataFrame({"text": list(texts)}))["text"].tolist()


def _es_sample(frames: list[pd.DataFrame], n: int, seed: int) -> pd.DataFrame:
    """Up to ``n`` rows for early stopping, the same number from each dev file."""
    if not frames:
        return pd.DataFrame(columns=["text", "label"])
    per = max(1, n // len(frames))
    return pd.concat([f.sample(min(per, len(f)), random_state=seed) for f in frames], ignore_index=True)


def _save(out, est, meta: dict, config: dict, metrics: dict, card: str) -> Path:
    from voc.classify.modelio import save_model_folder

    hf = est.save_pretrained(out)
    meta = {**hf, **meta}
    return save_model_folder(out, None, meta, config, metrics, card)


def _int8_copy(est):
    from sklearn.base import clone

    q = clone(est)
    for k, v in vars(est).items():
        if k.endswith("_") and not k.startswith("_"):
            setattr(q, k, v)
    q.set_params(quantize=True)
    return q


# --------------------------------------------------------------------------- sentiment


def train_sentiment_transformer(data: list[Path], dev: list[Path] | None = None, neutral=None,
                                out: Path | None = None, seed: int = 0, params: dict | None = None,
                                command: str = "", base_model: str | None = None):
    """Fine-tune :class:`~voc.transformer.model.TransformerSentiment` and evaluate it on each dev file.

    Parameters
    ----------
    data : training CSVs with ``text,label`` (binary or 3-class labels).
    dev : evaluation CSVs; a sample of them (``es_dev`` rows) drives early stopping and calibration,
        and each is scored in full at the end (binary gold: positive vs negative).
    neutral : GUIDELINES-format file(s) with 3-class ``sentiment`` labels (a path or a list): their comments
        are dropped from the training data, one half of each (hash of id) tunes the neutral decision, the other
        half measures it.
    out : the model folder to write (None: do not save).
    seed : seed of sampling, head initialisation, dropout and batch order.
    params : estimator parameters (``epochs``, ``lr``, ``max_length`` ...) and the options
        ``max_per_file`` (a seeded sample of at most this many rows of each training file, 0 = all),
        ``max_train`` (a seeded sample of the training rows, 0 = all), ``es_dev`` and ``eval_int8``
        (also score the dev files with the int8-quantised model).
    base_model : the local checkpoint to fine-tune.
    """
    from voc.classify.datasets import hash_split, load_sentiment_csv
    from voc.classify.evaluate import evaluate_sentiment
    from voc.classify.train import (_load_many, _summary, check_metrics, check_training_labels, drop_neutral_overlap,
                                    load_neutral_files, neutral_heldout_metrics, neutral_names)

    base = check_checkpoint(base_model)
    if not data:
        raise InputError("give at least one training file (--data)")
    hp, opts = split_params(TransformerSentiment, params, SENTIMENT_OPTIONS)
    train = _load_many(data)
    cat = load_neutral_files(neutral)
    train, excluded = drop_neutral_overlap(train, cat)
    check_training_labels(train, data)
    if opts["max_per_file"]:
        n = int(opts["max_per_file"])
        train = (train.groupby("source_file", group_keys=False, sort=False)
                 .apply(lambda g: g.sample(min(n, len(g)), random_state=seed)).reset_index(drop=True))
    if opts["max_train"] and len(train) > int(opts["max_train"]):
        train = train.sample(int(opts["max_train"]), random_state=seed).reset_index(drop=True)
    dev_frames = {Path(p).name: load_sentiment_csv(p) for p in dev or []}
    es = _es_sample(list(dev_frames.values()), int(opts["es_dev"]), seed)
    est = TransformerSentiment(base_model=str(base), random_state=seed, **hp)
    t0 = time.perf_counter()
    est.fit(clean_texts(train["text"]), train["label"].tolist(),
            clean_texts(es["text"]) if len(es) else None, es["label"].tolist() if len(es) else None)
    metrics: dict = {"train_rows": int(len(train)), "excluded_overlap_with_neutral_file": excluded,
                     "train_labels": {str(k): int(v) for k, v in train["label"].value_counts().sort_index().items()},
                     "early_stopping_rows": int(len(es)), "fit": est.fit_report_, "dev": {}}
    if cat is not None:
        tune = hash_split(cat["id"], 0.5, seed)
        est.tune_neutral(clean_texts(cat.loc[tune, "text"]), cat.loc[tune, "sentiment"].tolist())
    metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
    metrics["device"] = device_label(est.device_, est.num_threads)
    if cat is not None:
        metrics.update(neutral_heldout_metrics(est, cat, tune))
    metrics["checks"] = check_metrics(est, data)
    q = _int8_copy(est) if opts["eval_int8"] else None
    for name, df in dev_frames.items():
        metrics["dev"][name] = _summary(evaluate_sentiment(est, df))
        if q is not None:
            metrics["dev"][name]["int8"] = _summary(evaluate_sentiment(q, df))
    if out is not None:
        config = {"task": "sentiment", "backend": "transformer", "base_model": str(base), "seed": seed,
                  "data": [str(p) for p in data], "dev": [str(p) for p in dev or []],
                  "neutral": neutral_names(neutral), "options": opts,
                  "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in est.get_params().items()},
                  "command": command}
        meta = {"task": "sentiment", "label_map": {str(i): c for i, c in enumerate(est.classes_)}}
        _save(out, est, meta, config, metrics, sentiment_card(Path(out).name, config, metrics))
    return est, metrics


def _fmt(v, nd=4):
    return "–" if v is None else f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _head_text(metrics: dict) -> str:
    """The card's sentence on how the head decides neutral, from the labels it was trained on."""
    if set(metrics.get("train_labels") or {"negative": 1, "positive": 1}) <= {"negative", "positive"}:
        return ("Trained on binary labels, the polar log-odds are Platt-calibrated on the early-stopping\n"
                "sample and neutral is decided from the confidence as in the TF-IDF model.")
    return ("Trained on 3-class labels: the head's softmax gives negative, neutral and positive directly (no "
            "calibration or\nneutral threshold).")


def _labels_text(metrics: dict) -> str:
    """``'' `` for models from before the label counts were recorded, else ``; labels negative 3, ...``."""
    counts = metrics.get("train_labels")
    return "; labels " + ", ".join(f"{k} {v:,}" for k, v in counts.items()) if counts else ""


def _shared_text(config: dict) -> str:
    """Where the training files come from, when they are the shared corpora."""
    if all(Path(d).name in SHARED_TRAIN for d in config["data"]):
        return ", from `../shared/data`\n(not in the repository)"
    return ""


def _domain_limit(config: dict) -> str:
    if all(Path(d).name in SHARED_TRAIN for d in config["data"]):
        return "Hotel and shopping reviews only; other domains are unseen."
    return (f"Trained on {', '.join(f'`{Path(d).name}`' for d in config['data'])} only; text unlike it has not "
            "been measured (score some with `voc eval`).")


def sentiment_card(name: str, config: dict, metrics: dict) -> str:
    """Model card (Markdown) of a transformer sentiment model."""
    p = config["params"]
    rows = []
    for f, m in metrics["dev"].items():
        q = m.get("int8") or {}
        q_speed = f"{q['docs_per_s']:,.0f}" if q.get("docs_per_s") else "–"
        rows.append(f"| {f} | {m['n']} | {_fmt(m['accuracy'])} | {_fmt(m['macro_f1'])} | {m['docs_per_s']:,.0f} | "
                    f"{_fmt(q.get('accuracy'))} | {q_speed} |")
    where = "GPU" if "GPU" in str(metrics.get("device")) else "CPU"
    from voc.classify.train import _checks_text, neutral_card_text

    cpu = [f"{f} {m['cpu_fp32']['accuracy']:.4f} at {m['cpu_fp32']['docs_per_s']:,.0f}/s"
           for f, m in metrics["dev"].items() if m.get("cpu_fp32")]
    cpu_line = (f"\nThe same weights in fp32 on {metrics.get('int8_and_cpu_fp32_measured_on', 'the CPU')}: "
                + "; ".join(cpu) + ".\n") if cpu else ""

    fit = metrics["fit"]
    layers = f", first {p['num_layers']} encoder layers only" if p.get("num_layers") else ""
    return f"""# Model card: {name}

**Task**: comment- and clause-level sentiment (negative / neutral / positive) for Chinese customer feedback.
**Backend**: `voc.transformer.model.TransformerSentiment`, fine-tuned from the local checkpoint
`{Path(config['base_model']).name}` (sequence-classification head, AdamW lr {p['lr']}, batch {p['batch_size']},
{p['epochs']} epoch(s) planned, linear warm-up {p['warmup_ratio']}, max length {p['max_length']} tokens, seed
{config['seed']}{layers}). {_head_text(metrics)}
**Long texts**: `{p['long_text']}`: {'clause windows of at most max length tokens (up to ' + str(p['max_windows']) + '), probabilities averaged weighted by tokens' if p['long_text'] == 'windows' else 'only the first max length tokens are read'}; training reads the first window.

## Data
Training: {', '.join(f'`{Path(d).name}`' for d in config['data'])} ({metrics['train_rows']:,} rows{_labels_text(metrics)} after
dropping {metrics['excluded_overlap_with_neutral_file']} comments of the 3-class files){_shared_text(config)}. Early stopping and calibration: {metrics['early_stopping_rows']} rows sampled from
the dev files (so the dev figures below are slightly optimistic).

## Metrics
Binary dev sets are scored on positive vs negative, as `voc eval` does. int8: dynamic quantisation of the
Linear layers (`quantize=True`).

| dev file | n | accuracy | macro-F1 | comments/s ({where}) | int8 accuracy | int8 comments/s (CPU) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{cpu_line}
Neutral: {neutral_card_text(config, metrics)}
{_checks_text(metrics)}
Training: {fit['steps']} steps of {fit['planned_steps']} planned ({fit['stopped_by']}), best at step
{fit['best_step']}; {metrics['train_seconds']:,.0f} s on {metrics.get('device') or f"CPU ({p['num_threads']} threads)"}.
Speeds above are `voc eval` speeds (cleaning and comment scores){' on the same CPU' if where == 'CPU' else '; int8 always runs on the CPU'}.

## Limits
- {_domain_limit(config)}
- The weights (`model.safetensors`) are not in the repository: retrain with the command below.

## Reproduce
```bash
{config.get('command') or 'voc train --task sentiment --backend transformer ...'}
```
"""


# --------------------------------------------------------------------------- categories


def train_category_transformer(task: str, gold_path: Path, unlabelled_paths: list[Path] | None = None,
                               out: Path | None = None, seed: int = 0, params: dict | None = None,
                               command: str = "", base_model: str | None = None, dev: list[Path] | None = None,
                               text_column: str | None = None, sentiment_model=None):
    """Fine-tune :class:`~voc.transformer.category.TransformerCategoryModel` for taxonomy ``task``.

    The gold file (GUIDELINES format) is split by a hash of the id as in :mod:`voc.taxonomy.train`
    (``eval_frac`` held out, 40 % by default, so figures compare with the TF-IDF mappers'). Of the rest,
    ``es_frac`` drives early stopping and the threshold, the others train with weight ``gold_weight``
    together with up to ``max_weak`` unlabelled comments labelled by the lexicon rules.

    Parameters
    ----------
    dev : GUIDELINES-format files on which the rules and the model are also scored (``metrics['dev']``).
    text_column : the comment column of the unlabelled files (default ``text``).
    sentiment_model : the clause scorer for the weak labels, the gold and every evaluation: a fitted model or a
        spec (``lexicon``, a model name or folder); None for the default pipeline's sentiment model, as
        ``voc train --backend tfidf`` and ``voc eval`` use, so the rules baseline matches theirs.
    """
    from voc.classify.registry import auto_model
    from voc.classify.sentiment import load_sentiment_model
    from voc.taxonomy.evaluate import check_label_keys, evaluate_mapper, load_gold, map_all, prepare
    from voc.taxonomy.model import load_taxonomy
    from voc.taxonomy.rules import RuleMapper
    from voc.taxonomy.train import load_dev_files, load_unlabelled, score_dev_files, split_gold
    from voc.transformer.category import TransformerCategoryModel, comment_from_clauses

    base = check_checkpoint(base_model)
    hp, opts = split_params(TransformerCategoryModel, params, CATEGORY_OPTIONS)
    tax = load_taxonomy(task)
    gold = load_gold(gold_path, (tax.name,))
    check_label_keys(gold, tax, source=gold_path)
    train_gold, held = split_gold(gold, float(opts["eval_frac"]))
    if len(train_gold) < 4 or len(held) == 0:
        raise InputError(f"the gold file {gold_path} is too small to split ({len(gold)} rows)")
    from voc.classify.datasets import hash_split

    es_mask = hash_split(train_gold["id"], float(opts["es_frac"]), seed + 1)
    es, fit_gold = train_gold[es_mask], train_gold[~es_mask]
    dev_files = load_dev_files(dev or [], tax)
    weak_texts = load_unlabelled(unlabelled_paths or [], exclude_ids=gold["id"], exclude_texts=gold["text"],
                                 limit=int(opts["max_weak"]) or None, seed=seed, text_column=text_column)
    spec = sentiment_model if isinstance(sentiment_model, str) else None
    if sentiment_model is None or isinstance(sentiment_model, str):
        spec = spec or auto_model("sentiment")
        sentiment_model = load_sentiment_model(spec)
    rules = RuleMapper(task).fit()
    t0 = time.perf_counter()
    pw = prepare(weak_texts, sentiment_model)
    weak_labels = [{m.category: m.polarity for m in ms} for ms in map_all(rules, pw.clauses, pw.scores)]
    pg, pe = prepare(fit_gold["text"].tolist(), sentiment_model), prepare(es["text"].tolist(), sentiment_model)
    X = [comment_from_clauses(c) for c in pw.clauses + pg.clauses]
    y = weak_labels + fit_gold[tax.name].tolist()
    w = [1.0] * len(weak_labels) + [float(opts["gold_weight"])] * len(fit_gold)
    est = TransformerCategoryModel(taxonomy=task, base_model=str(base), random_state=seed, **hp)
    est.fit(X, y, [comment_from_clauses(c) for c in pe.clauses], es[tax.name].tolist(), sample_weight=w)
    train_s = time.perf_counter() - t0
    prep = prepare(held["text"].tolist(), sentiment_model)
    res_rules = evaluate_mapper(rules, held, tax, prepared=prep)
    res_model = evaluate_mapper(est, held, tax, prepared=prep)
    dev_scores = score_dev_files(dev_files, tax, {"rules": rules, "model": est}, sentiment_model, train_gold)
    metrics = {"taxonomy": tax.name,
               "evaluated_on": f"held-out {len(held)} gold comments ({float(opts['eval_frac']):.0%} of "
                               f"{Path(gold_path).name}, hash-of-id split as voc.taxonomy.train)",
               "data": {"gold_fit": int(len(fit_gold)), "gold_early_stopping": int(len(es)),
                        "gold_held_out": int(len(held)), "weak": len(weak_texts)},
               "clause_sentiment": spec or type(sentiment_model).__name__,
               "rules": res_rules, "model": res_model, "dev": dev_scores, "fit": est.fit_report_,
               "train_seconds": round(train_s, 1), "device": device_label(est.device_, est.num_threads)}
    if out is not None:
        config = {"task": task, "backend": "transformer", "base_model": str(base), "seed": seed,
                  "gold": str(gold_path), "unlabelled": [str(p) for p in unlabelled_paths or []],
                  "text_column": text_column, "dev": [str(p) for p in dev or []],
                  "sentiment_model": spec or type(sentiment_model).__name__, "options": opts, "params": {k: (str(v) if isinstance(v, Path) else v)
                                              for k, v in est.get_params().items()}, "command": command}
        meta = {"task": task, "taxonomy": tax.name}
        _save(out, est, meta, config, metrics, category_card(Path(out).name, config, metrics))
    return est, metrics


def _dev_text(metrics: dict) -> str:
    """The card's table of the ``--dev`` files (empty when none were given)."""
    dev = metrics.get("dev") or {}
    if not dev:
        return ""
    rows = []
    for f, res in dev.items():
        for who in ("rules", "model"):
            r = res[who]
            rows.append(f"| `{f}` | {who} | {r['n']} | {_fmt(r['micro_f1'], 3)} | {_fmt(r['macro_f1'], 3)} | "
                        f"{_fmt(r['polarity_accuracy'], 3)} |")
    seen = {f: res.get("overlap_with_training", 0) for f, res in dev.items()}
    note = "; ".join(f"`{f}`: {n} of its comments were also trained on" for f, n in seen.items() if n)
    return ("\nDev files (`--dev`)" + (f"; {note}, so their scores are optimistic" if note else ", none of their "
            "comments trained on") + ":\n\n| file | | n | micro-F1 | macro-F1 | polarity accuracy |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def category_card(name: str, config: dict, metrics: dict) -> str:
    """Model card (Markdown) of a transformer category model."""
    r, m, d, p = metrics["rules"], metrics["model"], metrics["data"], config["params"]
    per = "\n".join(f"| {k} | {r['per_class'][k]['support']} | {_fmt(r['per_class'][k]['f1'], 3)} | "
                    f"{_fmt(m['per_class'][k]['f1'], 3)} |" for k in r["per_class"])
    fit = metrics["fit"]
    return f"""# Model card: {name}

**Task**: categories of the `{metrics['taxonomy']}` taxonomy, each with its polarity (GUIDELINES.md).
**Backend**: `voc.transformer.category.TransformerCategoryModel` fine-tuned from `{Path(config['base_model']).name}`:
one head with an absent/negative/neutral/positive softmax per category; presence threshold
{fit.get('threshold', p['threshold'])} on 1 − p(absent). Evidence words come from the lexicon rules where they
found the same category. Max length {p['max_length']} tokens, long texts: `{p['long_text']}`.

## Data
Gold `{Path(config['gold']).name}` (not in the repository): {d['gold_fit']} comments train (weight
{config['options']['gold_weight']}), {d['gold_early_stopping']} drive early stopping and the threshold,
{d['gold_held_out']} are held out. Weak labels: the lexicon rules on {d['weak']:,} unlabelled comments.

## Held-out evaluation
{metrics['evaluated_on']}.

| | micro-F1 | macro-F1 | polarity accuracy | comments/s (mapping) |
|---|---|---|---|---|
| rules | {_fmt(r['micro_f1'], 3)} | {_fmt(r['macro_f1'], 3)} | {_fmt(r['polarity_accuracy'], 3)} | {_fmt(r['docs_per_s'], 0)} |
| model | {_fmt(m['micro_f1'], 3)} | {_fmt(m['macro_f1'], 3)} | {_fmt(m['polarity_accuracy'], 3)} | {_fmt(m['docs_per_s'], 0)} |

| category | support | rules F1 | model F1 |
|---|---|---|---|
{per}
{_dev_text(metrics)}
Training: {fit['steps']} steps ({fit['stopped_by']}), best at step {fit['best_step']}; {metrics['train_seconds']:,.0f} s
on {metrics.get('device') or 'CPU'} including weak labelling.

## Limits
- The held-out part is small; differences of a few points are noise.
- The weights (`model.safetensors`) are not in the repository: retrain with the command below.

## Reproduce
```bash
{config.get('command') or 'voc train --task ' + config['task'] + ' --backend transformer ...'}
```
"""


def train_transformer(task: str, data: list[Path], dev: list[Path] | None = None, neutral=None,
                      unlabelled: list[Path] | None = None, out: Path | None = None, seed: int = 0,
                      params: dict | None = None, command: str = "", base_model: str | None = None,
                      text_column: str | None = None):
    """``voc train --backend transformer``: sentiment from ``data``/``dev``/``neutral``; rater or touchpoint
    from the GUIDELINES-format gold file ``data[0]`` plus ``unlabelled`` texts (their ``text_column``) for weak
    labels, scored also on the GUIDELINES-format ``dev`` files."""
    if task == "sentiment":
        return train_sentiment_transformer(data, dev, neutral, out, seed, params, command, base_model)
    if task in ("rater", "touchpoint"):
        if not data:
            raise InputError("give the GUIDELINES-format gold file with --data")
        return train_category_transformer(task, data[0], unlabelled, out, seed, params, command, base_model,
                                          dev=dev, text_column=text_column)
    raise ConfigError(f"unknown task {task!r}; use sentiment, rater or touchpoint")
