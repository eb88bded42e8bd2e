"""Word segmentation, stopwords, keywords and clause splitting.

The default backend is rjieba (the Rust port of jieba, same dictionary and
HMM, about 15x faster); ``jieba`` is the reference implementation. Both load
the bundled domain dictionary, any user dictionaries and the taxonomy
keywords, so domain words such as 送餐, 性价比 and 前台 stay whole.
Keywords are TF-IDF scored with jieba.analyse's IDF table.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

from voc.errors import ConfigError

USER_WORD_FREQ = 3000
# Clause boundaries: sentence and clause punctuation, and contrast words that start a new clause.
_PUNCT_SPLIT = re.compile(r"[。！？!?；;，,、:：\n\r~～…]+|\.{2,}|\s{2,}|(?<=[\u4e00-\u9fff])[.]\s*|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_CONTRAST = re.compile(r"(?=(?:但是|可是|不过|然而|只是|就是太))")
_TOKEN_OK = re.compile(r"[\u4e00-\u9fffA-Za-z]")
KEEP_CACHE_MAX = 200_000  # distinct tokens remembered by Segmenter.content_tokens (about 25 MB)


def resource_path(name: str) -> Path:
    """Path of a bundled resource file (``voc/resources/NAME``)."""
    return Path(str(resources.files("voc") / "resources" / name))


# Words the stopword list deliberately keeps (the sentiment and aspect rules need them) but that say nothing
# about a comment's subject, so they are never its keywords (a "new keyword" alert on 有点 is noise).
NOT_KEYWORDS = frozenset("有点 有些 一点 一些 非常 特别 比较 真的 真是 还是 但是 不过 可是 就是 只是 而且 然后 所以 因为 "
                         "没有 觉得 感觉 已经 一直 还有 这个 那个 什么 怎么 这么 那么 可以 一般 还行".split())


def load_stopwords(path: Path | None = None) -> frozenset[str]:
    """Stopwords from a UTF-8 file, one per line (``#`` comments allowed); the bundled list by default."""
    p = Path(path) if path else resource_path("stopwords.txt")
    if not p.is_file():
        raise ConfigError(f"stopword file {p} does not exist; fix segment.stopwords")
    words = (w.strip() for w in p.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in words if w and not w.startswith("#"))


def read_user_dict(path: Path) -> list[tuple[str, int | None, str | None]]:
    """Entries ``word [freq] [tag]`` of a jieba user dictionary."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"user dictionary {p} does not exist; fix segment.user_dicts")
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split()
        if not parts or parts[0].startswith("#"):
            continue
        freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        tag = parts[2] if len(parts) > 2 else (parts[1] if len(parts) > 1 and not parts[1].isdigit() else None)
        out.append((parts[0], freq, tag))
    return out


@lru_cache(maxsize=1)
def _idf() -> tuple[dict[str, float], float]:
    """jieba.analyse's IDF table and its median, read directly (importing jieba.analyse costs more).

    pyarrow parses the 270k ``word idf`` lines in about half the time of a Python loop.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    path = resources.files("jieba") / "analyse" / "idf.txt"
    try:
        with path.open("rb") as f:
            table = pcsv.read_csv(
                f, read_options=pcsv.ReadOptions(column_names=["word", "idf"]),
                parse_options=pcsv.ParseOptions(delimiter=" ", quote_char=False),
                convert_options=pcsv.ConvertOptions(column_types={"word": pa.string(), "idf": pa.float64()}))
        idf = dict(zip(table.column("word").to_pylist(), table.column("idf").to_pylist()))
    except (pa.ArrowInvalid, ValueError):  # a line pyarrow cannot split (a word with a space): parse it here
        idf = {}
        with path.open(encoding="utf-8") as f:
            for line in f:
                word, _, value = line.rstrip("\n").rpartition(" ")
                if word:
                    idf[word] = float(value)
    values = sorted(idf.values())
    return idf, values[len(values) // 2]


def split_clauses(text: str, min_chars: int = 2) -> list[str]:
    """Split a comment into clauses at punctuation and before contrast words (但是, 不过 ...).

    Fragments shorter than ``min_chars`` are merged into their neighbour, so
    ``味道很好但是送得太慢了`` gives ``['味道很好', '但是送得太慢了']``.
    """
    parts: list[str] = []
    for piece in _PUNCT_SPLIT.split(text):
        for sub in _CONTRAST.split(piece):
            sub = sub.strip()
            if sub:
                parts.append(sub)
    merged: list[str] = []
    for p in parts:
        if merged and (len(p) < min_chars or len(merged[-1]) < min_chars):
            merged[-1] += p
        else:
            merged.append(p)
    return merged


class Segmenter:
    """Segment Chinese text with a domain-aware jieba-compatible tokenizer.

    Parameters
    ----------
    backend : ``rjieba`` (fast, default) or ``jieba``.
    hmm : use the HMM to join unknown words.
    user_words : extra words to keep whole (e.g. taxonomy keywords).
    user_dicts : jieba user-dictionary files (``word [freq] [tag]`` per line).
    stopwords : stopword file; None for the bundled list.
    """

    def __init__(self, backend: str = "rjieba", hmm: bool = True, user_words: Iterable[str] = (),
                 user_dicts: Iterable[Path] = (), stopwords: Path | None = None):
        self.backend = backend
        self.hmm = hmm
        self.stopwords = load_stopwords(stopwords)
        self._keep: dict[str, bool] = {}  # token -> is a content token
        entries = read_user_dict(resource_path("userdict.txt"))
        for d in user_dicts:
            entries += read_user_dict(d)
        entries += [(w, None, None) for w in user_words if len(w) >= 2 and " " not in w]
        if backend == "rjieba":
            import rjieba

            self._tk = rjieba.Jieba()
            for word, freq, tag in entries:
                self._tk.add_word(word, freq or USER_WORD_FREQ, tag or "n")
            self._cut = lambda t: self._tk.cut(t, self.hmm)
        elif backend == "jieba":
            import jieba

            self._tk = jieba.Tokenizer()
            self._tk.initialize()
            for word, freq, tag in entries:
                self._tk.add_word(word, freq or USER_WORD_FREQ, tag)
            self._cut = lambda t: self._tk.lcut(t, HMM=self.hmm)
        else:
            raise ConfigError(f"unknown segment.backend {backend!r}; use rjieba or jieba")

    def cut(self, text: str) -> list[str]:
        """All tokens, punctuation and spaces included."""
        return list(self._cut(text)) if text else []

    def content_tokens(self, tokens: list[str]) -> list[str]:
        """Tokens without punctuation, spaces, numbers or stopwords."""
        keep, sw = self._keep, self.stopwords
        out = []
        for t in tokens:
            k = keep.get(t)
            if k is None:  # each distinct token is judged once (a vocabulary is small next to a corpus)
                k = t not in sw and _TOKEN_OK.search(t) is not None
                if len(keep) < KEEP_CACHE_MAX:
                    keep[t] = k
            if k:
                out.append(t)
        return out

    def keywords(self, tokens: list[str], top_k: int = 5) -> list[str]:
        """Top-``k`` TF-IDF keywords (two or more characters) of one comment's content tokens; degree and
        contrast words, which the stopwords keep for the sentiment rules (有点, 但是), are never keywords."""
        if top_k <= 0:
            return []
        idf, median = _idf()
        tf: dict[str, int] = {}
        for t in tokens:
            if len(t) >= 2 and t not in NOT_KEYWORDS:
                tf[t] = tf.get(t, 0) + 1
        if len(tf) <= 1:
            return list(tf)
        get = idf.get
        return sorted(tf, key=lambda w: (-tf[w] * get(w, median), w))[:top_k]
