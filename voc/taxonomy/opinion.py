"""Opinion phrases for drill-down: an aspect word paired with the nearest opinion word in its clause.

``送餐太慢了`` gives ``送餐-太慢``; ``房间不太干净`` gives ``房间-不太干净`` (the negator is kept).
Opinion words are the sentiment lexicon's entries, mild ones (一般) included, except inside words that
evaluate nothing (说好 is "agreed", 好几 "several"). Given the mention's polarity, an opinion of the
opposite sign is passed over, so a negative mention is never shown as 网点-不错.
"""

from __future__ import annotations

import re

from voc.classify.lexicon import LexiconSentiment
from voc.text.matcher import NEGATION_RE


# Words containing a lexicon entry that evaluate nothing: 说好 (agreed), 只好 (had to), 好像 (seems), 好几 (several).
NOT_OPINION_RE = re.compile("说好|只好|好像|好几|好多次|好久|好在|好不容易|好歹")


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

    def opinions(self, clause: str) -> list[tuple[int, int, str, float]]:
        """``(start, end, opinion, sign)`` spans of one clause; a preceding negator is part of the opinion and
        flips its sign (the lexicon weight's sign; 0 for mild words)."""
        out = []
        blocked = [(m.start(), m.end()) for m in NOT_OPINION_RE.finditer(clause)]
        for start, word, weight in self._lex.matcher_.finditer(clause):
            end = start + len(word)
            if any(a <= start and end <= b for a, b in blocked):  # inside 说好, not 说好吃's 好吃
                continue
            sign = float((weight > 0) - (weight < 0)) if isinstance(weight, (int, float)) else 0.0
            window = clause[max(0, start - 4):start]
            m = NEGATION_RE.search(window)
            if m:
                begin = start - len(window) + m.start()
                out.append((begin, end, clause[begin:end], -sign))
            else:
                out.append((start, end, word, sign))
        return out

    def phrase(self, clause: str, term: str, spans: list[tuple[int, int, str, float]] | None = None,
               polarity: str | None = None) -> str:
        """``term-opinion`` for the opinion nearest to ``term`` in ``clause``, or ``''``.

        A term that is itself an opinion-bearing cue (发错货) is returned as it is. With the mention's
        ``polarity`` (``positive``/``negative``), opinions of the opposite sign are passed over.
        """
        pos = clause.find(term)
        if pos < 0:
            return ""
        end = pos + len(term)
        spans = self.opinions(clause) if spans is None else spans
        best, best_gap = "", self.max_distance + 1
        against = {"positive": -1.0, "negative": 1.0}.get(polarity or "")
        for s, e, op, sign in spans:
            if s < end and e > pos:  # overlaps the term itself
                continue
            if against is not None and sign == against:
                continue
            gap = s - end if s >= end else pos - e + 1  # opinions after the aspect are preferred
            if gap < best_gap:
                best, best_gap = op, gap
        if best:
            return f"{term}-{best}"
        if any(s >= pos and e <= end for s, e, _, _ in spans):
            return term
        return ""
