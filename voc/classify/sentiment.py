"""Sentiment stage: comment-level and clause-level polarity from any model with ``predict_proba``."""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from voc.classify.lexicon import MILD_WORDS, LexiconSentiment
from voc.errors import ModelError
from voc.stages import ModelStage
from voc.text.pii import strip_placeholders

LABELS = ("negative", "neutral", "positive")
# A comment that is only a mild word (还行, 一般般吧, 还可以。) evaluates nothing: GUIDELINES.md makes it neutral.
MILD_ONLY_RE = re.compile(r"^\s*(?:一般般|" + "|".join(MILD_WORDS) + r")"
                          r"(?:吧|啊|呀|了|的|哈|哦|呢|嘛|吧啦)*[\s,.!?~，。！？～…]*$")
MILD_POLAR = 0.1  # probability left to positive + negative for such a comment


def load_sentiment_model(spec: str):
    """A fitted sentiment model from a spec: ``lexicon`` or a model directory/registered name."""
    if spec == "lexicon":
        return LexiconSentiment().fit()
    from voc.classify.registry import load_model

    model = load_model(spec)
    if not hasattr(model, "predict_proba"):
        raise ModelError(f"model {spec!r} has no predict_proba; it cannot score sentiment")
    return model


def align_proba(model, proba: np.ndarray) -> np.ndarray:
    """Columns of ``proba`` reordered to (negative, neutral, positive); missing classes get 0."""
    classes = [str(c) for c in model.classes_]
    out = np.zeros((proba.shape[0], 3))
    for j, lab in enumerate(LABELS):
        if lab in classes:
            out[:, j] = proba[:, classes.index(lab)]
    return out


class SentimentStage(ModelStage):
    """Add ``sentiment``, ``p_negative``/``p_neutral``/``p_positive`` and ``clause_scores``.

    Clause scores are ``p_positive - p_negative`` per clause, in [-1, 1].
    Boilerplate, meaningless and empty comments (a score without text), and comments that are only a mild word (还行, 一般般吧), are
    ``neutral`` (GUIDELINES.md);
    emoji shift the probabilities of a comment by ``emoji_weight``.
    """

    name = "sentiment"

    def __init__(self, model, emoji_weight: float = 0.3):
        self.model = model
        self.emoji_weight = emoji_weight

    def preprocess(self, batch: pd.DataFrame) -> Sequence[str]:
        return [strip_placeholders(t) for t in batch["text"].tolist()]  # [手机号] says nothing about sentiment

    def forward(self, inputs: Sequence[str]) -> np.ndarray:
        if len(inputs) == 0:
            return np.zeros((0, 3))
        return align_proba(self.model, np.asarray(self.model.predict_proba(list(inputs))))

    def postprocess(self, batch: pd.DataFrame, outputs: np.ndarray) -> pd.DataFrame:
        out = batch.copy()
        p = outputs.copy()
        if "emoji_score" in out:
            e = out["emoji_score"].to_numpy(dtype=float)
            has = e != 0
            target = np.stack([np.clip(-e, 0, 1), 1 - np.abs(e), np.clip(e, 0, 1)], axis=1)
            w = np.where(out["text"].str.len().to_numpy() == 0, 1.0, self.emoji_weight)[:, None]
            p[has] = (1 - w[has]) * p[has] + w[has] * target[has]
        if "quality" in out:
            junk = out["quality"].isin(["boilerplate", "meaningless", "empty"]).to_numpy()
            p[junk] = [0.0, 1.0, 0.0]
        mild = out["text"].str.match(MILD_ONLY_RE).to_numpy(dtype=bool)
        if mild.any():
            # neutral wins, but the model's lean stays in the polar probabilities (a binary benchmark reads it)
            polar = p[mild][:, [0, 2]]
            polar = polar / np.clip(polar.sum(axis=1, keepdims=True), 1e-12, None)
            p[mild] = np.column_stack([MILD_POLAR * polar[:, 0], np.full(len(polar), 1 - MILD_POLAR),
                                       MILD_POLAR * polar[:, 1]])
        out["p_negative"], out["p_neutral"], out["p_positive"] = p[:, 0], p[:, 1], p[:, 2]
        out["sentiment"] = np.array(LABELS)[p.argmax(axis=1)]
        if "clauses" in out:
            lens = [len(c) for c in out["clauses"]]
            flat = [c for cl in out["clauses"] for c in cl]
            cp = self.run_model(flat) if flat else np.zeros((0, 3))
            scores = (cp[:, 2] - cp[:, 0]).round(4).tolist()
            pos, res = 0, []
            for n in lens:
                res.append(scores[pos:pos + n])
                pos += n
            out["clause_scores"] = res
        return out
