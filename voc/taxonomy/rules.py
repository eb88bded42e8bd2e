"""Negation-aware lexicon rules that map clauses to taxonomy categories with polarity.

A keyword (房间, 骑手) marks its category and takes the polarity of the
clause it sits in, or of a category opinion word that follows it (价格…偏高,
see :mod:`voc.taxonomy.aspect`); in a neutral clause it takes the verdict of
the next clause when that one names nothing itself (信用卡分期打了五折，挺划算的). A cue (发错货, 很贴心) marks its category with a fixed
polarity, flipped when a negator precedes it (不贴心). A negated negative
cue (没有坏的) votes positive without marking its category by itself; a cue
that starts with a negator (不好吃) is never flipped. Votes of all clauses
of a comment are summed per category; a tie is ``neutral``. Neutral clauses
take the polarity of service opinion words the sentiment lexicon lacks
(合理, 繁琐), the taxonomy's contrast rules mark expectation set against reality (说是…却, see
:mod:`voc.taxonomy.contrast`), its context rules re-attribute generic mentions, and mentions found only in
plain questions (请问有没有接机服务) are dropped (see :mod:`voc.taxonomy.context`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator

from voc.taxonomy.aspect import AspectOpinions
from voc.taxonomy.contrast import ContrastRules
from voc.taxonomy.context import ContextRules, drop_question_mentions, starts_negated, supplement_score
from voc.taxonomy.model import Taxonomy, load_taxonomy
from voc.text.matcher import PhraseMatcher, negated
from voc.text.questions import A_NOT_A_RE
from voc.text.segment import split_clauses

_SIGN = {"positive": 1, "neutral": 0, "negative": -1}
_FLIP = {"positive": "negative", "negative": "positive", "neutral": "neutral"}
CUE_WEIGHT = 2.0


def negated_outside_a_not_a(clause: str, start: int) -> bool:
    """:func:`negated`, except that the negator of an A-not-A form (能不能给个准话, 是不是发错了, 有没有坏的) asks
    rather than negates, so it does not flip the phrase after it."""
    ext = clause[max(0, start - 8):start]
    cleaned = A_NOT_A_RE.sub("", ext)
    if cleaned == ext:
        return negated(clause, start)
    return negated(cleaned, len(cleaned))


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


TIE_MARGIN = 0.3


def vote_polarity(vote: float, strength: float, margin: float | None = None) -> str:
    """A category's polarity from its summed votes (±1 per keyword clause, ±cue weight per cue); when they
    cancel, the side whose evidence is clearly stronger (``strength``: the summed clause scores and cue
    votes, beyond ``margin``) wins, as GUIDELINES asks for mixed views (信号很好 +0.79 against a clause
    at −0.18 is positive, not neutral)."""
    margin = TIE_MARGIN if margin is None else margin
    if abs(vote) < 1e-9 and abs(strength) > margin:
        vote = strength
    return polarity_label(vote, 0.0)


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
        keys = tax.keys
        terms = {t: [(keys[ci], pol) for ci, pol in targets] for t, targets in tax.lexicon().items()}
        self.taxonomy_ = tax
        self.terms_ = terms
        self.matcher_ = PhraseMatcher(terms)
        self.context_ = ContextRules(tax)
        self.contrast_ = ContrastRules(tax)
        self.aspects_ = AspectOpinions(tax)
        self.index_ = {k: i for i, k in enumerate(keys)}
        self.classes_ = np.array(tax.keys)
        return self

    def map_clauses(self, clauses: list[str], polarities: list[float]) -> list[Mention]:
        """Mentions of one comment from its clauses and each clause's polarity score in [-1, 1]."""
        votes: dict[str, float] = {}
        strength: dict[str, float] = {}
        aspects = self.aspects_
        seen: dict[str, list[str]] = {}
        first: dict[str, int] = {}
        scores = [supplement_score(c, s) for c, s in zip(clauses, polarities)]
        contrasts = self.contrast_.find_in_clauses(clauses, scores) if self.contrast_ else {}
        keys = self.taxonomy_.keys
        all_hits = [[(start, term, targets, False) for start, term, targets in self.matcher_.finditer(c + "\x00")]
                    for c in clauses]
        for i, (clause, score) in enumerate(zip(clauses, scores)):
            # a neutral clause with a keyword takes the verdict of the next clause when that one names nothing
            # (信用卡分期打了五折，挺划算的)
            if abs(score) <= 0.15 and i + 1 < len(clauses) and not any(t for _, _, t, _ in all_hits[i + 1]) \
                    and abs(scores[i + 1]) > 0.15:
                score = scores[i + 1]
            # the NUL sentinel lets a match at the very end of the clause complete (as in the batch matcher)
            hits = all_hits[i]
            if i in contrasts:  # expectation … reality (说是…却): a cue at the expectation, after a term there
                hits += [(start, self.contrast_.terms[t], [(keys[c], pol)], True) for start, t, c, pol in contrasts[i]]
                hits.sort(key=lambda h: (h[0], h[3]))
            for start, term, targets, contrast in hits:
                if not targets:
                    continue
                neg = not contrast and not starts_negated(term) and negated_outside_a_not_a(clause, start)
                for cat, pol in targets:
                    weak = False
                    if pol is None:
                        o = aspects.score(self.index_[cat], term, clause, start + len(term)) if aspects else None
                        raw = o if o is not None else score if abs(score) > 0.15 else 0.0
                        vote = float(np.sign(raw))
                    else:
                        vote = raw = _SIGN[_FLIP[pol] if neg else pol] * CUE_WEIGHT
                        weak = neg and pol == "negative"
                    votes[cat] = votes.get(cat, 0.0) + vote
                    strength[cat] = strength.get(cat, 0.0) + raw
                    if weak:
                        continue
                    ev = seen.setdefault(cat, [])
                    if term not in ev:
                        ev.append(term)
                    first.setdefault(cat, i)
        found = [Mention(cat, vote_polarity(votes[cat], strength[cat]), "|".join(ev), first[cat])
                 for cat, ev in seen.items()]
        found = self.context_.apply(found, clauses) if self.context_ else found
        return drop_question_mentions(found, clauses)

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
