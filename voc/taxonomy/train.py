"""Train a category model end to end: weak labels from the rules, gold labels, evaluation, model folder.

Data (defaults under ``$VOC_DATA_DIR`` or ``../shared/data`` next to the repository):

- gold: ``category_dev.csv`` in GUIDELINES format (``id,text,sentiment,rater,touchpoint``), split by a
  hash of the id into a training part (60 %) and a held-out part (40 %) that only the evaluation sees;
- unlabelled: ``*_sentiment_*.csv`` (only their ``text`` column is read; any label column is ignored),
  without the gold comments, labelled by the lexicon rules for weak supervision.

Run it as ``python -m voc.taxonomy.train --taxonomy rater --out models/rater-tfidf``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from voc.errors import InputError
from voc.taxonomy.evaluate import evaluate_mapper, load_gold, prepare
from voc.taxonomy.learned import CategoryModel
from voc.taxonomy.model import load_taxonomy
from voc.taxonomy.rules import RuleMapper

REPO_ROOT = Path(__file__).resolve().parents[2]
GOLD_NAME = "category_dev.csv"
UNLABELLED_GLOB = "*_sentiment_*.csv"
THROUGHPUT_DOCS = 20_000


def data_dir() -> Path:
    """Where the shared data lives: ``$VOC_DATA_DIR`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("VOC_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def hash_fraction(key: str, salt: str = "") -> float:
    """A stable number in [0, 1) from the SHA-1 of ``salt + key``."""
    return int(hashlib.sha1((salt + str(key)).encode("utf-8")).hexdigest()[:8], 16) / 2**32


def split_gold(gold: pd.DataFrame, eval_frac: float = 0.4, salt: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fixed hash-of-id split: rows whose hash fraction is >= 1 - ``eval_frac`` are held out."""
    if not 0 < eval_frac < 1:
        raise ValueError("eval_frac must be between 0 and 1")
    h = gold["id"].map(lambda s: hash_fraction(s, salt)).to_numpy()
    held = h >= 1 - eval_frac
    return gold[~held].reset_index(drop=True), gold[held].reset_index(drop=True)


def gold_groups(df: pd.DataFrame, min_rows: int = 20, max_groups: int = 10) -> list[str] | None:
    """Domain of each gold comment: a ``domain``/``source`` column, else the id prefix before ``-``
    (``hotel-…``, ``shop-…``) when that gives 2 to ``max_groups`` groups of ``min_rows`` or more; else None."""
    for col in ("domain", "source"):
        if col in df.columns:
            g = df[col].astype(str)
            break
    else:
        g = df["id"].astype(str).str.split("-", n=1).str[0]
    counts = g.value_counts()
    if 2 <= len(counts) <= max_groups and counts.min() >= min_rows:
        return g.tolist()
    return None


def load_unlabelled(paths: list[Path], exclude_ids=(), exclude_texts=(), limit: int | None = None,
                    seed: int = 0) -> list[str]:
    """Texts of unlabelled CSVs (``text`` column only), without excluded ids/texts, deduplicated."""
    frames = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise InputError(f"unlabelled file {p} does not exist")
        head = pd.read_csv(p, nrows=0, encoding="utf-8-sig").columns
        if "text" not in head:
            raise InputError(f"unlabelled file {p} has no 'text' column; it has {', '.join(map(str, head))}")
        cols = [c for c in ("id", "text") if c in head]
        frames.append(pd.read_csv(p, usecols=cols, dtype=str, keep_default_na=False, encoding="utf-8-sig"))
    if not frames:
        return []
    df = pd.concat(frames, ignore_index=True)
    if "id" in df:
        df = df[~df["id"].isin(set(exclude_ids))]
    df = df[df["text"].str.strip().ne("") & ~df["text"].isin(set(exclude_texts))]
    df = df.drop_duplicates("text")
    if limit and len(df) > limit:
        df = df.sample(limit, random_state=seed)
    return df["text"].tolist()


def _throughput(mapper, clauses, scores, repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        if hasattr(mapper, "map_batch"):
            mapper.map_batch(clauses, scores)
        else:
            for c, s in zip(clauses, scores):
                mapper.map_clauses(c, s)
        best = min(best, time.perf_counter() - t0)
    return round(len(clauses) / best, 1) if best > 0 else float("nan")


def train_category_model(taxonomy: str = "rater", gold_path: str | Path | None = None,
                         unlabelled_paths: list[str | Path] | None = None, out_dir: str | Path | None = None,
                         seed: int = 0, eval_frac: float = 0.4, max_unlabelled: int | None = None,
                         sentiment_model=None, group_gate: bool = True, verbose: bool = False, **params):
    """Train a :class:`CategoryModel` for ``taxonomy`` and evaluate it against the rules on held-out gold.

    Parameters
    ----------
    taxonomy : a bundled taxonomy name or a YAML path; its name is the gold label column.
    gold_path : GUIDELINES-format gold labels (default: ``<data>/category_dev.csv``).
    unlabelled_paths : CSVs with a ``text`` column (default: ``<data>/*_sentiment_*.csv``); labels ignored.
    out_dir : write the model folder here (``model.skops``, ``meta.json``, ``metrics.json``,
        ``config.yaml``, ``MODEL_CARD.md``) and check that it loads back with identical output.
    seed : seed of the model's fold split and of any subsampling.
    eval_frac : share of gold comments held out (by a hash of their id).
    max_unlabelled : cap on unlabelled comments (a seeded sample), None for all.
    sentiment_model : clause scorer for gold and evaluation: a fitted model, a spec (``lexicon`` or a
        model name/folder, as in the pipeline's ``sentiment.model``), or None for the lexicon model.
    group_gate : derive domains from the gold (``domain``/``source`` column or id prefix) and keep a
        category's learned detector only where it also beats the rules across domains.
    params : passed to :class:`CategoryModel`.

    Returns ``(model, metrics)``; ``metrics['rules']`` and ``metrics['model']`` are
    :func:`~voc.taxonomy.evaluate.evaluate_mapper` results on the held-out part.
    """
    t_start = time.perf_counter()
    tax = load_taxonomy(taxonomy)
    gold_path = Path(gold_path) if gold_path else data_dir() / GOLD_NAME
    if unlabelled_paths is None:
        unlabelled_paths = sorted(data_dir().glob(UNLABELLED_GLOB)) if data_dir().is_dir() else []
    unlabelled_paths = [Path(p) for p in unlabelled_paths]
    gold = load_gold(gold_path, (tax.name,))
    train, held = split_gold(gold, eval_frac)
    if len(train) == 0 or len(held) == 0:
        raise InputError(f"the gold file {gold_path} is too small to split ({len(gold)} rows)")
    weak = load_unlabelled(unlabelled_paths, exclude_ids=gold["id"], exclude_texts=gold["text"],
                           limit=max_unlabelled, seed=seed)
    sentiment_spec = sentiment_model if isinstance(sentiment_model, str) else None
    if sentiment_model is None or isinstance(sentiment_model, str):
        from voc.classify.sentiment import load_sentiment_model

        sentiment_model = load_sentiment_model(sentiment_model or "lexicon")
    log = print if verbose else (lambda *a, **k: None)
    log(f"gold: {len(train)} train / {len(held)} held out; unlabelled: {len(weak)}")

    t0 = time.perf_counter()
    model = CategoryModel(taxonomy, random_state=seed, **params)
    groups = gold_groups(train) if group_gate else None
    model.fit(train["text"].tolist(), train[tax.name].tolist(), weak=weak or None, groups=groups,
              sentiment_model=sentiment_model, verbose=verbose)
    train_s = time.perf_counter() - t0

    prep = prepare(held["text"].tolist(), sentiment_model)
    rules = RuleMapper(taxonomy).fit()
    res_rules = evaluate_mapper(rules, held, tax, prepared=prep)
    res_model = evaluate_mapper(model, held, tax, prepared=prep)
    # throughput of mapping alone on a larger batch of real comments
    sample = (weak or held["text"].tolist())[:THROUGHPUT_DOCS]
    sp_ = prepare(sample, sentiment_model)
    throughput = {"docs": len(sample), "rules_docs_per_s": _throughput(rules, sp_.clauses, sp_.scores),
                  "model_docs_per_s": _throughput(model, sp_.clauses, sp_.scores)}
    metrics = {
        "taxonomy": tax.name,
        "evaluated_on": f"held-out {len(held)} gold comments ({eval_frac:.0%} of {gold_path.name}, hash-of-id split)",
        "data": {"gold": str(gold_path), "gold_train": len(train), "gold_held_out": len(held),
                 "gold_groups": sorted(set(groups)) if groups else None,
                 "unlabelled_files": [str(p) for p in unlabelled_paths], "unlabelled": len(weak)},
        "rules": res_rules,
        "model": res_model,
        "throughput": throughput,
        "train_seconds": round(train_s, 1),
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "fit_report": model.fit_report_,
    }
    log(f"rules: micro {res_rules['micro_f1']} macro {res_rules['macro_f1']} polarity {res_rules['polarity_accuracy']}")
    log(f"model: micro {res_model['micro_f1']} macro {res_model['macro_f1']} polarity {res_model['polarity_accuracy']}")
    if out_dir is not None:
        config = {"taxonomy": str(taxonomy), "gold_path": _rel(gold_path),
                  "unlabelled_paths": [_rel(p) for p in unlabelled_paths], "seed": seed, "eval_frac": eval_frac,
                  "max_unlabelled": max_unlabelled, "sentiment_model": sentiment_spec or type(sentiment_model).__name__,
                  "group_gate": group_gate, "out": _rel(out_dir), "extra_params": dict(params),
                  "params": model.get_params()}
        metrics["roundtrip_identical"] = save_model_folder(model, metrics, config, out_dir, check=(held, prep))
    return model, metrics


# --------------------------------------------------------------------------- model folder


def _rel(p) -> str:
    """A path relative to the repository when it lies near it (``../shared/data/...``), else as given."""
    q = Path(p).resolve()
    if q.is_relative_to(REPO_ROOT.parent):
        return os.path.relpath(q, REPO_ROOT)
    return str(q)


def reproduce_command(config: dict, out_dir: Path) -> str:
    """The shell command that retrains this model."""
    try:
        out = Path(out_dir).resolve().relative_to(REPO_ROOT)
    except ValueError:
        out = Path(out_dir)
    cmd = f"python -m voc.taxonomy.train --taxonomy {config['taxonomy']} --out {out} --seed {config['seed']}"
    if config.get("gold_path") and config["gold_path"] != _rel(data_dir() / GOLD_NAME):
        cmd += f" --gold {config['gold_path']}"
    default_unl = [_rel(p) for p in sorted(data_dir().glob(UNLABELLED_GLOB))] if data_dir().is_dir() else []
    if config.get("unlabelled_paths") is not None and list(config["unlabelled_paths"]) != default_unl:
        cmd += " --unlabelled" + "".join(f" {p}" for p in config["unlabelled_paths"])
    extra = {k: v for k, v in (config.get("extra_params") or {}).items()}
    if extra:
        cmd += " " + " ".join(f"--param {k}={v}" for k, v in extra.items())
    if config.get("eval_frac") != 0.4:
        cmd += f" --eval-frac {config['eval_frac']}"
    if config.get("max_unlabelled"):
        cmd += f" --max-unlabelled {config['max_unlabelled']}"
    if config.get("sentiment_model") not in (None, "lexicon", "LexiconSentiment"):
        cmd += f" --sentiment-model {config['sentiment_model']}"
    if config.get("group_gate") is False:
        cmd += " --no-group-gate"
    return cmd


def save_model_folder(model: CategoryModel, metrics: dict, config: dict, out_dir: str | Path,
                      check: tuple[pd.DataFrame, object] | None = None) -> bool | None:
    """Write ``model.skops``, ``meta.json``, ``metrics.json``, ``config.yaml`` and ``MODEL_CARD.md``.

    With ``check`` (held-out gold and its prepared clauses) the folder is loaded back through
    :func:`voc.classify.registry.load_model` and its mentions compared with the fitted model's;
    returns whether they are identical.
    """
    import skops.io as sio
    import sklearn

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sio.dump(model, out / "model.skops", compression=zipfile.ZIP_DEFLATED)
    tax = model.taxonomy_
    meta = {"format": "skops", "task": tax.name, "backend": "tfidf", "taxonomy": tax.name,
            "labels": [str(k) for k in model.classes_], "model_class": "voc.taxonomy.learned.CategoryModel",
            "created": date.today().isoformat(), "sklearn": sklearn.__version__,
            "python": platform.python_version()}
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    cfg = dict(config)
    cfg["command"] = reproduce_command(config, out)
    (out / "config.yaml").write_text(yaml.safe_dump(_plain(cfg), allow_unicode=True, sort_keys=False), encoding="utf-8")
    identical = None
    if check is not None:
        from voc.classify.registry import load_model

        held, prep = check
        loaded = load_model(str(out))
        a = model.map_batch(prep.clauses, prep.scores)
        b = loaded.map_batch(prep.clauses, prep.scores)
        identical = a == b
        metrics["roundtrip_identical"] = identical
    metrics["model_size_bytes"] = (out / "model.skops").stat().st_size
    (out / "metrics.json").write_text(json.dumps(_plain(metrics), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(model_card(model, metrics, cfg), encoding="utf-8")
    return identical


def _plain(x):
    """JSON/YAML-safe copy (numpy scalars and arrays to Python)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    return x


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def model_card(model: CategoryModel, metrics: dict, config: dict) -> str:
    """The model card (Markdown)."""
    tax = model.taxonomy_
    r, m = metrics["rules"], metrics["model"]
    d = metrics["data"]
    rep = metrics.get("fit_report", {}).get("categories", {})
    groups = d.get("gold_groups") or []
    n_model = sum(1 for k in tax.keys if rep.get(k, {}).get("decision") == "model")
    lines = [
        f"# {tax.name}-tfidf: trained {tax.title or tax.name} category mapper",
        "",
        f"Maps Chinese customer comments to the {len(tax.keys)} categories of the `{tax.name}` taxonomy "
        f"({', '.join(tax.keys)}), each with its own polarity, for voc's pipeline "
        f"(`taxonomies: [{{name: {tax.name}, mapper: {Path(config.get('out', '')).name or tax.name + '-tfidf'}}}]`).",
        "It is a drop-in replacement for the lexicon rules (`mapper: rules`): same inputs (clauses and "
        "their sentiment scores), same output (mentions with polarity, evidence and clause).",
        "",
        "## Data",
        "",
        f"- Gold: `{Path(d['gold']).name}` (GUIDELINES format, hotel and shopping reviews). A fixed "
        f"SHA-1-of-id split keeps {d['gold_held_out']} comments ({config['eval_frac']:.0%}) for evaluation "
        f"only; {d['gold_train']} train the combiner, the gold text model and the polarity model.",
        f"- Unlabelled: {d['unlabelled']:,} comments from "
        f"{', '.join(f'`{Path(p).name}`' for p in d['unlabelled_files']) or 'none'} (text only; their "
        "sentiment labels are not read; the gold comments are removed), labelled by the lexicon rules.",
        "",
        "## Method",
        "",
        "1. Rule evidence from the taxonomy's keyword and cue lexicons (same matching and negation rule as "
        "the rules mapper), summarised per comment and category as domain-agnostic features: keyword hits "
        "in opinionated or neutral clauses, positive/neutral/negative cues, negation, distinct terms, share "
        "of clauses.",
        f"2. Character 1–{model.ngram_max}-gram TF-IDF ({len(model.vocab_):,} n-grams) of the clauses; one "
        "logistic regression per category trained on the rules' labels of the unlabelled comments (weak "
        "supervision) and one trained on the gold labels (out-of-fold scores for training the combiner).",
        "3. Per category, a logistic-regression combiner of (1) and (2) trained on gold; it is used only "
        "where it beat the bare rules out-of-fold on the gold training part"
        + (f" and also when trained on one domain and tested on the other ({', '.join(groups)})" if groups else "")
        + "; elsewhere the rules decide. "
        + f"Here {n_model} of {len(tax.keys)} categories use the combiner"
        + (f" ({', '.join(k for k in tax.keys if rep.get(k, {}).get('decision') == 'model')})" if n_model else "")
        + ".",
        "4. Polarity from a multinomial logistic regression over the clauses attributed to the category "
        "(cue votes, sentiment of keyword clauses and of the clause after a neutral one, the comment's "
        "sentiment); categories found without rule evidence are attributed to the clause the text models "
        "score highest.",
        "",
        "## Held-out evaluation",
        "",
        f"{metrics['evaluated_on']}; detection scored per category, polarity accuracy on correctly found "
        "categories, strict micro-F1 requires category and polarity.",
        "",
        "| | micro-F1 | macro-F1 | polarity accuracy | strict micro-F1 |",
        "|---|---|---|---|---|",
        f"| rules | {_fmt(r['micro_f1'])} | {_fmt(r['macro_f1'])} | {_fmt(r['polarity_accuracy'])} | {_fmt(r['strict_micro_f1'])} |",
        f"| model | {_fmt(m['micro_f1'])} | {_fmt(m['macro_f1'])} | {_fmt(m['polarity_accuracy'])} | {_fmt(m['strict_micro_f1'])} |",
        "",
        "| category | support | rules F1 | model F1 | detection by |",
        "|---|---|---|---|---|",
    ]
    for k in tax.keys:
        rk, mk = r["per_class"][k], m["per_class"][k]
        by = rep.get(k, {}).get("decision", "")
        lines.append(f"| {k} | {rk['support']} | {_fmt(rk['f1'])} | {_fmt(mk['f1'])} | {by} |")
    tp = metrics.get("throughput", {})
    lines += [
        "",
        f"Mapping throughput on {tp.get('docs', 0):,} comments, one process: rules "
        f"{tp.get('rules_docs_per_s', 0):,.0f}/s, model {tp.get('model_docs_per_s', 0):,.0f}/s. "
        f"Training took {metrics['train_seconds']:.0f} s.",
        "",
        "## Limitations",
        "",
        "- The held-out part is small (per-category support above), so differences of a few points are "
        "within noise; rare categories weigh heavily in macro-F1.",
        "- The lexicons were tuned while looking at the gold file, so the rules' scores here are optimistic.",
        "- Trained on hotel and shopping reviews only. Learned detectors did not carry across these two "
        "domains (a detector trained on hotel gold lost recall on shopping gold and vice versa), which is "
        "why most categories keep the rules' detection; the polarity model did carry across them.",
        "- Clause sentiment comes from the lexicon model; a different sentiment model changes the "
        "polarity inputs (retrain with it).",
        "",
        "## Reproduce",
        "",
        "```bash",
        config["command"],
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m voc.taxonomy.train", description=__doc__.splitlines()[0])
    ap.add_argument("--taxonomy", default="rater", help="bundled taxonomy name or YAML path")
    ap.add_argument("--gold", default=None, help="GUIDELINES-format gold CSV")
    ap.add_argument("--unlabelled", nargs="*", default=None, help="unlabelled CSVs with a text column")
    ap.add_argument("--out", default=None, help="model folder to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-frac", type=float, default=0.4)
    ap.add_argument("--max-unlabelled", type=int, default=None)
    ap.add_argument("--sentiment-model", default="lexicon",
                    help="clause sentiment scorer: lexicon or a sentiment model name/folder")
    ap.add_argument("--no-group-gate", action="store_true",
                    help="keep learned detectors that beat the rules in-domain even if not across domains")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="CategoryModel parameter, e.g. --param max_features=50000 (repeatable)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    params = {}
    for item in a.param:
        name, _, value = item.partition("=")
        params[name.strip()] = yaml.safe_load(value)
    _, metrics = train_category_model(a.taxonomy, a.gold, a.unlabelled, a.out, seed=a.seed, eval_frac=a.eval_frac,
                                      max_unlabelled=a.max_unlabelled, sentiment_model=a.sentiment_model,
                                      group_gate=not a.no_group_gate, verbose=not a.quiet, **params)
    summary = {k: {m: metrics[k][m] for m in ("micro_f1", "macro_f1", "polarity_accuracy", "strict_micro_f1")}
               for k in ("rules", "model")}
    print(json.dumps({"taxonomy": metrics["taxonomy"], **summary, "throughput": metrics["throughput"],
                      "train_seconds": metrics["train_seconds"]}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
