"""Fine-tunable transformer classifiers with the scikit-learn contract.

- :class:`TransformerClassifier`: single-label (``predict_proba``, ``classes_``).
- :class:`TransformerSentiment`: the same for sentiment; trained on binary labels it decides neutral like
  the TF-IDF model (calibrated confidence below a tuned threshold, see :func:`voc.classify.tfidf.neutral_proba`).
- :class:`voc.transformer.category.TransformerCategoryModel`: multi-label categories with per-category polarity.

Any local BERT / RoBERTa / XLM-R family checkpoint works as ``base_model``: it is loaded with
``AutoModelForSequenceClassification.from_pretrained(path, use_safetensors=True)`` (a new classification head
is added) and nothing is ever downloaded. A fitted model saves as a plain Hugging Face checkpoint
(``config.json``, ``model.safetensors``, tokenizer files) plus voc's ``meta.json``; see :func:`load_transformer`.
"""

from __future__ import annotations

import copy
import importlib
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from voc.errors import ModelError
from voc.transformer.infer import (LONG_TEXT_POLICIES, Windows, forward_windows, make_windows, merge_single,
                                  model_device, quiet_transformers, resolve_device)
from voc.transformer.loop import LoopConfig, fine_tune, seed_everything

HF_WEIGHTS = "model.safetensors"


def check_checkpoint(path) -> Path:
    """``path`` as a Path if it is a local Hugging Face checkpoint folder, else a one-sentence ModelError."""
    if path is None or str(path) == "":
        raise ModelError("the transformer backend needs --base-model PATH: a local BERT/RoBERTa/XLM-R "
                         "checkpoint folder (config.json, model.safetensors, tokenizer files)")
    p = Path(path)
    if not p.is_dir():
        from voc.classify.registry import models_root

        cand = models_root() / str(path)
        if cand.is_dir():
            p = cand
        else:
            raise ModelError(f"base model {path} is not a folder; give a local checkpoint folder "
                             "(config.json, model.safetensors, tokenizer files), e.g. models/e5-small")
    missing = [f for f in ("config.json",) if not (p / f).is_file()]
    if not list(p.glob("*.safetensors")):
        missing.append("*.safetensors")
    from voc.classify.registry import TOKENIZER_FILES

    if not any((p / f).is_file() for f in TOKENIZER_FILES):
        missing.append("tokenizer files (tokenizer.json or a vocabulary such as vocab.txt)")
    if missing:
        raise ModelError(f"base model {p} lacks {', '.join(missing)}; it must be a Hugging Face checkpoint "
                         "saved with save_pretrained (safetensors weights)")
    return p


def check_tokenizer(tok, model, folder) -> None:
    """Raise a one-sentence ModelError unless ``tok`` fits ``model``'s embedding table.

    A tokenizer larger than the table gives ids the model cannot embed; one much smaller (under half) is not
    the vocabulary the model was trained with, e.g. the special-tokens-only tokenizer transformers builds
    for a folder without tokenizer files, which turns every character into ``[UNK]``.
    """
    rows = model.get_input_embeddings().num_embeddings
    n = len(tok)
    if n > rows or n < rows / 2:
        raise ModelError(f"the tokenizer of {folder} has {n} tokens but the model embeds {rows}; copy the "
                         "tokenizer files (tokenizer.json, tokenizer_config.json, vocabulary) the model was "
                         "trained with into the folder")


def _keep_layers(model, n: int, name: str) -> None:
    """Cut a BERT-family model to its first ``n`` encoder layers, in place (config updated to match)."""
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if layers is None:
        raise ModelError(f"num_layers works with BERT/RoBERTa/XLM-R encoders; {name} has no encoder.layer list")
    if not 1 <= n <= len(layers):
        raise ModelError(f"num_layers must be between 1 and {len(layers)} (the layers of {name}), not {n}")
    model.base_model.encoder.layer = layers[:n]
    model.config.num_hidden_layers = n


