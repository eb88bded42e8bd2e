"""Fast multi-phrase matching (Aho-Corasick) with negation checks, shared by the lexicon and taxonomy rules."""

from __future__ import annotations

import re
from typing import Any, Iterator

import ahocorasick

# A negator shortly before a phrase flips it: 不干净, 没有问题, 不太满意, 并没有发错.
# Look-arounds keep intensifiers and connectives out: 非常, 特别, 无论, 无比, 不错, 不过, 不但, 不仅, 不管,
# and 无理由 (七天无理由退货, no-questions-asked returns).
NEGATION_RE = re.compile(
    r"(?:不是很|不太|不怎么|不够|并不|并没有|从不|从没|没有|毫无|(?<!特)别|不(?![错过但仅管论愧])|没|未|无(?![论比限敌理]))"
    r"[\u4e00-\u9fff]{0,2}$"
)


def negated(text: str, start: int, window: int = 4) -> bool:
    """True when a negator stands within ``window`` characters before ``start``."""
    return bool(NEGATION_RE.search(text[max(0, start - window):start]))


class PhraseMatcher:
    """Longest, non-overlapping, left-to-right matches of many phrases.

    Parameters
    ----------
    phrases : mapping of phrase to any payload.
    """

    def __init__(self, phrases: dict[str, Any]):
        self._auto = ahocorasick.Automaton()
        for phrase, payload in phrases.items():
            if phrase:
                self._auto.add_word(phrase, (len(phrase), phrase, payload))
        self.empty = len(self._auto) == 0
        if not self.empty:
            self._auto.make_automaton()

    def finditer(self, text: str) -> Iterator[tuple[int, str, Any]]:
        """Yield ``(start, phrase, payload)`` for each match."""
        if self.empty or not text:
            return
        # The sentinel works around iter_long dropping a match that ends the text while a longer
        # phrase is still possible (大床 with 大床房 in the automaton); no phrase holds it.
        for end, (n, phrase, payload) in self._auto.iter_long(text + "\x00"):
            yield end - n + 1, phrase, payload

    def occurs(self, text: str) -> bool:
        """True when any phrase occurs in ``text`` (overlapping matches count too)."""
        return not self.empty and bool(text) and next(self._auto.iter(text), None) is not None

    def __len__(self) -> int:
        return len(self._auto)
