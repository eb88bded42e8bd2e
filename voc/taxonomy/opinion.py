"""Opinion phrases for drill-down: an aspect word paired with the nearest opinion word in its clause.

``送餐太慢了`` gives ``送餐-太慢``; ``房间不太干净`` gives ``房间-不太干净`` (the negator is kept).
Opinion words are the sentiment lexicon's entries, mild ones (一般) included.
"""

from __future__ import annotations

from voc.classify.lexicon import LexiconSentiment
from voc.text.matcher import NEGATION_RE


class OpinionExtractor:
    """Pair aspect terms with opinion words.

    Parameters
    ----------
    lexicon : a sentiment lexicon file (``word<TAB>weight``); None for the bundled one.
    max_distance : the largest gap, in characters, between an aspect and its opinion word.
    """

    def __init__(self, lexicon: str | None = None, max_distance: int = 8):
        self.max_distance = max_distance
        self._lex = LexiconSentiment(lexicon).fit()

    def opinions(self, clause: str) -> list[tuple[int, int, str]]:
        """``(start, end, opinion)`` spans of one clause; a preceding negator is part of the opinion."""
        out = []
        for start, word, _ in self._lex.matcher_.finditer(clause):
            window = clause[max(0, start - 4):start]
            m = NEGATION_RE.search(window)
            if m:
                begin = start - len(window) + m.start()
                out.append((begin, start + len(word), clause[begin:start + len(word)]))
            else:
                out.append((start, start + len(word), word))
        return out

    def phrase(self, clause: str, term: str, spans: list[tuple[int, int, str]] | None = None) -> str:
        """``term-opinion`` for the opinion nearest to ``term`` in ``clause``, or ``''``.

        A term that is itself an opinion-bearing cue (发错货) is returned as it is.
        """
        pos = clause.find(term)
        if pos < 0:
            return ""
        end = pos + len(term)
        spans = self.opinions(clause) if spans is None else spans
        best, best_gap = "", self.max_distance + 1
        for s, e, op in spans:
            if s < end and e > pos:  # overlaps the term itself
                continue
            gap = s - end if s >= end else pos - e + 1  # opinions after the aspect are preferred
            if gap < best_gap:
                best, best_gap = op, gap
        if best:
            return f"{term}-{best}"
        if any(s >= pos and e <= end for s, e, _ in spans):
            return term
        return ""
