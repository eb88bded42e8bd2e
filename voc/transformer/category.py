"""Multi-label category model with per-category polarity, fine-tuned from a local transformer checkpoint.

One classification head with ``4 × K`` outputs: for each of the K categories of a taxonomy a softmax over
``absent / negative / neutral / positive``, trained with a per-category cross-entropy. A category is
present when ``1 - p(absent)`` reaches the threshold; its polarity is the most probable of the other three.

The model plugs into the pipeline like the rule mapper (``map_clauses``, ``map_batch``, ``taxonomy_``):
the comment is rebuilt from its clauses; evidence words and the clause of a mention come from the
taxonomy's lexicon rules when they also found the category (else the evidence is empty and the clause is
the first one).
"""

from __future__ import annotations

import numpy as np

from voc.transformer.infer import make_windows, merge_multi
from voc.transformer.loop import fine_tune
from voc.transformer.model import _TransformerBase

STATES = ("absent", "negative", "neutral", "positive")
CLAUSE_JOIN = "，"


def comment_from_clauses(clauses: list[str]) -> str:
    """The text the model reads for a comment given as clauses (the pipeline's cleaned clauses)."""
    return CLAUSE_JOIN.join(clauses)


class TransformerCategoryModel(_TransformerBase):
    """Categories of one taxonomy, each with its polarity, from a fine-tuned transformer.

    Parameters
    ----------
    taxonomy : a bundled taxonomy name (``rater``, ``touchpoint``) or a YAML path.
    threshold : presence threshold on ``1 - p(absent)``; with ``tune_threshold`` the dev set picks one.
    tune_threshold : pick a single threshold on the dev set given to ``fit`` (by macro-F1).
    absent_weight : weight of the ``absent`` state in the loss (below 1 favours recall).
    Other parameters: as :class:`voc.transformer.model.TransformerClassifier`.

    Attributes
    ----------
    classes_ : the taxonomy's category keys (columns of ``predict_proba``).
    taxonomy_ : the taxonomy.
    threshold_ : the presence threshold used.
    """

    _n_states = len(STATES)

    def __init__(self, taxonomy="rater", base_model=None, max_length=128, long_text="windows", max_windows=8,
                 epochs=2.0, batch_size=16, lr=5e-5, head_lr=None, weight_decay=0.01, warmup_ratio=0.06,
                 eval_every=0, patience=2, max_steps=0, max_minutes=0.0, infer_batch_size=32, num_threads=2,
                 quantize=False, random_state=0, progress=True, threshold=0.5, tune_threshold=True,
                 absent_weight=1.0, num_layers=0, device="auto"):
        self.taxonomy = taxonomy
        self.num_layers, self.device = num_layers, device
        self.base_model, self.max_length, self.long_text, self.max_windows = base_model, max_length, long_text, max_windows
        self.epochs, self.batch_size, self.lr, self.head_lr = epochs, batch_size, lr, head_lr
        self.weight_decay, self.warmup_ratio, self.eval_every, self.patience = weight_decay, warmup_ratio, eval_every, patience
        self.max_steps, self.max_minutes, self.infer_batch_size = max_steps, max_minutes, infer_batch_size
        self.num_threads, self.quantize, self.random_state, self.progress = num_threads, quantize, random_state, progress
        self.threshold, self.tune_threshold, self.absent_weight = threshold, tune_threshold, absent_weight

    # ------------------------------------------------------------------ fitting

    def _targets(self, y) -> np.ndarray:
        from voc.taxonomy.learned import normalize_labels

        keys = list(self.classes_)
        labels = normalize_labels(y, keys)
        unknown = sorted({k for d in labels for k in d} - set(keys))
        if unknown:
            raise ValueError(f"labels use categories {unknown[:5]} that taxonomy {self.taxonomy!r} does not define")
        return np.array([[STATES.index(d[k]) if k in d else 0 for k in keys] for d in labels], dtype=np.int64)

    def fit(self, X, y, X_dev=None, y_dev=None, sample_weight=None):
        """Fine-tune on texts ``X`` and labels ``y`` (GUIDELINES strings ``key:polarity;...`` or dicts).

        ``(X_dev, y_dev)`` drive early stopping (macro-F1 of detection) and the threshold;
        ``sample_weight`` weighs examples (e.g. gold above weak labels). Returns self.
        """
        import torch

        from voc.taxonomy.model import load_taxonomy

        self._check_params()
        tax = load_taxonomy(self.taxonomy)
        self.taxonomy_ = tax
        self.classes_ = np.array(tax.keys, dtype=object)
        X = ["" if t is None else str(t) for t in X]
        if len(X) == 0 or len(X) != len(y):
            raise ValueError("fit needs one label per text and at least one text")
        K, S = len(self.classes_), len(STATES)
        id2label = {k * S + s: f"{key}:{st}" for k, key in enumerate(self.classes_) for s, st in enumerate(STATES)}
        tok, model = self._load_base(K * S, id2label)
        dev = self.device_
        target = torch.as_tensor(self._targets(y), device=dev)
        w = torch.ones(len(X), device=dev) if sample_weight is None else torch.as_tensor(
            np.asarray(sample_weight, float), dtype=torch.float32, device=dev)
        win = make_windows(tok, X, int(self.max_length), "truncate")
        state_w = torch.tensor([float(self.absent_weight), 1.0, 1.0, 1.0], device=dev)
        ce = torch.nn.CrossEntropyLoss(weight=state_w, reduction="none")

        def loss_fn(logits, b):
            per = ce(logits.view(-1, S), target[b].view(-1)).view(len(b), K).mean(1)
            return (per * w[b]).sum() / w[b].sum()

        self.threshold_ = float(self.threshold)
        evaluate = None
        if X_dev is not None and len(X_dev):
            dev_x = [str(t) for t in X_dev]
            dev_y = self._targets(y_dev)
            evaluate = lambda: self._dev_score(dev_x, dev_y)
        self.fit_report_ = fine_tune(model, win.ids, loss_fn, target, self.pad_id_, self._loop_config(), evaluate,
                                     f"fine-tuning {tax.name} categories")
        self.fit_report_["train_truncated"] = int(win.n_long)
        if evaluate is not None and self.tune_threshold:
            self.threshold_ = self._best_threshold(self.predict_states(dev_x), dev_y)
            self.fit_report_["threshold"] = self.threshold_
        return self

    def _dev_score(self, texts: list[str], y: np.ndarray) -> dict:
        p = self.predict_states(texts)
        t = self._best_threshold(p, y) if self.tune_threshold else self.threshold_
        res = self._score(p, y, t)
        return {"score": res["macro_f1"], "macro_f1": res["macro_f1"], "micro_f1": res["micro_f1"],
                "polarity_accuracy": res["polarity_accuracy"], "threshold": t}

    def _score(self, p: np.ndarray, y: np.ndarray, t: float) -> dict:
        from voc.taxonomy.evaluate import score_mentions

        keys = list(self.classes_)
        gold = [{k: STATES[s] for k, s in zip(keys, row) if s} for row in y]
        return score_mentions(gold, self._labels(p, t), keys)

    def _best_threshold(self, p: np.ndarray, y: np.ndarray) -> float:
        grid = np.round(np.arange(0.15, 0.86, 0.05), 2)
        f = [self._score(p, y, t)["macro_f1"] for t in grid]
        return float(grid[int(np.argmax(f))])

    # ------------------------------------------------------------------ prediction

    def predict_states(self, X) -> np.ndarray:
        """Probabilities (n, K, 4) of absent / negative / neutral / positive per category; float64."""
        logits, win = self.logits(["" if t is None else str(t) for t in X])
        return merge_multi(logits, win, len(STATES))

    def predict_proba(self, X) -> np.ndarray:
        """Presence probability (n, K) of each category in ``classes_``."""
        return 1.0 - self.predict_states(X)[:, :, 0]

    def predict(self, X) -> np.ndarray:
        """Multi-label indicator matrix (n, K) over ``classes_``."""
        return (self.predict_proba(X) >= self.threshold_).astype(int)

    def _labels(self, p: np.ndarray, t: float) -> list[dict[str, str]]:
        keys = list(self.classes_)
        present = (1.0 - p[:, :, 0]) >= t
        pol = p[:, :, 1:].argmax(axis=2) + 1
        return [{keys[k]: STATES[pol[i, k]] for k in np.flatnonzero(present[i])} for i in range(len(p))]

    def predict_labels(self, X) -> list[dict[str, str]]:
        """``{category: polarity}`` per text."""
        return self._labels(self.predict_states(X), self.threshold_)

    def _rules(self):
        rules = getattr(self, "_rule_mapper", None)
        if rules is None:
            from voc.taxonomy.rules import RuleMapper

            try:
                rules = RuleMapper(self.taxonomy).fit()
            except Exception:  # a custom taxonomy file that moved: no evidence words
                rules = False
            self._rule_mapper = rules
        return rules

    def map_batch(self, clauses: list[list[str]], scores: list[list[float]]) -> list[list]:
        """Mentions per comment from its clauses (``scores``: clause sentiment, used only for evidence)."""
        from voc.taxonomy.rules import Mention

        idx = [i for i, c in enumerate(clauses) if c]
        out: list[list] = [[] for _ in clauses]
        if not idx:
            return out
        labels = self.predict_labels([comment_from_clauses(clauses[i]) for i in idx])
        rules = self._rules()
        for i, lab in zip(idx, labels):
            if not lab:
                continue
            found = {m.category: m for m in rules.map_clauses(clauses[i], scores[i])} if rules else {}
            out[i] = [Mention(k, pol, found[k].evidence if k in found else "", found[k].clause if k in found else 0)
                      for k, pol in lab.items()]
        return out

    def map_clauses(self, clauses: list[str], polarities: list[float]) -> list:
        """Mentions of one comment (see :meth:`map_batch`)."""
        return self.map_batch([clauses], [polarities])[0]

    # ------------------------------------------------------------------ persistence

    def _state(self) -> dict:
        return {"classes": [str(c) for c in self.classes_], "threshold": self.threshold_,
                "taxonomy_name": self.taxonomy_.name}

    def _set_state(self, state: dict) -> None:
        from voc.taxonomy.model import load_taxonomy

        self.taxonomy_ = load_taxonomy(self.taxonomy)
        self.classes_ = np.array(state["classes"], dtype=object)
        if list(self.taxonomy_.keys) != list(self.classes_):
            from voc.errors import ModelError

            raise ModelError(f"taxonomy {self.taxonomy!r} no longer has the categories this model was trained on")
        self.threshold_ = float(state.get("threshold", self.threshold))
