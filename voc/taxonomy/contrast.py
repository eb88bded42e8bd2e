"""Contrast rules: an expectation set against what happened marks a category.

说是有包间，到了却安排在大厅 breaks a promise without a single reliability word: the evidence is the pattern
*expectation … reality* (说是 … 却). A taxonomy's ``contrast_rules`` (:class:`~voc.taxonomy.model.ContrastRule`)
list the expectation and reality phrases; :class:`ContrastRules` finds them in clauses joined by NUL, the form
that both :class:`~voc.taxonomy.rules.RuleMapper` (one comment) and
:class:`~voc.taxonomy.evidence.RuleEvidence` (a whole batch) use, so the two agree.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from voc.text.matcher import PhraseMatcher

SEP = "\x00"


class ContrastHit(NamedTuple):
    """One contrast: where its expectation starts, where its reality phrase starts, what it marks."""

    start: int
    reality: int
    category: int
    polarity: str
    term: int


class ContrastRules:
    """Compiled contrast rules of a taxonomy.

    Parameters
    ----------
    taxonomy : a :class:`~voc.taxonomy.model.Taxonomy`.

    Attributes
    ----------
    terms : evidence strings (``说是…却``) of every expectation × reality pair; a hit's ``term`` indexes them.
    """

    def __init__(self, taxonomy):
        index = {k: i for i, k in enumerate(taxonomy.keys)}
        self.terms: list[str] = []
        self._rules = []
        for r in taxonomy.contrast_rules:
            expect = list(dict.fromkeys(e.lower() for e in r.expect if e))
            reality = list(dict.fromkeys(x.lower() for x in r.reality if x))
            ids = {}
            for e in expect:
                for x in reality:
                    ids[e, x] = len(self.terms)
                    self.terms.append(f"{e}…{x}")
            phrases = {t.lower(): None for t in r.ignore if t} | {e: e for e in expect}
            pattern = re.compile("|".join(map(re.escape, sorted(reality, key=len, reverse=True))))
            self._rules.append((index[r.category], r.polarity, PhraseMatcher(phrases), pattern, r.window,
                                r.max_clauses, ids))

    def __bool__(self) -> bool:
        return bool(self._rules)

    def find(self, big: str, clause_of: np.ndarray, scores: np.ndarray, band: float = 0.15) -> list[ContrastHit]:
        """Contrasts in ``big``, clauses joined (and ended) by NUL.

        ``clause_of`` gives each character's clause and ``scores`` each clause's polarity; a reality phrase in a
        clearly positive clause (score above ``band``) does not count. When ``big`` holds several comments the
        caller drops hits whose two phrases lie in different comments.
        """
        out: list[ContrastHit] = []
        for cat, pol, matcher, pattern, window, max_clauses, ids in self._rules:
            for start, phrase, expect in matcher.finditer(big):
                if expect is None:
                    continue
                end = start + len(phrase)
                m = pattern.search(big, end, end + window)
                if m is None or big.count(SEP, end, m.start()) > max_clauses:
                    continue
                if scores[clause_of[m.start()]] > band:
                    continue
                out.append(ContrastHit(start, m.start(), cat, pol, ids[expect, m.group()]))
        return out

    def find_in_clauses(self, clauses: list[str], scores: list[float], band: float = 0.15) -> dict[int, list]:
        """Contrasts of one comment grouped by the clause of their expectation, as
        ``{clause: [(start in clause, term index, category index, polarity), ...]}``."""
        if not self._rules or len(clauses) < 1:
            return {}
        big = SEP.join(clauses) + SEP
        lens = np.fromiter(map(len, clauses), dtype=np.int64, count=len(clauses))
        clause_of = np.repeat(np.arange(len(clauses)), lens + 1)
        starts = np.concatenate([[0], np.cumsum(lens + 1)[:-1]])
        out: dict[int, list] = {}
        for h in self.find(big, clause_of, np.asarray(scores, dtype=float), band):
            c = int(clause_of[h.start])
            out.setdefault(c, []).append((h.start - int(starts[c]), h.term, h.category, h.polarity))
        return out
