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
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from voc.errors import InputError
from voc.taxonomy.card import (GOLD_NAME, LABELS_DIR, UNLABELLED_GLOB, _rel, data_dir, default_extra_gold,
                               save_model_folder)
from voc.taxonomy.evaluate import check_label_keys, evaluate_mapper, load_gold, prepare
from voc.taxonomy.learned import CategoryModel
from voc.taxonomy.model import Taxonomy, load_taxonomy
from voc.taxonomy.rules import RuleMapper

THROUGHPUT_DOCS = 20_000
CHECK_NAME = "ood_check.csv"
BLIND_NAME = "ood_check2.csv"  # written by another annotator; only its overall scores are ever read


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
    without trailing digits (``hotel-…``, ``shop-…``, ``oodt2-…`` → ``oodt``) when that gives 2 to ``max_groups``
    groups of ``min_rows`` or more; else None."""
    for col in ("domain", "source"):
        if col in df.columns:
            g = df[col].astype(str)
            break
    else:
        g = df["id"].astype(str).str.split("-", n=1).str[0].str.rstrip("0123456789")
    counts = g.value_counts()
    if 2 <= len(counts) <= max_groups and counts.min() >= min_rows:
        return g.tolist()
    return None


def load_unlabelled(paths: list[Path], exclude_ids=(), exclude_texts=(), limit: int | None = None,
                    seed: int = 0, text_column: str | None = None) -> list[str]:
    """Texts of unlabelled CSVs, without excluded ids/texts, deduplicated.

    Parameters
    ----------
    paths : CSV files (UTF-8, UTF-8 with BOM or GBK/GB18030) with a ``text`` column; other columns, labels
        included, are ignored.
    exclude_ids, exclude_texts : comments to leave out (the gold ones), by ``id`` column or by text.
    limit : keep a seeded sample of at most this many texts (None: all).
    seed : seed of that sample.
    text_column : the column holding the comments instead of ``text`` (``voc train --text-column``), as in
        :func:`voc.classify.active.read_texts`.
    """
    from voc.classify.active import read_texts

    frames = [read_texts(p, text_column, what="unlabelled file") for p in paths]
    if not frames:
        return []
    df = pd.concat(frames, ignore_index=True)
    df = df[~df["id"].isin(set(map(str, exclude_ids)))]
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


def default_check_file() -> Path | None:
    """The committed out-of-domain check file (``models/labels/ood_check.csv``), if present."""
    p = LABELS_DIR / CHECK_NAME
    return p if p.is_file() else None


def default_blind_file() -> Path | None:
    """The committed blind check file (``models/labels/ood_check2.csv``), if present: 200 comments in
    eight domains written and labelled by an annotator who never saw voc's lexicons; used for scores only."""
    p = LABELS_DIR / BLIND_NAME
    return p if p.is_file() else None


def _score_file(path: Path | None, tax, mappers: dict, sentiment_model) -> dict | None:
    """``{'file', 'rules', 'model', 'domain_weight'}``: each mapper evaluated on a GUIDELINES-format file,
    and the model's domain weights there; or None."""
    if path is None:
        return None
    df = load_gold(path, (tax.name,))
    prep = prepare(df["text"].tolist(), sentiment_model)
    out = {"file": _rel(path), **{k: evaluate_mapper(m, df, tax, prepared=prep) for k, m in mappers.items()}}
    out["domain_weight"] = domain_weight_summary(mappers["model"], prep.clauses)
    return out


def load_dev_files(paths: list[str | Path], tax) -> list[tuple[Path, pd.DataFrame]]:
    """The dev files (GUIDELINES format) read and their labels checked against ``tax``, before any training."""
    out = []
    for p in paths:
        df = load_gold(p, (tax.name,))
        check_label_keys(df, tax, source=p)
        if len(df) == 0:
            raise InputError(f"dev file {p} has no rows; give a GUIDELINES-format file with labelled comments")
        out.append((Path(p), df))
    return out


def score_dev_files(dev: list[tuple[Path, pd.DataFrame]], tax, mappers: dict, sentiment_model,
                    train: pd.DataFrame) -> dict:
    """Each mapper scored on each dev file (as :func:`_score_file`), by file name, with how many of its
    comments (same id or text) were also trained on: those make the file's scores optimistic."""
    out = {}
    for path, df in dev:
        prep = prepare(df["text"].tolist(), sentiment_model)
        res = {"file": _rel(path), **{k: evaluate_mapper(m, df, tax, prepared=prep) for k, m in mappers.items()}}
        if "model" in mappers:
            res["domain_weight"] = domain_weight_summary(mappers["model"], prep.clauses)
        seen = df["id"].isin(set(train["id"])) | df["text"].isin(set(train["text"]))
        res["overlap_with_training"] = int(seen.sum())
        out[path.name] = res
    return out


