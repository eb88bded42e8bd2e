"""Model registry: models live in folders under ``models/`` and load safely (skops, no pickle).

A model folder holds ``model.skops`` (or transformer weights), ``meta.json``
(task, backend, label map), ``config.yaml``, ``metrics.json`` and
``MODEL_CARD.md``. A spec is a folder path or the name of a folder under the
models root (``$VOC_MODELS_DIR`` or the project's ``models/``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from voc.errors import ModelError

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "voc.", "builtins.", "collections.", "re.")


def models_root() -> Path:
    """Where named models live."""
    env = os.environ.get("VOC_MODELS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models"


def resolve_model(spec: str) -> Path:
    """The folder of a model given by path or name."""
    p = Path(spec)
    if p.is_dir():
        return p
    cand = models_root() / spec
    if cand.is_dir():
        return cand
    raise ModelError(f"model {spec!r} is not a folder nor a model under {models_root()}; run 'voc models list'")


def read_meta(path: Path) -> dict:
    """The ``meta.json`` of a model folder."""
    f = path / "meta.json"
    if not f.is_file():
        raise ModelError(f"{path} has no meta.json; it is not a voc model folder")
    return json.loads(f.read_text(encoding="utf-8"))


def load_model(spec: str):
    """Load a model safely: skops with only scikit-learn, numpy, scipy and voc types trusted."""
    path = resolve_model(spec)
    meta = read_meta(path)
    fmt = meta.get("format", "skops")
    if fmt == "skops":
        import skops.io as sio

        f = path / "model.skops"
        untrusted = sio.get_untrusted_types(file=f)
        bad = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if bad:
            raise ModelError(f"model {path} contains types voc does not trust: {', '.join(bad[:5])}")
        return sio.load(f, trusted=untrusted)
    if fmt == "hf":  # transformer checkpoint: from_pretrained(path), safetensors only
        from voc.transformer.model import load_transformer

        return load_transformer(path, meta)
    raise ModelError(f"model {path} has unknown format {fmt!r}")
