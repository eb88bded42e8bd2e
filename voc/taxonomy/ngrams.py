"""Character n-gram TF-IDF over many clauses at once, without Python loops over n-grams.

Text is turned into code points; an n-gram is an integer key (``SHIFT`` bits per code point), so counting,
vocabulary building and look-up are numpy operations. Clauses of a batch are joined with ``SEP`` (NUL),
and n-grams never span a separator.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

SEP = "\x00"
SHIFT = 21  # bits per code point in an n-gram key (code points are < 2**21)


def codes_of(big: str) -> np.ndarray:
    """Code points of ``big`` as int64 (separators are 0)."""
    return np.frombuffer(big.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def ngram_keys(codes: np.ndarray, nmax: int):
    """``(keys, start positions)`` of every 1..nmax-gram that contains no separator, ordered by position."""
    n = len(codes)
    valid = codes != 0
    K = np.zeros((n, nmax), dtype=np.int64)
    ok = np.zeros((n, nmax), dtype=bool)
    key, v = codes, valid
    for k in range(nmax):
        if k:
            key = (key[:-1] << SHIFT) | codes[k:]
            v = v[:-1] & valid[k:]
        K[: n - k, k] = key
        ok[: n - k, k] = v
    flat = np.flatnonzero(ok.ravel())
    return K.ravel()[flat], flat // nmax


def decode_ngram(key: int) -> str:
    """The text of an n-gram key."""
    chars = []
    key = int(key)
    while key:
        chars.append(chr(key & ((1 << SHIFT) - 1)))
        key >>= SHIFT
    return "".join(reversed(chars))


def fit_ngram_vocab(docs: list[str], nmax: int = 3, min_df: int = 3, max_features: int | None = 100_000):
    """Sorted n-gram keys kept (document frequency >= ``min_df``, the ``max_features`` most frequent) and idf."""
    if not docs:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    big = SEP.join(docs) + SEP
    lens = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), lens + 1)
    keys, pos = ngram_keys(codes_of(big), nmax)
    uniq, inv = np.unique(keys, return_inverse=True)
    pairs = np.unique(doc_of[pos] * len(uniq) + inv)
    df = np.bincount(pairs % len(uniq), minlength=len(uniq))
    keep = np.flatnonzero(df >= min_df)
    if max_features and len(keep) > max_features:
        keep = keep[np.argsort(-df[keep], kind="stable")[:max_features]]
        keep.sort()
    idf = np.log((1 + len(docs)) / (1 + df[keep])) + 1.0
    return uniq[keep].astype(np.int64), idf.astype(np.float32)


class NgramIndex:
    """Look-up of n-gram keys: a dense table for single characters, a hash table for longer n-grams."""

    def __init__(self, vocab: np.ndarray):
        from pandas._libs import hashtable

        uni = vocab < (1 << SHIFT)
        self.uni = np.full(1 << SHIFT, -1, dtype=np.int32)
        self.uni[vocab[uni]] = np.flatnonzero(uni)
        self.multi_idx = np.flatnonzero(~uni)
        self.table = hashtable.Int64HashTable(max(int((~uni).sum()), 1))
        self.table.map_locations(vocab[~uni])

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Column of each key in the vocabulary, -1 where absent."""
        out = np.full(len(keys), -1, dtype=np.int64)
        small = keys < (1 << SHIFT)
        out[small] = self.uni[keys[small]]  # int32 table, int64 result
        big = ~small
        if big.any():
            j = self.table.lookup(keys[big])
            out[big] = np.where(j >= 0, self.multi_idx[np.maximum(j, 0)], -1)
        return out


def ngram_tfidf(big: str, unit_of_pos: np.ndarray, n_units: int, index: NgramIndex, idf: np.ndarray,
                nmax: int, codes: np.ndarray | None = None) -> sp.csr_matrix:
    """TF-IDF rows (one per unit: comment or clause) of the n-grams in ``big``.

    Each occurrence adds its idf; a row is divided by the square root of the sum of its occurrences'
    squared idf (the L2 norm when every n-gram occurs once). Rows may hold duplicate column entries.
    """
    V = len(idf)
    if V == 0 or n_units == 0:
        return sp.csr_matrix((n_units, V), dtype=np.float32)
    keys, pos = ngram_keys(codes_of(big) if codes is None else codes, nmax)
    cols = index.lookup(keys)
    hit = cols >= 0
    cols, rows = cols[hit], unit_of_pos[pos[hit]]  # positions ascend, so rows do too
    w = idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=w.astype(np.float64) ** 2, minlength=n_units))
    norms[norms == 0] = 1.0
    indptr = np.zeros(n_units + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_units), out=indptr[1:])
    data = (w / norms[rows]).astype(np.float32)
    return sp.csr_matrix((data, cols.astype(np.int32), indptr), shape=(n_units, V))

