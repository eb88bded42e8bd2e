"""The trained category model's folder: ``model.skops``, ``meta.json``, ``metrics.json``, ``config.yaml`` and
``MODEL_CARD.md`` (written from the training metrics), and the command that reproduces it."""

from __future__ import annotations

import json
import os
import platform
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from voc.taxonomy.learned import CategoryModel

REPO_ROOT = Path(__file__).resolve().parents[2]
LABELS_DIR = REPO_ROOT / "models" / "labels"  # our committed label files


def default_extra_gold() -> list[Path]:
    """The committed extra gold files: ``models/labels/extra_gold*.csv`` (labels of shared comments, without
    text) and ``models/labels/ood_train*.csv`` (comments we wrote in other domains)."""
    return sorted(LABELS_DIR.glob("extra_gold*.csv")) + sorted(LABELS_DIR.glob("ood_train*.csv"))


OTHER_DOMAIN_GLOBS = ("sentiment_extra*.csv", "ood_train*.csv")


def default_other_domain() -> list[Path]:
    """Committed files of comments we wrote in domains other than hotels and online shopping
    (``models/labels/sentiment_extra*.csv``, ``ood_train*.csv``): the other-domain examples of the domain
    model of ``domain_mix``."""
    return sorted(p for g in OTHER_DOMAIN_GLOBS for p in LABELS_DIR.glob(g))
GOLD_NAME = "category_dev.csv"
UNLABELLED_GLOB = "*_sentiment_*.csv"


def data_dir() -> Path:
    """Where the shared data lives: ``$VOC_DATA_DIR`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("VOC_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


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
    if config.get("text_column"):
        cmd += f" --text-column {config['text_column']}"
    if config.get("dev_paths"):
        cmd += " --dev" + "".join(f" {p}" for p in config["dev_paths"])
    extra = {k: v for k, v in (config.get("extra_params") or {}).items()}
    if extra:
        cmd += " " + " ".join(f"--param {k}={v}" for k, v in extra.items())
    if config.get("eval_frac") != 0.4:
        cmd += f" --eval-frac {config['eval_frac']}"
    if config.get("max_unlabelled"):
        cmd += f" --max-unlabelled {config['max_unlabelled']}"
    if config.get("sentiment_model") not in (None, "lexicon", "LexiconSentiment"):
        cmd += f" --sentiment-model {config['sentiment_model']}"
    if config.get("gold_weight", 1.0) != 1.0:
        cmd += f" --gold-weight {config['gold_weight']:g}"
    if config.get("group_gate") is False:
        cmd += " --no-group-gate"
    other = config.get("other_domain")
    if other and list(other) != [_rel(p) for p in default_other_domain()]:
        cmd += " --other-domain" + "".join(f" {p}" for p in other)
    extra_gold = config.get("extra_gold")
    if extra_gold is not None and list(extra_gold) != [_rel(p) for p in default_extra_gold()]:
        cmd += " --extra-gold" + "".join(f" {p}" for p in extra_gold)
    return cmd


def save_model_folder(model: CategoryModel, metrics: dict, config: dict, out_dir: str | Path,
                      check: tuple[pd.DataFrame, object] | None = None) -> bool | None:
    """Write ``model.skops``, ``meta.json``, ``metrics.json``, ``config.yaml`` and ``MODEL_CARD.md``.

    With ``check`` (held-out gold and its prepared clauses) the folder is loaded back through
    :func:`voc.classify.registry.load_model` and its mentions compared with the fitted model's;
    returns whether they are identical.
    """
    import sklearn

    from voc.classify.registry import import_skops, skops_types

    sio = import_skops()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sio.dump(model, out / "model.skops", compression=zipfile.ZIP_DEFLATED)
    tax = model.taxonomy_
    meta = {"format": "skops", "task": tax.name, "backend": "tfidf", "taxonomy": tax.name,
            "labels": [str(k) for k in model.classes_], "model_class": "voc.taxonomy.learned.CategoryModel",
            "created": date.today().isoformat(), "sklearn": sklearn.__version__,
            "python": platform.python_version(), "skops_types": skops_types(out / "model.skops")}
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    cfg = dict(config)
    cfg["command"] = config.get("train_command") or reproduce_command(config, out)
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


def _score_table(rules: dict, model: dict) -> list[str]:
    """Markdown rows: micro/macro-F1, polarity accuracy and strict micro-F1 of the rules and the model."""
    keys = ("micro_f1", "macro_f1", "polarity_accuracy", "strict_micro_f1")
    return ["| | micro-F1 | macro-F1 | polarity accuracy | strict micro-F1 |", "|---|---|---|---|---|",
            *(f"| {name} | " + " | ".join(_fmt(res[k]) for k in keys) + " |"
              for name, res in (("rules", rules), ("model", model)))]


def _weights_note(metrics: dict) -> str:
    """'; domain weight d: mean 0.89 (98% above 0.5) on the held-out comments, ...' from the metrics."""
    parts = []
    for label, w in (("the held-out comments", metrics.get("domain_weight_held_out")),
                     ("the check file", (metrics.get("check") or {}).get("domain_weight")),
                     ("the blind file, whose hotel and shopping comments are written too",
                      (metrics.get("blind") or {}).get("domain_weight"))):
        if w:
            parts.append(f"{w['mean']:.2f} ({w['share_above_half']:.0%} above 0.5) on {label}")
    return ("; mean domain weight " + ", ".join(parts)) if parts else ""


def _extra_gold_note(d: dict, gold_weight: float = 1.0) -> str:
    """The card's note on the committed extra gold files that were used (what each kind holds) and on the
    gold file's weight."""
    names = [Path(p).name for p in d.get("extra_gold", [])]
    note = ""
    if any(n.startswith("extra_gold") for n in names):
        note += (" A label file without a `text` column holds shared hotel and shopping comments as the row id and "
                 "a hash of the text (the text is read from the data folder at training time);")
    if any(n.startswith("ood_train") for n in names):
        note += (" `ood_train*.csv` hold comments we wrote ourselves in about 30 other domains (food delivery, "
                 "telecom, banking, ride hailing, apps, travel, insurance, utilities, government services, ...), "
                 "which also give the cross-domain gate a third domain and the domain model its other-domain "
                 "examples.")
    if gold_weight != 1.0:
        note += (f" The gold file's training comments weigh {gold_weight:g} times an extra comment: the "
                 "held-out evaluation follows the gold file's labelling conventions (chosen by cross-validation "
                 "on the gold training part alone).")
    return note.rstrip(";") + ("." if note.endswith(";") else "")


