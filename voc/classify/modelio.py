"""Save a trained model as a registry folder: weights (skops), meta, resolved config, metrics, model card."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import yaml

from voc import __version__


def save_model_folder(folder: str | Path, model, meta: dict, config: dict, metrics: dict, card: str) -> Path:
    """Write a model folder that :func:`voc.classify.registry.load_model` can load.

    Parameters
    ----------
    folder : the folder to (re)write.
    model : a fitted estimator, saved with skops; None when the caller wrote the weights itself.
    meta : task, backend, labels and anything else the loader needs (``format`` defaults to ``skops``).
    config : the resolved training configuration (hyper-parameters, data files, seed).
    metrics : evaluation figures.
    card : the model card body in Markdown.
    """
    from voc.classify.registry import import_skops, skops_types

    sio = import_skops()

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    extra = {}
    if model is not None:  # None: the weights are written by the caller (transformer checkpoints)
        sio.dump(model, folder / "model.skops")
        extra["skops_types"] = skops_types(folder / "model.skops")
    meta = {"format": "skops", "voc_version": __version__, "python": platform.python_version(),
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **meta, **extra}
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
                                        encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    return folder


def check_out_folder(folder: str | Path, overwrite: bool = False) -> None:
    """Refuse to train into a folder that already holds a model, before any training time is spent.

    Parameters
    ----------
    folder : the model folder ``voc train --out`` will write.
    overwrite : replace what is there (``--overwrite``).

    Raises
    ------
    ConfigError
        Without ``overwrite``: the folder holds a model (``meta.json``), or it is a folder of voc's own
        ``models/`` directory (a shipped model, the label files) or that directory itself, or a file.
    """
    from voc.classify.registry import project_root
    from voc.errors import ConfigError

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; give a new folder for the model")
    if overwrite:
        return
    shipped = (project_root() / "models").resolve()
    target = out.resolve()
    if target == shipped or (target.parent == shipped and target.exists()):
        raise ConfigError(f"--out {out} is voc's own models/{'' if target == shipped else target.name} folder; "
                          "give a new folder (e.g. models/my-model), or add --overwrite to replace it")
    if (out / "meta.json").is_file():
        raise ConfigError(f"--out {out} already holds a model; give a new folder, or add --overwrite to replace it")
