"""Aspect opinion words: the polarity of a keyword from the opinion word that follows it in its clause.

A keyword usually takes its clause's sentiment score, but some opinion words change sign with the aspect:
高 is good for 性价比 and bad for 价格, and a sentiment model trained on whole reviews reads
价格来说是比较偏高的 as mildly positive. A category's ``opinions`` (see
:class:`~voc.taxonomy.model.OpinionRule`) list, for some of its keywords, the words that decide their
polarity when they follow the keyword in the same clause, within ``window`` characters. A negator between
keyword and opinion word flips it (价格并不贵), unless the word itself starts with one (价格不贵).
"""

from __future__ import annotations

import re

from voc.taxonomy.model import POLARITIES, Taxonomy
from voc.text.matcher import negated

_SIGN = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}
_NEGATORS = "不没无别未"


class AspectOpinions:
    """Compiled opinion rules of a taxonomy.

    Parameters
    ----------
    taxonomy : the taxonomy whose categories' ``opinions`` to use.
    window : the opinion word must start within this many characters after the keyword.
    """

    def __init__(self, taxonomy: Taxonomy, window: int = 8):
        self.window = int(window)
        # (category index, keyword) -> (compiled alternation, {word: polarity}, longest word)
        self.rules: dict[tuple[int, str], tuple[re.Pattern, dict[str, str], int]] = {}
        for ci, cat in enumerate(taxonomy.categories):
            for rule in cat.opinions:
                words = {w.lower(): pol for pol in POLARITIES for w in getattr(rule, pol)}
                if not words:
                    continue
                pat = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
                longest = max(map(len, words))
                for kw in rule.after:
                    self.rules[(ci, kw.lower())] = (pat, words, longest)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def score(self, category: int, keyword: str, clause: str, end: int) -> float | None:
        """+1, 0 or −1 from the first opinion word after ``keyword`` (ending at ``end`` in ``clause``); None
        when the keyword has no rule or no opinion word follows within the window."""
        rule = self.rules.get((category, keyword))
        if rule is None:
            return None
        pat, words, longest = rule
        m = pat.search(clause, end, end + self.window + longest)
        if m is None or m.start() - end > self.window:
            return None
        s = _SIGN[words[m.group()]]
        between = clause[end:m.start()]  # only a negator between keyword and opinion flips it
        if m.group()[0] not in _NEGATORS and negated(between, len(between)):
            s = -s
        return s
