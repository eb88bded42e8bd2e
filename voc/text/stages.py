"""Runtime stages for cleaning and segmentation (batch in, batch out)."""

from __future__ import annotations

import pandas as pd

from voc.config import CleanConfig, SegmentConfig
from voc.stages import Stage
from voc.text.boilerplate import classify_quality
from voc.text.normalize import TextCleaner
from voc.text.pii import strip_placeholders
from voc.text.segment import Segmenter, split_clauses


class CleanStage(Stage):
    """Normalise text, mask PII and flag boilerplate.

    Adds ``pii``, ``emojis``, ``emoji_score`` and ``quality`` (``ok``,
    ``boilerplate``, ``meaningless`` or ``empty``) and replaces ``text``
    with the cleaned, masked text: the raw text is never kept.
    """

    name = "clean"

    def __init__(self, config: CleanConfig | None = None):
        self.config = config or CleanConfig()
        self.cleaner = TextCleaner(self.config)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = batch.copy()
        cleaned = self.cleaner.clean_many(out["text"].tolist())
        out["text"] = [c.text for c in cleaned]
        out["pii"] = [c.pii for c in cleaned]
        out["emojis"] = [c.emojis for c in cleaned]
        out["emoji_score"] = [c.emoji_score for c in cleaned]
        extra = self.config.boilerplate_extra
        out["quality"] = [
            "empty" if len(c.text) < max(self.config.min_chars, 1) and not c.emojis
            else classify_quality(c.text, c.emojis, extra)
            for c in cleaned
        ]
        return out


class SegmentStage(Stage):
    """Add ``tokens`` (content words), ``keywords`` (TF-IDF top-k) and ``clauses``, all without the PII
    placeholders (:func:`~voc.text.pii.strip_placeholders`)."""

    name = "segment"

    def __init__(self, config: SegmentConfig | None = None, user_words: list[str] | None = None):
        self.config = config or SegmentConfig()
        c = self.config
        self.segmenter = Segmenter(c.backend, c.hmm, user_words or [], c.user_dicts, c.stopwords)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = batch.copy()
        seg, k = self.segmenter, self.config.keywords_top_k
        texts = [strip_placeholders(t) for t in out["text"].tolist()]  # PII placeholders are not content
        tokens = [seg.content_tokens(seg.cut(t)) for t in texts]
        out["tokens"] = tokens
        out["keywords"] = [seg.keywords(t, k) for t in tokens]
        out["clauses"] = [split_clauses(t) for t in texts]
        return out
