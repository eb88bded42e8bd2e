"""Model registry: models live in folders under ``models/`` and load safely (skops, no pickle).

A model folder holds ``model.skops`` (or transformer weights), ``meta.json``
(task, backend, label map), ``config.yaml``, ``metrics.json`` and
``MODEL_CARD.md``. A spec is a folder path or the name of a folder under the
models root (``$VOC_MODELS_DIR`` or the project's ``models/``).
:func:`list_models` describes every registered model and marks the ones the
default pipeline (``pipelines/demo.yaml``) uses.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from voc.errors import ModelError

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "voc.", "builtins.", "collections.", "re.")
WEIGHT_FILES = {"skops": ("model.skops",), "hf": ("model.safetensors", "model.safetensors.index.json")}
# Files that give a Hugging Face folder its vocabulary: without one, transformers silently builds a tokenizer
# of the special tokens only and every character becomes [UNK].
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model",
                   "tokenizer.model")
BASELINES = ("auto", "rules", "lexicon")  # model specs that name no folder
CARD_HEAD_LINES = 12


def project_root() -> Path:
    """The folder holding ``voc/``, ``models/`` and ``pipelines/``."""
    return Path(__file__).resolve().parents[2]


def default_pipeline() -> Path:
    """The pipeline whose models are the defaults: ``pipelines/demo.yaml``."""
    return project_root() / "pipelines" / "demo.yaml"


def models_root() -> Path:
    """Where named models live."""
    env = os.environ.get("VOC_MODELS_DIR")
    if env:
        return Path(env)
    return project_root() / "models"


# What ``auto`` means per task (sentiment, and the built-in taxonomies' mappers): the shipped model when
# its folder is present, else the rule baseline.
AUTO_MODELS = {"sentiment": "sentiment-tfidf", "rater": "rater-tfidf", "touchpoint": "touchpoint-tfidf"}
AUTO_BASELINES = {"sentiment": "lexicon"}


def auto_model(task: str, own_taxonomy: bool = False) -> str:
    """The model ``auto`` stands for in task ``task`` (``sentiment`` or a taxonomy name): the shipped model
    of :data:`AUTO_MODELS` when present, else ``lexicon`` (sentiment) or ``rules``; always ``rules`` for a
    taxonomy of your own (``own_taxonomy``), which no shipped model knows."""
    name = None if own_taxonomy else AUTO_MODELS.get(task)
    if name and (models_root() / name / "meta.json").is_file():
        return name
    return AUTO_BASELINES.get(task, "rules")


def resolve_model(spec: str) -> Path:
    """The folder of a model given by path (relative to the current folder) or by name (under the models root).

    Raises
    ------
    ModelError : neither exists; the message names both places looked in.
    """
    p = Path(spec).expanduser()
    if p.is_dir():
        return p
    cand = models_root() / spec
    if cand.is_dir():
        return cand
    raise ModelError(f"model {spec!r} is not a folder ({os.path.normpath(p.absolute())}) nor a model under "
                     f"{models_root()}; give a model folder or a name from 'voc models list'")


def looks_like_path(spec: str) -> bool:
    """Whether a model spec is written as a path (holds a path separator, or starts with ``.`` or ``~``)
    rather than as a registry name."""
    return "/" in spec or os.sep in spec or spec.startswith((".", "~"))


def locate_model_spec(spec: str, base: Path) -> str:
    """A model spec from a pipeline file, made independent of the current folder.

    Like the file's other paths (:func:`voc.config.load_config`), a folder relative to the current folder
    comes first, then one relative to the file's folder ``base`` (returned as an absolute path); registry
    names and the baselines (``auto``, ``rules``, ``lexicon``) are returned unchanged.

    Raises
    ------
    ModelError : ``spec`` is written as a path and is a folder in none of those places.
    """
    if spec in BASELINES:
        return spec
    p = Path(spec).expanduser()
    if p.is_dir():
        return str(p) if p != Path(spec) else spec
    if not p.is_absolute() and (base / p).is_dir():
        return str((base / p).resolve())
    if looks_like_path(spec) and not (models_root() / spec).is_dir():
        if p.is_absolute():
            where = f"no folder {p}"
        else:
            here, there = os.path.normpath(p.absolute()), os.path.normpath(base / p)
            where = (f"no folder {there} (from the pipeline file's folder and the current folder)" if here == there
                     else f"no folder {there} (from the pipeline file's folder) nor {here} (from the current folder)")
        raise ModelError(f"model {spec!r} not found: {where}; give the path of a model folder, relative to the "
                         "pipeline file")
    return spec


def read_meta(path: Path) -> dict:
    """The ``meta.json`` of a model folder."""
    f = path / "meta.json"
    if not f.is_file():
        raise ModelError(f"{path} has no meta.json; it is not a voc model folder")
    return json.loads(f.read_text(encoding="utf-8"))


def folder_problem(path: Path, meta: dict) -> str | None:
    """Why the model folder ``path`` (with ``meta.json`` ``meta``) cannot load, in one sentence; None when
    its files are all there: the weight file, and a Hugging Face folder's tokenizer files."""
    fmt = meta.get("format", "skops")
    weights = WEIGHT_FILES.get(fmt, ())
    if weights and not any((path / f).is_file() for f in weights):
        return (f"model {path} has no {weights[0]} (its weights); retrain it (see its MODEL_CARD.md) or copy "
                "the whole folder from where it was trained")
    if fmt == "hf" and not any((path / f).is_file() for f in TOKENIZER_FILES):
        return (f"model {path} has no tokenizer files (tokenizer.json, tokenizer_config.json and the vocabulary, "
                "e.g. vocab.txt); copy them from the folder it was trained in or from its base model")
    return None