def model_card(model: CategoryModel, metrics: dict, config: dict) -> str:
    """The model card (Markdown)."""
    tax = model.taxonomy_
    r, m = metrics["rules"], metrics["model"]
    d = metrics["data"]
    rep = metrics.get("fit_report", {}).get("categories", {})
    groups = d.get("gold_groups") or []
    n_model = sum(1 for k in tax.keys if rep.get(k, {}).get("decision") == "model")
    mixed = [k for k in tax.keys if rep.get(k, {}).get("decision") == "mixed"]
    dom = metrics.get("fit_report", {}).get("domain")
    name = Path(config.get("out") or f"{tax.name}-tfidf").name
    shared_gold = Path(d["gold"]).name == GOLD_NAME  # voc's own gold: hotel and shopping reviews
    lines = [
        f"# {name}: trained {tax.title or tax.name} category mapper",
        "",
        f"Maps Chinese customer comments to the {len(tax.keys)} categories of the `{tax.name}` taxonomy "
        f"({', '.join(tax.keys)}), each with its own polarity, for voc's pipeline "
        f"(`taxonomies: [{{name: {tax.name}, mapper: {name}}}]`).",
        "It is a drop-in replacement for the lexicon rules (`mapper: rules`): same inputs (clauses and "
        "their sentiment scores), same output (mentions with polarity, evidence and clause).",
        "",
        "## Data",
        "",
        f"- Gold: `{Path(d['gold']).name}` (GUIDELINES format{', hotel and shopping reviews' if shared_gold else ''}). "
        "A fixed "
        f"SHA-1-of-id split keeps {d['gold_held_out']} comments ({config['eval_frac']:.0%}) for evaluation "
        f"only; {d['gold_train'] - d.get('extra_gold_train', 0)} train the combiner, the gold text model and the "
        "polarity model"
        + (f", together with {d['extra_gold_train']} further comments labelled to GUIDELINES "
           f"({', '.join(f'`{p}`' for p in d.get('extra_gold', []))})." + _extra_gold_note(d, config.get("gold_weight", 1.0))
           if d.get("extra_gold_train")
           else "."),
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
        ("3. Per category, a logistic-regression combiner of (1) and (2) trained on gold, mixed per comment "
         "with the rules: a domain model (logistic regression on the same n-grams"
         + (f"; {dom['training_domains']:,} comments of the training domains, the unlabelled ones and their "
            f"gold, against {dom['other_domains']:,} comments we wrote in other domains, "
            f"{', '.join(f'`{Path(p).name}`' for p in d.get('other_domain_files', []))}" if dom else "")
         + ") gives each comment a weight d of being hotel or shopping text, and a category is present when "
         "d × combiner + (1 − d) × rule hit ≥ 0.5. The gold-trained text scores, which help on hotel and "
         "shopping reviews but did not carry to other domains, thus act only on text like them; comments "
         "from other domains keep the rules' detection. "
         + f"{len(mixed)} of {len(tax.keys)} categories are mixed this way"
         + (f"; the others ({', '.join(k for k in tax.keys if k not in mixed)}) have too few gold positives "
            "and keep the rules." if len(mixed) < len(tax.keys) else ".")) if mixed else
        ("3. Per category, a logistic-regression combiner of (1) and (2) trained on gold; it is used only "
         "where it beat the bare rules out-of-fold on the gold training part"
         + (f" and also when trained on the other domains and tested on each one ({', '.join(groups)})" if groups else "")
         + "; elsewhere the rules decide. "
         + f"Here {n_model} of {len(tax.keys)} categories use the combiner"
         + (f" ({', '.join(k for k in tax.keys if rep.get(k, {}).get('decision') == 'model')})" if n_model else "")
         + "."),
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
        *_score_table(r, m),
        "",
        "| category | support | rules F1 | model F1 | detection by |",
        "|---|---|---|---|---|",
    ]
    for k in tax.keys:
        rk, mk = r["per_class"][k], m["per_class"][k]
        by = rep.get(k, {}).get("decision", "")
        lines.append(f"| {k} | {rk['support']} | {_fmt(rk['f1'])} | {_fmt(mk['f1'])} | {by} |")
    files = (("check", "Check file `{file}` ({n} comments written for voc in other domains: food delivery, telecom "
              "and apps, banking, ride hailing, retail and services). It was used to find lexicon gaps, so its "
              "scores are optimistic as well:"),
             ("blind", "Blind check file `{file}` ({n} comments in eight domains, hotels and online shopping among "
              "them, written and labelled to GUIDELINES by an annotator who never saw voc's lexicons; only these "
              "overall scores are read, never its errors):"))
    for key, text in files:
        res = metrics.get(key)
        if res:
            lines += ["", text.format(file=res["file"], n=res["model"]["n"]), "", *_score_table(res["rules"], res["model"])]
    for fname, res in (metrics.get("dev") or {}).items():
        seen = res.get("overlap_with_training", 0)
        lines += ["", f"Dev file `{fname}` ({res['model']['n']} comments, given with `--dev`"
                  + (f"; {seen} of them were also trained on, so these scores are optimistic" if seen else
                     "; none of them trained on") + "):", "", *_score_table(res["rules"], res["model"])]
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
        ("- The lexicons were tuned while looking at the gold training part, the extra gold and the check file "
         "(never at the held-out part's errors), so the rules' scores on those are optimistic." if shared_gold else
         f"- The gold comments all come from `{Path(d['gold']).name}`"
         + (" (and the extra gold above)" if d.get("extra_gold_train") else "")
         + "; text unlike them has not been measured (score some with `voc eval`)."),
        *([] if not shared_gold else [("- Real gold comes from hotel and shopping reviews only; other domains are covered by comments we "
         "wrote (`ood_train*.csv`). The domain model learns hotel and shopping from real reviews and other "
         "domains from our written comments, so part of what it separates may be writing style"
         + _weights_note(metrics)
         + ". Real reviews from other domains that read like shopping reviews will get some combiner weight. "
         "Detection on other domains is the rules', whose lexicons cover general service vocabulary (delivery, "
         "telecom, banking, ride hailing). The polarity model carries across domains." if mixed else
         "- Real gold comes from hotel and shopping reviews only; other domains are covered by comments we "
         "wrote (`ood_train*.csv`). Learned detectors are kept only where they also beat the rules when trained "
         "on the other domains and tested on each one; detection elsewhere is the rules', whose lexicons cover "
         "general service vocabulary (delivery, telecom, banking, ride hailing). The polarity model carries "
         "across domains.")]),
        f"- Clause sentiment comes from `{config.get('sentiment_model') or 'lexicon'}` (the pipeline's sentiment "
        "model should be the same; `voc eval` uses it); a different sentiment model changes the polarity inputs "
        "(retrain with it).",
        "",
        "## Reproduce",
        "",
        "```bash",
        config["command"],
        "```",
        "",
    ]
    return "\n".join(lines)
