"""Record boundaries in delimited bytes: where each CSV/TSV record starts and ends, and how many fields it has.

The splitter works on raw bytes, before any decoding, so one line in another
encoding cannot break the parse. That is safe for UTF-8 and GB18030/GBK: the
bytes that structure a file (``,`` ``"`` ``\\t`` ``\\n`` ``\\r``, all below
0x30) never occur inside a multibyte character of either encoding (UTF-8
continuation bytes are 0x80-0xBF; GB18030 lead bytes are 0x81-0xFE and trail
bytes 0x30-0x39, 0x40-0x7E or 0x80-0xFE).

The quoting rules are pyarrow's (and Python's ``csv``): a quote opens a quoted
value only at the start of a field; inside one, ``""`` is a literal quote and
a single ``"`` closes it; any other quote is a literal character. Line ends
are ``\\n``, ``\\r\\n`` or a lone ``\\r``; empty lines are not records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NL, CR, QUOTE = 10, 13, 34


@dataclass
class Split:
    """Records found in a buffer.

    Attributes
    ----------
    starts, ends : byte offsets of each non-empty record's content (``ends`` exclusive, line end excluded).
    fields : number of fields in each record.
    consumed : bytes of the buffer used up (through the last complete record's line end).
    unclosed : True when the last record (at the end of the file) has a quote that is never closed.
    """

    starts: np.ndarray
    ends: np.ndarray
    fields: np.ndarray
    consumed: int
    unclosed: bool = False


def _toggles_fast(a: np.ndarray, q: np.ndarray, delim: int) -> np.ndarray | None:
    """Every quote toggles the quoted state; valid when each opening quote sits at a field start
    (or right after a closing quote, which makes the pair an escaped ``""``). None when not valid."""
    op_idx = np.arange(0, len(q), 2)
    op = q[op_idx]
    prev = a[np.maximum(op - 1, 0)]
    at_start = (op == 0) | (prev == delim) | (prev == NL) | (prev == CR)
    escaped = (op_idx > 0) & (q[np.maximum(op_idx - 1, 0)] == op - 1)
    return q if bool(np.all(at_start | escaped)) else None


def _toggles_exact(a: np.ndarray, q: np.ndarray, delim: int) -> np.ndarray:
    """Positions where the quoted state changes, by walking the quotes one by one (rare stray quotes)."""
    out: list[int] = []
    quoted = False
    skip = -1
    n = len(a)
    for p in q.tolist():
        if p <= skip:
            continue
        if quoted:
            if p + 1 < n and a[p + 1] == QUOTE:
                skip = p + 1  # "" inside a quoted value
                continue
            quoted = False
            out.append(p)
        elif p == 0 or a[p - 1] in (delim, NL, CR):
            quoted = True
            out.append(p)
    return np.asarray(out, dtype=np.int64)


def split_records(buf: bytes, delim: int, quoting: bool, final: bool) -> Split:
    """Find the complete records in ``buf``, which starts at a record boundary.

    Parameters
    ----------
    buf : raw bytes.
    delim : the delimiter byte (``ord(",")`` or ``ord("\\t")``).
    quoting : whether ``"`` quotes values (CSV) or is an ordinary character (TSV).
    final : True when ``buf`` reaches the end of the file; then its tail is a record even without a line end.

    Returns
    -------
    Split
        Records in order; bytes after ``consumed`` belong to a record that continues in the next read.
    """
    a = np.frombuffer(buf, dtype=np.uint8)
    if not final and len(a) and a[-1] == CR:
        a = a[:-1]  # a CR at the end may be the first half of CRLF
    n = len(a)
    if quoting:
        q = np.flatnonzero(a == QUOTE)
        toggles = _toggles_fast(a, q, delim)
        if toggles is None:
            toggles = _toggles_exact(a, q, delim)
    else:
        toggles = np.empty(0, dtype=np.int64)

    def outside(pos: np.ndarray) -> np.ndarray:
        return pos[np.searchsorted(toggles, pos, side="right") % 2 == 0]

    nl = np.flatnonzero(a == NL)
    cr = np.flatnonzero(a == CR)
    if len(cr):
        nxt = np.minimum(cr + 1, n - 1)
        lone = cr[(cr == n - 1) | (a[nxt] != NL)]
        term = np.union1d(nl, lone) if len(lone) else nl
    else:
        term = nl
    if len(toggles):
        term = outside(term)
    starts = np.concatenate(([0], term + 1))[: len(term)]
    ends = term
    if len(cr) and len(term):
        crlf = (a[term] == NL) & (term > starts) & (a[np.maximum(term - 1, 0)] == CR)
        ends = term - crlf
    consumed = int(term[-1]) + 1 if len(term) else 0
    unclosed = False
    if final and consumed < n:
        starts = np.append(starts, consumed)
        ends = np.append(ends, n)
        unclosed = len(toggles) % 2 == 1
        consumed = n
    if final:
        consumed = len(buf)
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    d = np.flatnonzero(a == delim)
    fields = np.searchsorted(d, ends) - np.searchsorted(d, starts) + 1
    if len(toggles) and len(starts):
        # Delimiters inside quoted values are text: count them per quoted span and take them off.
        opens = toggles[0::2]
        closes = np.append(toggles[1::2], n)[: len(opens)]
        inside = np.searchsorted(d, closes) - np.searchsorted(d, opens)
        owner = np.searchsorted(starts, opens, side="right") - 1
        ok = (owner >= 0) & (inside > 0)
        ok &= opens < ends[np.maximum(owner, 0)]  # spans in the unfinished tail belong to no record yet
        fields = fields - np.bincount(owner[ok], weights=inside[ok], minlength=len(starts)).astype(fields.dtype)
    return Split(starts.astype(np.int64), ends.astype(np.int64), fields, consumed, unclosed)