class _TransformerBase(BaseEstimator):
    """Shared parameters, loading, inference and persistence of the transformer estimators."""

    _n_states = 0  # multi-label models: states per category

    def _loop_config(self) -> LoopConfig:
        return LoopConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, head_lr=self.head_lr,
                          weight_decay=self.weight_decay, warmup_ratio=self.warmup_ratio,
                          eval_every=self.eval_every, patience=self.patience, max_steps=self.max_steps,
                          max_minutes=self.max_minutes, seed=self.random_state, num_threads=self.num_threads,
                          progress=self.progress)

    def _check_params(self) -> None:
        if self.long_text not in LONG_TEXT_POLICIES:
            raise ModelError(f"long_text must be one of {', '.join(LONG_TEXT_POLICIES)}, not {self.long_text!r}")
        if int(self.max_length) < 8:
            raise ModelError(f"max_length must be at least 8 tokens, not {self.max_length}")
        resolve_device(getattr(self, "device", "auto"))

    def _load_base(self, num_labels: int, id2label: dict[int, str]):
        """Tokenizer and a sequence-classification model with a fresh head from ``base_model``."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = check_checkpoint(self.base_model)
        seed_everything(self.random_state, self.num_threads)
        with quiet_transformers():
            tok = AutoTokenizer.from_pretrained(str(path))
            model = AutoModelForSequenceClassification.from_pretrained(
                str(path), num_labels=num_labels, id2label=id2label, label2id={v: k for k, v in id2label.items()},
                use_safetensors=True, ignore_mismatched_sizes=True)
        check_tokenizer(tok, model, path)
        if self.num_layers:
            _keep_layers(model, int(self.num_layers), path.name)
        self.device_ = resolve_device(getattr(self, "device", "auto"))
        model.to(self.device_)
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit and int(self.max_length) > int(limit) - 2:
            raise ModelError(f"max_length {self.max_length} exceeds what {path.name} supports ({int(limit) - 2})")
        self.tokenizer_, self.model_ = tok, model
        self.base_model_name_ = path.name
        return tok, model

    # ------------------------------------------------------------------ inference

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit or load a model folder")

    @property
    def pad_id_(self) -> int:
        pid = self.tokenizer_.pad_token_id
        return 0 if pid is None else int(pid)

    def runtime_model(self):
        """The model used for prediction: the int8 copy when ``quantize`` is set (built once)."""
        if not self.quantize:
            return self.model_
        cache = getattr(self, "_int8", None)
        if cache is None or cache[0] is not self.model_:
            from voc.transformer.quantize import quantize_dynamic_int8

            on_cpu = model_device(self.model_).type == "cpu"
            cpu = self.model_ if on_cpu else copy.deepcopy(self.model_).cpu()
            cache = (self.model_, quantize_dynamic_int8(cpu))
            self._int8 = cache
        return cache[1]

    def windows(self, X) -> Windows:
        """Token windows of the texts ``X`` (long-text policy applied)."""
        self._check_fitted()
        return make_windows(self.tokenizer_, list(X), int(self.max_length), self.long_text, int(self.max_windows))

    def logits(self, X) -> tuple[np.ndarray, Windows]:
        """Raw logits per window and the windows (batched and length-bucketed)."""
        import torch

        win = self.windows(X)
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        return forward_windows(self.runtime_model(), win, self.pad_id_, int(self.infer_batch_size)), win

    # ------------------------------------------------------------------ persistence

    def _state(self) -> dict:
        return {"classes": [str(c) for c in self.classes_]}

    def _set_state(self, state: dict) -> None:
        self.classes_ = np.array(state["classes"], dtype=object)

    def save_pretrained(self, folder) -> dict:
        """Write the checkpoint (safetensors) and tokenizer to ``folder``; returns the meta entries to store."""
        self._check_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.model_.save_pretrained(str(folder))
            self.tokenizer_.save_pretrained(str(folder))
        match_umask(folder.glob("*.safetensors"))
        params = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.get_params().items()}
        return {"format": "hf", "backend": "transformer",
                "estimator": f"{type(self).__module__}.{type(self).__name__}", "params": params,
                "state": self._state(), "max_length": int(self.max_length), "long_text": self.long_text,
                "quantize": bool(self.quantize), "base_model": getattr(self, "base_model_name_", None),
                "labels": [str(c) for c in self.classes_]}


def match_umask(paths) -> None:
    """Give ``paths`` the mode any new file gets (0644 under the usual umask 022).

    safetensors writes its weights with mode 0600 (a private temporary file renamed into place), so without
    this a model folder's weights were readable by their owner only while its other files were not.
    """
    import os

    umask = os.umask(0)
    os.umask(umask)
    for p in paths:
        os.chmod(p, 0o666 & ~umask)


ESTIMATORS = ("voc.transformer.model.TransformerClassifier", "voc.transformer.model.TransformerSentiment",
              "voc.transformer.category.TransformerCategoryModel")


def load_transformer(folder, meta: dict | None = None, quantize: bool | None = None):
    """Load a fitted transformer estimator from a model folder (``from_pretrained``, safetensors only).

    The model goes to a CUDA GPU when torch sees one, else to the CPU, whatever device it was trained on.
    """
    import json

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(folder)
    if meta is None:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    name = meta.get("estimator", "")
    if not name and meta.get("task") == "encoder":
        raise ModelError(f"model {folder} is a pretrained encoder, not a classifier; fine-tune it with "
                         f"'voc train --backend transformer --base-model {folder}'")
    if name not in ESTIMATORS:
        raise ModelError(f"model {folder} names estimator {name!r}, which voc does not load")
    if not (folder / HF_WEIGHTS).is_file():
        raise ModelError(f"model {folder} has no {HF_WEIGHTS}; weights are not in the repository, "
                         "retrain it (see its MODEL_CARD.md) or copy the folder from where it was trained")
    mod, cls_name = name.rsplit(".", 1)
    cls = getattr(importlib.import_module(mod), cls_name)
    params = dict(meta.get("params", {}))
    params = {k: v for k, v in params.items() if k in cls._get_param_names()}
    if quantize is not None:
        params["quantize"] = bool(quantize)
    params["device"] = "auto"  # where it runs now, not where it was trained
    est = cls(**params)
    with quiet_transformers():
        est.model_ = AutoModelForSequenceClassification.from_pretrained(str(folder), use_safetensors=True)
        est.tokenizer_ = AutoTokenizer.from_pretrained(str(folder))
    check_tokenizer(est.tokenizer_, est.model_, folder)
    est.device_ = resolve_device("auto")
    est.model_.to(est.device_).eval()
    est.base_model_name_ = meta.get("base_model")
    est._set_state(meta.get("state", {}))
    return est


class TransformerClassifier(ClassifierMixin, _TransformerBase):
    """Single-label text classifier fine-tuned from a local transformer checkpoint.

    Parameters
    ----------
    base_model : folder of a local BERT/RoBERTa/XLM-R checkpoint (or a name under ``models/``).
    max_length : tokens per window, special tokens included.
    long_text : ``windows`` (clause windows, outputs merged) or ``truncate`` (see :mod:`voc.transformer.infer`).
        Training always uses the first window of each text.
    max_windows : at most this many windows per text at prediction time.
    epochs, batch_size, lr, head_lr, weight_decay, warmup_ratio : optimisation (AdamW, linear warm-up/decay;
        ``head_lr`` is the learning rate of the new head, default ``lr``).
    eval_every : evaluate on the dev set every this many steps (0: once per epoch).
    patience : stop after this many evaluations without improvement of the dev score (0: never).
    max_steps, max_minutes : caps on training (0: none).
    infer_batch_size : windows per mini-batch at prediction time.
    num_threads : torch CPU threads.
    quantize : predict with a dynamic int8 copy of the model (Linear layers), for CPU.
    random_state : seed of head initialisation, dropout and batch order.
    progress : show a progress bar while training.
    num_layers : keep only the base model's first this many encoder layers before fine-tuning (0: all).
        Half the layers of a 12-layer base run about twice as fast, at some cost in accuracy.
    device : ``auto`` (a CUDA GPU when torch sees one, else the CPU), ``cpu`` or ``cuda[:N]``. On a GPU,
        training and prediction run under bf16 autocast; ``quantize`` always predicts on the CPU.

    Attributes
    ----------
    classes_ : labels in the order of ``predict_proba``'s columns.
    model_, tokenizer_ : the fine-tuned Hugging Face model and its tokenizer.
    fit_report_ : steps, best step, dev history and seconds of the last ``fit``.
    device_ : the device the model is on (``cpu`` or ``cuda``).
    """

    def __init__(self, base_model=None, max_length=128, long_text="windows", max_windows=8, epochs=2.0,
                 batch_size=16, lr=5e-5, head_lr=None, weight_decay=0.01, warmup_ratio=0.06, eval_every=0,
                 patience=2, max_steps=0, max_minutes=0.0, infer_batch_size=32, num_threads=2, quantize=False,
                 random_state=0, progress=True, num_layers=0, device="auto"):
        self.base_model, self.max_length, self.long_text, self.max_windows = base_model, max_length, long_text, max_windows
        self.epochs, self.batch_size, self.lr, self.head_lr = epochs, batch_size, lr, head_lr
        self.weight_decay, self.warmup_ratio, self.eval_every, self.patience = weight_decay, warmup_ratio, eval_every, patience
        self.max_steps, self.max_minutes, self.infer_batch_size = max_steps, max_minutes, infer_batch_size
        self.num_threads, self.quantize, self.random_state, self.progress = num_threads, quantize, random_state, progress
        self.num_layers, self.device = num_layers, device

    def _train_labels(self, y) -> np.ndarray:
        y = np.array([str(v).strip() for v in y], dtype=object)
        return np.array(sorted(set(y)), dtype=object)

    def fit(self, X, y, X_dev=None, y_dev=None):
        """Fine-tune on texts ``X`` with labels ``y``; early stopping on ``(X_dev, y_dev)`` when given.

        Returns self.
        """
        import torch

        self._check_params()
        X = ["" if t is None else str(t) for t in X]
        y = np.array([str(v).strip() for v in y], dtype=object)
        if len(X) == 0 or len(X) != len(y):
            raise ValueError("fit needs one label per text and at least one text")
        labels = self._train_labels(y)
        if len(labels) < 2:
            raise ValueError(f"fit needs at least two classes, got {list(labels)}")
        tok, model = self._load_base(len(labels), {i: str(c) for i, c in enumerate(labels)})
        self.train_classes_ = labels
        target = torch.as_tensor(np.searchsorted(labels, y), dtype=torch.long, device=self.device_)
        win = make_windows(tok, X, int(self.max_length), "truncate")
        evaluate = None
        if X_dev is not None and len(X_dev):
            y_dev = np.array([str(v).strip() for v in y_dev], dtype=object)
            keep = np.isin(y_dev, labels)
            dev_x = [str(t) for t, k in zip(X_dev, keep) if k]
            dev_y = np.searchsorted(labels, y_dev[keep])
            evaluate = lambda: self._dev_score(dev_x, dev_y)
        loss = torch.nn.CrossEntropyLoss()
        self._set_fit_classes(labels)
        self.fit_report_ = fine_tune(model, win.ids, lambda logits, b: loss(logits, target[b]), target,
                                     self.pad_id_, self._loop_config(), evaluate,
                                     f"fine-tuning {type(self).__name__}")
        self.fit_report_["train_truncated"] = int(win.n_long)
        return self

    def _set_fit_classes(self, labels) -> None:
        self.classes_ = np.array(labels, dtype=object)

    def _dev_score(self, texts: list[str], y: np.ndarray) -> dict:
        p = self._raw_proba(texts)
        acc = float((p.argmax(1) == y).mean())
        nll = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)).mean())
        return {"score": acc - 1e-3 * nll, "accuracy": round(acc, 5), "loss": round(nll, 5)}

    def _raw_proba(self, X) -> np.ndarray:
        """Probabilities over the trained classes (windows merged)."""
        logits, win = self.logits(X)
        return merge_single(logits, win)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (n, len(classes_)), float64, rows summing to 1, whatever the batch size."""
        return self._raw_proba(X)

    def predict(self, X) -> np.ndarray:
        """The most probable class per text."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class TransformerSentiment(TransformerClassifier):
    """Sentiment (negative / neutral / positive) from a fine-tuned transformer.

    With 3-class training labels it is a plain 3-way classifier. With binary labels (positive/negative)
    the polar log-odds are calibrated (Platt scaling on the dev set given to ``fit``) and neutral is decided
    from the confidence with :func:`voc.classify.tfidf.neutral_proba`; :meth:`tune_neutral` picks its
    parameters on 3-class labelled texts. ``classes_`` is always ``['negative', 'neutral', 'positive']``.

    Parameters are those of :class:`TransformerClassifier` plus the neutral decision's
    ``neutral_threshold``, ``mild_boost``, ``question_boost`` and ``neutral_temperature``.
    """

    CLASSES = ("negative", "neutral", "positive")

    def __init__(self, base_model=None, max_length=128, long_text="windows", max_windows=8, epochs=2.0,
                 batch_size=16, lr=5e-5, head_lr=None, weight_decay=0.01, warmup_ratio=0.06, eval_every=0,
                 patience=2, max_steps=0, max_minutes=0.0, infer_batch_size=32, num_threads=2, quantize=False,
                 random_state=0, progress=True, neutral_threshold=0.625, mild_boost=0.15, question_boost=0.0,
                 neutral_temperature=0.1, num_layers=0, device="auto"):
        super().__init__(base_model, max_length, long_text, max_windows, epochs, batch_size, lr, head_lr,
                         weight_decay, warmup_ratio, eval_every, patience, max_steps, max_minutes,
                         infer_batch_size, num_threads, quantize, random_state, progress, num_layers, device)
        self.neutral_threshold, self.mild_boost = neutral_threshold, mild_boost
        self.question_boost, self.neutral_temperature = question_boost, neutral_temperature

    def _train_labels(self, y) -> np.ndarray:
        bad = sorted(set(y) - set(self.CLASSES))
        if bad:
            raise ValueError(f"sentiment labels must be negative/neutral/positive, got {bad[:5]}")
        return super()._train_labels(y)

    def _set_fit_classes(self, labels) -> None:
        self.classes_ = np.array(self.CLASSES, dtype=object)
        self.calib_ = (1.0, 0.0)

    @property
    def binary_(self) -> bool:
        return list(self.train_classes_) == ["negative", "positive"]

    def fit(self, X, y, X_dev=None, y_dev=None):
        """Fine-tune; with binary labels and a dev set, also calibrate the polar log-odds. Returns self."""
        super().fit(X, y, X_dev, y_dev)
        if self.binary_ and X_dev is not None and len(X_dev):
            yd = np.array([str(v).strip() for v in y_dev], dtype=object)
            keep = np.isin(yd, ["negative", "positive"])
            if len(set(yd[keep])) == 2:
                self.calib_ = self._platt(self.polar_logit([t for t, k in zip(X_dev, keep) if k], calibrated=False),
                                          yd[keep] == "positive")
        return self

    @staticmethod
    def _platt(s: np.ndarray, pos: np.ndarray) -> tuple[float, float]:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=100.0).fit(s.reshape(-1, 1), pos.astype(int))
        return float(lr.coef_[0, 0]), float(lr.intercept_[0])

    def polar_logit(self, X, calibrated: bool = True) -> np.ndarray:
        """Log-odds of positive against negative per text (windows merged), Platt-calibrated by default."""
        p = self._raw_proba(X)
        cols = list(self.train_classes_)
        pp, pn = p[:, cols.index("positive")], p[:, cols.index("negative")]
        s = np.log(np.clip(pp, 1e-12, 1)) - np.log(np.clip(pn, 1e-12, 1))
        a, b = self.calib_ if calibrated else (1.0, 0.0)
        return a * s + b

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (n, 3) for negative, neutral, positive; float64, rows summing to 1."""
        self._check_fitted()
        X = ["" if t is None else str(t) for t in X]
        if not self.binary_:
            p = self._raw_proba(X)
            out = np.zeros((len(X), 3))
            for j, c in enumerate(self.train_classes_):
                out[:, self.CLASSES.index(str(c))] = p[:, j]
            return out
        from voc.classify.tfidf import neutral_proba, text_cues

        if not X:
            return np.zeros((0, 3))
        return neutral_proba(self.polar_logit(X), text_cues(X), self.neutral_threshold, self.mild_boost,
                             self.question_boost, self.neutral_temperature)

    def tune_neutral(self, X, y3):
        """Pick the neutral parameters on 3-class labelled texts (as the TF-IDF model does); returns self."""
        from voc.classify.tfidf import TfidfSentiment, text_cues

        X = [str(t) for t in X]
        y = np.array([str(v).strip().lower() for v in y3], dtype=object)
        if not X or len(X) != len(y) or not set(y) <= set(self.CLASSES):
            raise ValueError("tune_neutral needs one negative/neutral/positive label per text")
        if not self.binary_:
            return self
        t, mb, qb, temp = TfidfSentiment._tune(self.polar_logit(X), text_cues(X), y)
        self.set_params(neutral_threshold=t, mild_boost=mb, question_boost=qb, neutral_temperature=temp)
        return self

    def _state(self) -> dict:
        return {"classes": list(self.CLASSES), "train_classes": [str(c) for c in self.train_classes_],
                "calib": list(self.calib_)}

    def _set_state(self, state: dict) -> None:
        self.classes_ = np.array(self.CLASSES, dtype=object)
        self.train_classes_ = np.array(state["train_classes"], dtype=object)
        self.calib_ = tuple(state.get("calib", (1.0, 0.0)))