_SKOPS_IMPORT = threading.Lock()


def import_skops():
    """Import ``skops.io`` without its start-up scans.

    At import, skops builds default lists of trusted types: every scikit-learn estimator, by importing
    every scikit-learn module (and torch with them, when installed), and every numpy and scipy ufunc, each
    looked up in every loaded module (about a second in a process that has loaded voc). voc never relies
    on those lists: :func:`load_model` passes the trusted types explicitly after checking them against
    ``TRUSTED_PREFIXES``, and voc's models hold no estimators or ufuncs outside them. Both scans are
    skipped, which only narrows what skops trusts by default. Any failure falls back to a plain import.
    """
    import sys

    with _SKOPS_IMPORT:  # the patches below are process-wide: one importer at a time
        if "skops.io" in sys.modules:
            return sys.modules["skops.io"]
        return _import_skops_patched()


def _import_skops_patched():
    import importlib
    import importlib.abc
    import sys

    import sklearn.utils

    class _SkipUfuncScan(importlib.abc.MetaPathFinder):
        """Before ``skops.io._trusted_types`` runs, its ufunc scan is replaced by an empty list."""

        utils = real_names = None

        def find_spec(self, name, path=None, target=None):
            if name == "skops.io._trusted_types" and self.utils is None:
                self.utils = importlib.import_module("skops.io._utils")
                self.real_names = self.utils.get_public_type_names
                self.utils.get_public_type_names = lambda *args, **kwargs: []
            return None

    hook = _SkipUfuncScan()
    real = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda *args, **kwargs: []
    sys.meta_path.insert(0, hook)
    try:
        import skops.io
    except Exception:  # pragma: no cover - a skops release that needs the lists at import
        for name in [m for m in sys.modules if m.startswith("skops.io")]:
            sys.modules.pop(name, None)
        sys.meta_path.remove(hook)
        sklearn.utils.all_estimators = real
        import skops.io
    finally:
        if hook in sys.meta_path:
            sys.meta_path.remove(hook)
        if hook.utils is not None:
            hook.utils.get_public_type_names = hook.real_names
        sklearn.utils.all_estimators = real
    return skops.io


def _check_trusted(path: Path, types: list[str]) -> None:
    bad = [t for t in types if not t.startswith(TRUSTED_PREFIXES)]
    if bad:
        raise ModelError(f"model {path} contains types voc does not trust: {', '.join(bad[:5])}")


def skops_types(path: Path) -> list[str]:
    """The non-default types a skops file holds (what ``meta.json`` records as ``skops_types``)."""
    return sorted(import_skops().get_untrusted_types(file=path))


def load_model(spec: str):
    """Load a model safely: skops with only scikit-learn, numpy, scipy and voc types trusted.

    When ``meta.json`` lists the file's types (``skops_types``, written at save time) and they all pass the
    check, the file is audited and loaded in one pass; otherwise its types are read from the file first.
    """
    path = resolve_model(spec)
    meta = read_meta(path)
    fmt = meta.get("format", "skops")
    if fmt in WEIGHT_FILES:
        problem = folder_problem(path, meta)
        if problem:
            raise ModelError(problem)
    if fmt == "skops":
        sio = import_skops()
        f = path / "model.skops"
        listed = meta.get("skops_types")
        if isinstance(listed, list) and all(isinstance(t, str) for t in listed):
            # One pass: skops refuses any type of the file that the list lacks, and the list itself must
            # pass the prefix check, so a wrong or tampered list cannot widen what is trusted.
            _check_trusted(path, listed)
            from skops.io.exceptions import UntrustedTypesFoundException

            try:
                return sio.load(f, trusted=listed)
            except UntrustedTypesFoundException:
                pass  # the list is stale: audit the file itself below
        untrusted = sio.get_untrusted_types(file=f)
        _check_trusted(path, untrusted)
        return sio.load(f, trusted=untrusted)
    if fmt == "hf":  # transformer checkpoint: from_pretrained(path), safetensors only
        from voc.transformer.model import load_transformer

        return load_transformer(path, meta)
    raise ModelError(f"model {path} has unknown format {fmt!r}")