def domain_weight_summary(model: CategoryModel, clauses: list[list[str]]) -> dict | None:
    """Mean domain weight of prepared comments and share above 0.5 (where the combiner decides), or None."""
    if getattr(model, "dom_coef_", None) is None or len(clauses) == 0:
        return None
    d = model.domain_weights(clauses)
    return {"mean": round(float(d.mean()), 3), "share_above_half": round(float((d > 0.5).mean()), 3)}


def _load_extra(path: Path, folder: Path, tax_name: str) -> pd.DataFrame:
    """An extra gold file: GUIDELINES format with its own ``text`` (our own written comments), or labels
    without text joined to the texts of ``folder`` (:func:`voc.taxonomy.labels.load_extra_gold`)."""
    from voc.taxonomy.labels import domain_of, load_extra_gold

    from voc.io.encoding import read_table_detected

    header = read_table_detected(path, "extra gold file", nrows=0).columns
    if "text" not in header:
        return load_extra_gold(path, folder)
    df = load_gold(path, (tax_name,))
    if "domain" not in df.columns:
        df["domain"] = [domain_of(Path(path).name, i) for i in df["id"]]
    return df


def load_training_gold(taxonomy, gold_path: Path, extra_gold: list[Path], eval_frac: float,
                       log=lambda *a, **k: None) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """``(train, held_out, n_extra)``: the gold file split by hash of id, with the extra gold (joined to the
    data folder's texts, or with their own text) added to the training part; extra rows whose id or text is
    in the gold are dropped. ``taxonomy`` (a :class:`~voc.taxonomy.model.Taxonomy`, a bundled name or a YAML
    path) names the label column; labels naming categories it lacks raise :class:`InputError`."""
    tax = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
    tax_name = tax.name
    gold = load_gold(gold_path, (tax_name,))
    check_label_keys(gold, tax, source=gold_path)
    train, held = split_gold(gold, eval_frac)
    if len(train) == 0 or len(held) == 0:
        raise InputError(f"the gold file {gold_path} is too small to split ({len(gold)} rows)")
    extras = [_load_extra(p, gold_path.parent, tax_name) for p in extra_gold]
    for p, df in zip(extra_gold, extras):
        check_label_keys(df, tax, source=p)
    extra = pd.concat(extras, ignore_index=True) if extras else pd.DataFrame(columns=["id", "text", tax_name])
    extra = extra[~extra["id"].isin(set(gold["id"])) & ~extra["text"].isin(set(gold["text"]))]
    extra = extra.drop_duplicates("id")
    if len(extra):
        log(f"extra gold: {len(extra)} comments from {', '.join(p.name for p in extra_gold)}")
        train = pd.concat([train, extra[[c for c in train.columns if c in extra.columns]]], ignore_index=True)
    return train, held, len(extra)


