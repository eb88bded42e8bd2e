"""Negation-aware lexicon rules that map clauses to taxonomy categories with polarity.

A keyword (房间, 骑手) marks its category and takes the polarity of the
clause it sits in. A cue (发错货, 很贴心) marks its category with a fixed
polarity, flipped when a negator precedes it (不贴心, 没有发错). Votes of
all clauses of a comment are summed per category; a tie is ``neutral``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator

from voc.taxonomy.model import Taxonomy, load_taxonomy
from voc.text.matcher import PhraseMatcher, negated
from voc.text.segment import split_clauses

_SIGN = {"positive": 1, "neutral": 0, "negative": -1}
_FLIP = {"positive": "negative", "negative": "positive", "neutral": "neutral"}
CUE_WEIGHT = 2.0


@dataclass(frozen=True)
class Mention:
    """A category found in a comment, with its polarity and the words that triggered it."""

    category: str
    polarity: str
    evidence: str
    clause: int


def polarity_label(score: float, band: float = 0.15) -> str:
    """``positive``/``negative`` when ``score`` is beyond ``band``, else ``neutral``."""
    return "positive" if score > band else "negative" if score < -band else "neutral"


class RuleMapper(BaseEstimator):
    """Map comments to the categories of one taxonomy with its keyword and cue lexicons.

    Parameters
    ----------
    taxonomy : a bundled taxonomy name or a YAML path.
    """

    def __init__(self, taxonomy: str = "rater"):
        self.taxonomy = taxonomy

    def fit(self, X=None, y=None):
        """Compile the lexicons (rules learn nothing from data)."""
        tax: Taxonomy = load_taxonomy(self.taxonomy)
        terms: dict[str, list[tuple[str, str | None]]] = {}
        for cat in tax.categories:
            for kw in cat.keywords:
                terms.setdefault(kw.lower(), []).append((cat.key, None))
            for pol in ("positive", "neutral", "negative"):
                for cue in getattr(cat.cues, pol):
                    terms.setdefault(cue.lower(), []).append((cat.key, pol))
        self.taxonomy_ = tax
        self.terms_ = terms
        self.matcher_ = PhraseMatcher(terms)
        self.classes_ = np.array(tax.keys)
        return self

    def map_clauses(self, clauses: list[str], polarities: list[float]) -> list[Mention]:
        """Mentions of one comment from its clauses and each clause's polarity score in [-1, 1]."""
        votes: dict[str, float] = {}
        seen: dict[str, list[str]] = {}
        first: dict[str, int] = {}
        for i, (clause, score) in enumerate(zip(clauses, polarities)):
            for start, term, targets in self.matcher_.finditer(clause):
                neg = negated(clause, start)
                for cat, pol in targets:
                    if pol is None:
                        vote = float(np.sign(score)) if abs(score) > 0.15 else 0.0
                    else:
                        vote = _SIGN[_FLIP[pol] if neg else pol] * CUE_WEIGHT
                    votes[cat] = votes.get(cat, 0.0) + vote
                    ev = seen.setdefault(cat, [])
                    if term not in ev:
                        ev.append(term)
                    first.setdefault(cat, i)
        return [Mention(cat, polarity_label(v, 0.0), "|".join(seen[cat]), first[cat])
                for cat, v in votes.items()]

    def predict_mentions(self, texts: list[str], scorer=None) -> list[list[Mention]]:
        """Mentions per text; clauses are scored with ``scorer`` (a lexicon model by default)."""
        from voc.classify.lexicon import LexiconSentiment

        if not hasattr(self, "matcher_"):
            self.fit()
        scorer = scorer or LexiconSentiment().fit()
        out = []
        for t in texts:
            clauses = split_clauses(t)
            p = scorer.predict_proba(clauses) if clauses else np.zeros((0, 3))
            out.append(self.map_clauses(clauses, list(p[:, 2] - p[:, 0])))
        return out

    def predict_proba(self, X) -> np.ndarray:
        """Presence (0 or 1) of each category in ``classes_`` per text."""
        mentions = self.predict_mentions(list(X))
        idx = {k: i for i, k in enumerate(self.classes_)}
        out = np.zeros((len(mentions), len(idx)))
        for r, ms in enumerate(mentions):
            for m in ms:
                out[r, idx[m.category]] = 1.0
        return out

    def predict(self, X) -> np.ndarray:
        """Multi-label indicator matrix over ``classes_``."""
        return (self.predict_proba(X) >= 0.5).astype(int)
