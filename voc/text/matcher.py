"""Fast multi-phrase matching (Aho-Corasick) with negation checks, shared by the lexicon and taxonomy rules."""

from __future__ import annotations

import re
from typing import Any, Iterator

import ahocorasick
import numpy as np

# A negator shortly before a phrase flips it: 不干净, 没有问题, 不太满意, 并没有发错.
# Look-arounds keep intensifiers and connectives out: 非常, 特别, 无论, 无比, 不错, 不过, 不但, 不仅, 不管,
# and 无理由 (七天无理由退货, no-questions-asked returns).
NEGATION_RE = re.compile(
    r"(?:不是很|不太|不怎么|不够|并不|并没有|从不|从没|没有|毫无|(?<!特)别|不(?![错过但仅管论愧])|没|未|无(?![论比限敌理]))"
    r"[\u4e00-\u9fff]{0,2}$"
)


def _is_letter(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def letter_edges(phrase: str) -> tuple[bool, bool]:
    """Whether ``phrase`` starts and ends with an ASCII letter: such an edge must sit on a word boundary."""
    return (bool(phrase) and _is_letter(phrase[0]), bool(phrase) and _is_letter(phrase[-1]))


def on_word_boundary(text: str, start: int, end: int, edges: tuple[bool, bool]) -> bool:
    """False when a phrase at ``text[start:end]`` with letter ``edges`` runs into a neighbouring ASCII letter:
    ``app`` in ``happy`` or ``apple``, ``great`` in ``greater``. Chinese characters, digits and punctuation
    are boundaries (用app下单, wifi6)."""
    return not ((edges[0] and start > 0 and _is_letter(text[start - 1]))
                or (edges[1] and end < len(text) and _is_letter(text[end])))


def _letter_codes(c: np.ndarray) -> np.ndarray:
    return ((c >= 65) & (c <= 90)) | ((c >= 97) & (c <= 122))


def word_bounded(codes: np.ndarray, start: np.ndarray, end: np.ndarray, left: np.ndarray,
                 right: np.ndarray) -> np.ndarray:
    """:func:`on_word_boundary` over many matches at once: ``codes`` are the text's code points, ``start`` and
    ``end`` the matches' bounds, ``left``/``right`` their phrases' :func:`letter_edges`."""
    before = np.where(start > 0, codes[np.maximum(start - 1, 0)], 0)
    after = np.where(end < len(codes), codes[np.minimum(end, len(codes) - 1)], 0)
    return ~((left & _letter_codes(before)) | (right & _letter_codes(after)))


def negated(text: str, start: int, window: int = 4) -> bool:
    """True when a negator stands within ``window`` characters before ``start``."""
    return bool(NEGATION_RE.search(text[max(0, start - window):start]))


class PhraseMatcher:
    """Longest, non-overlapping, left-to-right matches of many phrases.

    A phrase that starts or ends with an ASCII letter matches whole words only (see :func:`on_word_boundary`).

    Parameters
    ----------
    phrases : mapping of phrase to any payload.
    """

    def __init__(self, phrases: dict[str, Any]):
        self._auto = ahocorasick.Automaton()
        for phrase, payload in phrases.items():
            if phrase:
                edges = letter_edges(phrase)
                self._auto.add_word(phrase, (len(phrase), phrase, payload, edges if any(edges) else None))
        self.empty = len(self._auto) == 0
        if not self.empty:
            self._auto.make_automaton()

    def finditer(self, text: str) -> Iterator[tuple[int, str, Any]]:
        """Yield ``(start, phrase, payload)`` for each match."""
        if self.empty or not text:
            return
        # The sentinel works around iter_long dropping a match that ends the text while a longer
        # phrase is still possible (大床 with 大床房 in the automaton); no phrase holds it.
        for end, (n, phrase, payload, edges) in self._auto.iter_long(text + "\x00"):
            start = end - n + 1
            if edges is None or on_word_boundary(text, start, end + 1, edges):
                yield start, phrase, payload

    def occurs(self, text: str) -> bool:
        """True when any phrase occurs in ``text`` (overlapping matches count too)."""
        if self.empty or not text:
            return False
        return any(edges is None or on_word_boundary(text, end - n + 1, end + 1, edges)
                   for end, (n, _, _, edges) in self._auto.iter(text))

    def __len__(self) -> int:
        return len(self._auto)