def train_category_model(taxonomy: str = "rater", gold_path: str | Path | None = None,
                         unlabelled_paths: list[str | Path] | None = None, out_dir: str | Path | None = None,
                         seed: int = 0, eval_frac: float = 0.4, max_unlabelled: int | None = None,
                         sentiment_model=None, group_gate: bool = True, extra_gold: list[str | Path] | None = None,
                         check_path: str | Path | None = "default", blind_path: str | Path | None = "default",
                         other_domain: list[str | Path] | str | None = "default", gold_weight: float = 1.0,
                         dev_paths: list[str | Path] | None = None, text_column: str | None = None,
                         command: str = "", verbose: bool = False, **params):
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
    extra_gold : extra labelled files whose comments join the training part: label files without text
        (:func:`voc.taxonomy.labels.load_extra_gold`, texts from the gold file's folder) or GUIDELINES-format
        files with text; None for the committed ones (:func:`default_extra_gold`).
    check_path : a GUIDELINES-format file scored as an extra check (``'default'``: the committed
        ``models/labels/ood_check.csv``; None: none).
    blind_path : a second check file, scored the same way (``'default'``: ``models/labels/ood_check2.csv``).
    other_domain : with ``domain_mix=True``: files of comments (``text`` column) from domains other than the
        unlabelled corpus, for the domain model (``'default'``: the committed own-text files,
        :func:`~voc.taxonomy.card.default_other_domain`).
    gold_weight : weight of the gold file's training comments, relative to the extra gold, in the gold text
        model and the combiner (the held-out evaluation follows the gold file's labelling conventions).
    dev_paths : GUIDELINES-format files on which the rules and the trained model are also scored
        (``voc train --dev``), each in ``metrics['dev'][file name]`` and the model card; checked before training.
    text_column : the comment column of the unlabelled files (default ``text``), see :func:`load_unlabelled`.
    command : the command line that trained the model, for the card (default: the equivalent
        ``python -m voc.taxonomy.train`` command).
    params : passed to :class:`CategoryModel`.

    Returns ``(model, metrics)``; ``metrics['rules']`` and ``metrics['model']`` are
    :func:`~voc.taxonomy.evaluate.evaluate_mapper` results on the held-out part, ``metrics['check']`` and
    ``metrics['blind']`` the same on the check and blind check files, ``metrics['dev']`` on each dev file.
    """
    t_start = time.perf_counter()
    log = print if verbose else (lambda *a, **k: None)
    tax = load_taxonomy(taxonomy)
    gold_path = Path(gold_path) if gold_path else data_dir() / GOLD_NAME
    if unlabelled_paths is None:
        unlabelled_paths = sorted(data_dir().glob(UNLABELLED_GLOB)) if data_dir().is_dir() else []
    unlabelled_paths = [Path(p) for p in unlabelled_paths]
    extra_gold = default_extra_gold() if extra_gold is None else [Path(p) for p in extra_gold]
    check_path = default_check_file() if check_path == "default" else (Path(check_path) if check_path else None)
    blind_path = default_blind_file() if blind_path == "default" else (Path(blind_path) if blind_path else None)
    train, held, n_extra = load_training_gold(tax, gold_path, extra_gold, eval_frac, log)
    gold_all = pd.concat([train, held], ignore_index=True)
    dev = load_dev_files(dev_paths or [], tax)
    weak = load_unlabelled(unlabelled_paths, exclude_ids=gold_all["id"], exclude_texts=gold_all["text"],
                           limit=max_unlabelled, seed=seed, text_column=text_column)
    sentiment_spec = sentiment_model if isinstance(sentiment_model, str) else None
    if sentiment_model is None or isinstance(sentiment_model, str):
        from voc.classify.sentiment import load_sentiment_model

        sentiment_model = load_sentiment_model(sentiment_model or "lexicon")
    log(f"gold: {len(train)} train ({n_extra} extra) / {len(held)} held out; unlabelled: {len(weak)}")

    t0 = time.perf_counter()
    model = CategoryModel(taxonomy, random_state=seed, **params)
    groups = gold_groups(train) if group_gate else None
    other_paths = _other_domain_paths(other_domain) if model.domain_mix else []
    other = _other_texts(other_paths, held)
    weight = np.where(np.arange(len(train)) < len(train) - n_extra, float(gold_weight), 1.0)
    model.fit(train["text"].tolist(), train[tax.name].tolist(), weak=weak or None, groups=groups, other=other or None,
              sample_weight=weight, sentiment_model=sentiment_model, verbose=verbose)
    train_s = time.perf_counter() - t0

    prep = prepare(held["text"].tolist(), sentiment_model)
    rules = RuleMapper(taxonomy).fit()
    res_rules = evaluate_mapper(rules, held, tax, prepared=prep)
    res_model = evaluate_mapper(model, held, tax, prepared=prep)
    check = _score_file(check_path, tax, {"rules": rules, "model": model}, sentiment_model)
    blind = _score_file(blind_path, tax, {"rules": rules, "model": model}, sentiment_model)
    dev_scores = score_dev_files(dev, tax, {"rules": rules, "model": model}, sentiment_model, train)
    # throughput of mapping alone on a larger batch of real comments
    sample = (weak or held["text"].tolist())[:THROUGHPUT_DOCS]
    sp_ = prepare(sample, sentiment_model)
    throughput = {"docs": len(sample), "rules_docs_per_s": _throughput(rules, sp_.clauses, sp_.scores),
                  "model_docs_per_s": _throughput(model, sp_.clauses, sp_.scores)}
    metrics = {
        "taxonomy": tax.name,
        "evaluated_on": f"held-out {len(held)} gold comments ({eval_frac:.0%} of {gold_path.name}, hash-of-id split)",
        "data": {"gold": str(gold_path), "gold_train": len(train), "gold_held_out": len(held),
                 "extra_gold": [_rel(p) for p in extra_gold], "extra_gold_train": n_extra,
                 "gold_groups": sorted(set(groups)) if groups else None,
                 "other_domain_files": [_rel(p) for p in other_paths], "other_domain": len(other),
                 "unlabelled_files": [str(p) for p in unlabelled_paths], "unlabelled": len(weak)},
        "rules": res_rules,
        "model": res_model,
        "check": check,
        "blind": blind,
        "dev": dev_scores,
        "domain_weight_held_out": domain_weight_summary(model, prep.clauses),
        "throughput": throughput,
        "train_seconds": round(train_s, 1),
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "fit_report": model.fit_report_,
    }
    for k, r in (("rules", res_rules), ("model", res_model)):
        log(f"{k}: micro {r['micro_f1']} macro {r['macro_f1']} polarity {r['polarity_accuracy']}")
    if out_dir is not None:
        config = {"taxonomy": str(taxonomy), "gold_path": _rel(gold_path),
                  "unlabelled_paths": [_rel(p) for p in unlabelled_paths], "seed": seed, "eval_frac": eval_frac,
                  "max_unlabelled": max_unlabelled, "sentiment_model": sentiment_spec or ("lexicon" if type(sentiment_model).__name__ == "LexiconSentiment"
                                                             else type(sentiment_model).__name__),
                  "group_gate": group_gate, "extra_gold": [_rel(p) for p in extra_gold],
                  "other_domain": [_rel(p) for p in other_paths], "gold_weight": gold_weight,
                  "dev_paths": [_rel(p) for p in dev_paths or []], "text_column": text_column,
                  "train_command": command, "out": _rel(out_dir),
                  "extra_params": dict(params), "params": model.get_params()}
        metrics["roundtrip_identical"] = save_model_folder(model, metrics, config, out_dir, check=(held, prep))
    return model, metrics


def _other_domain_paths(other_domain) -> list[Path]:
    from voc.taxonomy.card import default_other_domain

    return default_other_domain() if other_domain == "default" else [Path(p) for p in (other_domain or [])]


def _other_texts(paths: list[Path], held: pd.DataFrame) -> list[str]:
    """Other-domain texts, without any held-out comment (the evaluation must not see them)."""
    return load_unlabelled(paths, exclude_texts=held["text"]) if paths else []


def cross_validate(taxonomy: str = "rater", gold_path: str | Path | None = None, folds: int = 5, seed: int = 0,
                   eval_frac: float = 0.4, extra_gold: list[str | Path] | None = None,
                   unlabelled_paths: list[str | Path] | None = None, max_unlabelled: int | None = 20_000,
                   verbose: bool = False, **params) -> dict:
    """K-fold cross-validation of rules and model on the training part (the held-out part is never read).

    The training part (gold minus the held-out 40 %, plus the extra gold) is split in ``folds`` by a seeded
    shuffle; each fold is scored by the rules and by a model trained on the other folds (weak supervision
    from at most ``max_unlabelled`` unlabelled comments). Returns per fold and mean micro/macro-F1 and
    polarity accuracy.
    """
    from sklearn.model_selection import KFold

    log = print if verbose else (lambda *a, **k: None)
    tax = load_taxonomy(taxonomy)
    gold_path = Path(gold_path) if gold_path else data_dir() / GOLD_NAME
    extra_gold = default_extra_gold() if extra_gold is None else [Path(p) for p in extra_gold]
    train, held, _ = load_training_gold(tax, gold_path, extra_gold, eval_frac)
    if unlabelled_paths is None:
        unlabelled_paths = sorted(data_dir().glob(UNLABELLED_GLOB)) if data_dir().is_dir() else []
    exclude = pd.concat([train, held], ignore_index=True)
    weak = load_unlabelled([Path(p) for p in unlabelled_paths], exclude_ids=exclude["id"],
                           exclude_texts=exclude["text"], limit=max_unlabelled, seed=seed)
    from voc.classify.lexicon import LexiconSentiment

    scorer = LexiconSentiment().fit()
    rules = RuleMapper(taxonomy).fit()
    out = {"taxonomy": tax.name, "n": len(train), "folds": []}
    other_all = load_unlabelled(_other_domain_paths("default")) if params.get("domain_mix") else []
    keys = ("micro_f1", "macro_f1", "polarity_accuracy", "strict_micro_f1")
    for i, (a, b) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(train)):
        tr, te = train.iloc[a].reset_index(drop=True), train.iloc[b].reset_index(drop=True)
        model = CategoryModel(taxonomy, random_state=seed, **params)
        test_texts = set(te["text"])
        other = [t for t in other_all if t not in test_texts] or None
        model.fit(tr["text"].tolist(), tr[tax.name].tolist(), weak=weak or None, groups=gold_groups(tr),
                  other=other, sentiment_model=scorer)
        prep = prepare(te["text"].tolist(), scorer)
        fold = {name: {k: evaluate_mapper(m, te, tax, prepared=prep)[k] for k in keys}
                for name, m in (("rules", rules), ("model", model))}
        out["folds"].append(fold)
        log(f"fold {i + 1}: {fold}")
    out["mean"] = {name: {k: round(float(np.mean([f[name][k] for f in out["folds"]])), 4) for k in keys}
                   for name in ("rules", "model")}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m voc.taxonomy.train", description=__doc__.splitlines()[0])
    ap.add_argument("--taxonomy", default="rater", help="bundled taxonomy name or YAML path")
    ap.add_argument("--gold", default=None, help="GUIDELINES-format gold CSV")
    ap.add_argument("--unlabelled", nargs="*", default=None, help="unlabelled CSVs with a text column")
    ap.add_argument("--text-column", default=None, help="comment column of the unlabelled files (default: text)")
    ap.add_argument("--dev", nargs="*", default=None, help="GUIDELINES-format files to score rules and model on")
    ap.add_argument("--out", default=None, help="model folder to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-frac", type=float, default=0.4)
    ap.add_argument("--max-unlabelled", type=int, default=None)
    ap.add_argument("--sentiment-model", default="lexicon",
                    help="clause sentiment scorer: lexicon or a sentiment model name/folder")
    ap.add_argument("--no-group-gate", action="store_true",
                    help="keep learned detectors that beat the rules in-domain even if not across domains")
    ap.add_argument("--extra-gold", nargs="*", default=None,
                    help="extra labelled files: labels without text (file,id,text_sha1,...) joined to the "
                         "data folder, or GUIDELINES-format files with text (default: models/labels/"
                         "extra_gold*.csv and ood_train*.csv; give none to use no extra gold)")
    ap.add_argument("--other-domain", nargs="*", default="default",
                    help="with --param domain_mix=true: files of comments from other domains for the domain "
                         "model (default: models/labels/sentiment_extra*.csv and ood_train*.csv)")
    ap.add_argument("--gold-weight", type=float, default=1.0,
                    help="weight of the gold file's training comments relative to the extra gold")
    ap.add_argument("--cv", type=int, default=0, metavar="K",
                    help="instead of training, K-fold cross-validate rules and model on the training part")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="CategoryModel parameter, e.g. --param max_features=50000 (repeatable)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    params = {}
    for item in a.param:
        name, _, value = item.partition("=")
        params[name.strip()] = yaml.safe_load(value)
    if a.cv:
        res = cross_validate(a.taxonomy, a.gold, a.cv, seed=a.seed, eval_frac=a.eval_frac, extra_gold=a.extra_gold,
                             unlabelled_paths=a.unlabelled, max_unlabelled=a.max_unlabelled or 20_000,
                             verbose=not a.quiet, **params)
        print(json.dumps({"taxonomy": res["taxonomy"], "n": res["n"], "mean": res["mean"]}, ensure_ascii=False,
                         indent=2))
        return 0
    _, metrics = train_category_model(a.taxonomy, a.gold, a.unlabelled, a.out, seed=a.seed, eval_frac=a.eval_frac,
                                      max_unlabelled=a.max_unlabelled, sentiment_model=a.sentiment_model,
                                      group_gate=not a.no_group_gate, extra_gold=a.extra_gold,
                                      other_domain=a.other_domain, gold_weight=a.gold_weight, dev_paths=a.dev,
                                      text_column=a.text_column, verbose=not a.quiet, **params)
    summary = {k: {m: metrics[k][m] for m in ("micro_f1", "macro_f1", "polarity_accuracy", "strict_micro_f1")}
               for k in ("rules", "model")}
    print(json.dumps({"taxonomy": metrics["taxonomy"], **summary, "throughput": metrics["throughput"],
                      "train_seconds": metrics["train_seconds"]}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
