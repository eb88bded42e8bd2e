"""A negation-aware lexicon sentiment model with the scikit-learn contract.

It needs no training data, so it is the zero-setup baseline, the clause
scorer for aspect rules and a weak labeller. ``fit`` with labels tunes its
two calibration parameters on them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from voc.text.matcher import PhraseMatcher, negated
from voc.text.segment import resource_path

CLASSES = np.array(["negative", "neutral", "positive"])
# Mild words: about a category they give it neutral; alone they make a comment neutral (GUIDELINES.md).
MILD_WORDS = ("一般", "还行", "凑合", "凑活", "中规中矩", "马马虎虎", "还可以", "尚可", "过得去", "说得过去", "不好不坏",
              "普普通通", "将就")
INTENSIFIERS = ("非常", "特别", "十分", "超级", "相当", "极其", "真的", "太", "很", "超", "巨", "好")
_INT_RE = re.compile("(?:" + "|".join(INTENSIFIERS) + ")$")


def load_lexicon(path: str | Path | None = None) -> dict[str, float]:
    """``word<TAB>weight`` lines; the bundled lexicon when ``path`` is None."""
    p = Path(path) if path else resource_path("sentiment_lexicon.txt")
    lex: dict[str, float] = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, _, weight = line.partition("\t")
        lex[word.strip()] = float(weight or 0)
    return lex


class LexiconSentiment(ClassifierMixin, BaseEstimator):
    """Lexicon sentiment: sum of word weights, flipped after negators, boosted after intensifiers.

    Parameters
    ----------
    lexicon : path of a ``word<TAB>weight`` file, or None for the bundled one.
    scale : how sharply the summed score turns into probability.
    neutral_bias : the neutral logit; higher means more comments end neutral.
    """

    def __init__(self, lexicon: str | None = None, scale: float = 1.5, neutral_bias: float = 0.8):
        self.lexicon = lexicon
        self.scale = scale
        self.neutral_bias = neutral_bias

    def _compile(self) -> None:
        self.lexicon_ = load_lexicon(self.lexicon)
        self.matcher_ = PhraseMatcher(self.lexicon_)
        self.classes_ = CLASSES.copy()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("matcher_", None)  # the automaton is rebuilt from lexicon_ on load (safe formats only)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "lexicon_" in state:
            self.matcher_ = PhraseMatcher(self.lexicon_)

    def fit(self, X=None, y=None):
        """Compile the lexicon; with labels, pick ``scale`` and ``neutral_bias`` by accuracy."""
        self._compile()
        if X is not None and y is not None:
            y = np.asarray(y)
            scores = self.score_texts(X)
            best = (-1.0, self.scale, self.neutral_bias)
            for scale in (0.5, 1.0, 1.5, 2.0, 3.0):
                for bias in (-0.5, 0.0, 0.4, 0.8, 1.2, 2.0):
                    pred = CLASSES[self._proba(scores, scale, bias).argmax(1)]
                    acc = float((pred == y).mean())
                    if acc > best[0]:
                        best = (acc, scale, bias)
            _, self.scale_, self.neutral_bias_ = best
        else:
            self.scale_, self.neutral_bias_ = self.scale, self.neutral_bias
        return self

    def score_text(self, text: str) -> tuple[float, int]:
        """(polarity score, count of neutral words) of one text."""
        score, mild = 0.0, 0
        for start, _, w in self.matcher_.finditer(text):
            if w == 0:
                mild += 1
                continue
            if negated(text, start):
                w = -w * (0.5 if w < 0 else 0.8)
            elif _INT_RE.search(text[max(0, start - 2):start]):
                w *= 1.5
            score += w
        return score, mild

    def score_texts(self, X) -> np.ndarray:
        """Array of shape (n, 2): score and neutral-word count per text."""
        if not hasattr(self, "matcher_"):
            self._compile()
        return np.array([self.score_text(t or "") for t in X], dtype=float).reshape(-1, 2)

    @staticmethod
    def _proba(scores: np.ndarray, scale: float, bias: float) -> np.ndarray:
        s = np.tanh(scores[:, 0] / 2) * 2 * scale
        logits = np.stack([-s, bias + scores[:, 1] - np.abs(s) * 0.2, s], axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities over ``classes_`` (negative, neutral, positive)."""
        if not hasattr(self, "scale_"):
            self.fit()
        return self._proba(self.score_texts(X), self.scale_, self.neutral_bias_)

    def predict(self, X) -> np.ndarray:
        """The most probable class per text."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