def default_models(pipeline: str | Path | None = None) -> dict[str, Path]:
    """The model folder each task of a pipeline uses, by task.

    ``sentiment.model`` gives task ``sentiment``; each ``taxonomies[].mapper`` gives the task named like the
    taxonomy (``rater``, ``touchpoint``); ``auto`` and unset models are resolved as the pipeline does
    (:func:`auto_model`). Rule baselines (``lexicon``, ``rules``) and missing folders are
    left out, as is everything when the pipeline file does not exist.

    Parameters
    ----------
    pipeline : the pipeline YAML; default :func:`default_pipeline`.
    """
    import yaml

    path = Path(pipeline) if pipeline is not None else default_pipeline()
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise ModelError(f"pipeline file {path} is not valid YAML; fix it to see which models are defaults") from None
    spec = (data.get("sentiment") or {}).get("model") or "auto"
    specs = {"sentiment": auto_model("sentiment") if spec == "auto" else spec}
    for tax in data.get("taxonomies") or [{"name": "rater"}, {"name": "touchpoint"}]:
        if isinstance(tax, dict) and tax.get("name"):
            spec = tax.get("mapper") or "auto"
            specs[str(tax["name"])] = auto_model(str(tax["name"]), bool(tax.get("path"))) if spec == "auto" else spec
    found = {}
    for task, spec in specs.items():
        if not spec:
            continue
        for cand in (models_root() / str(spec), path.parent / str(spec), Path(str(spec))):
            if (cand / "meta.json").is_file():
                found[task] = cand.resolve()
                break
    return found


def weights_hash(path: Path, n: int = 12) -> str | None:
    """The first ``n`` hex digits of the sha256 of a model folder's weight file (``model.skops``,
    ``model.safetensors``, ...), None when it has none."""
    import hashlib

    for name in (f for files in WEIGHT_FILES.values() for f in files):
        f = path / name
        if f.is_file():
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            return h.hexdigest()[:n]
    return None


def model_record(spec: str, given: str | None = None) -> dict:
    """Which model ``spec`` is, for a run's record: ``given`` (the spec as written, default ``spec``),
    ``name`` (the folder's name, or the baseline ``lexicon``/``rules``), ``path`` (the absolute folder),
    ``backend`` and ``created`` (from ``meta.json``) and ``sha256`` (the first 12 hex digits of the weight
    file's hash). A baseline has no path, creation time nor hash."""
    if spec in BASELINES:
        return {"given": given or spec, "name": spec, "path": None, "backend": spec, "created": None,
                "sha256": None}
    path = resolve_model(spec).resolve()
    meta = read_meta(path)
    return {"given": given or spec, "name": path.name, "path": str(path), "backend": meta.get("backend"),
            "created": meta.get("created"), "sha256": weights_hash(path)}


def list_models(pipeline: str | Path | None = None) -> list[dict]:
    """Every model folder under the models root, sorted by name.

    Returns
    -------
    One dict per folder with ``name``, ``task``, ``backend``, ``path``, ``default`` (the default pipeline
    uses it for its task), ``format`` and ``weights`` (whether the weight files are present: large
    transformer weights are rebuilt, not committed). A folder that cannot load has an ``error`` (one
    sentence): its ``meta.json`` is unreadable (``task`` None), or its weights or tokenizer files are missing
    (:func:`folder_problem`).
    """
    root = models_root()
    if not root.is_dir():
        return []
    defaults = default_models(pipeline)
    rows = []
    for folder in sorted(p for p in root.iterdir() if (p / "meta.json").is_file()):
        row = {"name": folder.name, "task": None, "backend": None, "path": str(folder), "default": False,
               "format": None, "weights": False}
        try:
            meta = read_meta(folder)
        except (ValueError, OSError) as e:
            rows.append({**row, "error": f"unreadable meta.json: {e}"})
            continue
        fmt = meta.get("format", "skops")
        task = meta.get("task")
        row.update(task=task, backend=meta.get("backend"), format=fmt,
                   weights=any((folder / f).is_file() for f in WEIGHT_FILES.get(fmt, ())))
        key = meta.get("taxonomy", task)
        row["default"] = defaults.get(key) == folder.resolve()
        problem = folder_problem(folder, meta)
        if problem:
            row["error"] = problem
        rows.append(row)
    return rows


def model_info(spec: str, card_lines: int = CARD_HEAD_LINES) -> dict:
    """A model's ``meta.json``, ``metrics.json`` (None when absent) and the first lines of its card; ``error``
    says why the folder cannot load (:func:`folder_problem`), None when it can."""
    path = resolve_model(spec)
    meta = read_meta(path)
    metrics_file, card_file = path / "metrics.json", path / "MODEL_CARD.md"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else None
    card = card_file.read_text(encoding="utf-8").splitlines() if card_file.is_file() else []
    return {"name": path.name, "path": str(path), "meta": meta, "metrics": metrics,
            "card_head": "\n".join(card[:card_lines]), "card_lines": len(card), "error": folder_problem(path, meta)}
