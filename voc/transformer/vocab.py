"""Vocabulary trimming for sentencepiece-Unigram encoders (XLM-R style ``tokenizer.json``).

Most of a small multilingual encoder is its embedding table (96M of multilingual-e5-small's 117M
parameters). A Chinese VoC corpus uses a few percent of the 250k pieces, so keeping only those makes
fine-tuning and CPU inference much cheaper. Texts made of kept pieces tokenise exactly as before (any
segmentation with the kept pieces is also one with all pieces, so the best one is unchanged), hence
their embeddings are unchanged too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from voc.errors import InputError, ModelError

E5_PREFIXES = ("query: ", "passage: ")


def read_corpus(paths: Iterable[str | Path]) -> list[str]:
    """Texts of corpus files: CSV/TSV/Parquet/JSONL with a ``text`` column, or plain text (one per line)."""
    import pandas as pd

    texts: list[str] = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"corpus file {p} does not exist; give a CSV with a 'text' column or a .txt file")
        suf = p.suffix.lower()
        if suf in (".csv", ".tsv"):
            df = pd.read_csv(p, sep="\t" if suf == ".tsv" else ",", dtype=str, keep_default_na=False,
                             encoding="utf-8-sig")
        elif suf == ".parquet":
            df = pd.read_parquet(p)
        elif suf in (".jsonl", ".ndjson"):
            df = pd.read_json(p, lines=True, dtype=False)
        else:
            texts += [ln for ln in p.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
            continue
        if "text" not in df.columns:
            raise InputError(f"corpus file {p} has no 'text' column; rename the text column to 'text'")
        texts += [t for t in df["text"].astype(str) if t.strip()]
    if not texts:
        raise InputError("the trimming corpus is empty; give files with at least one non-empty text")
    return texts


def count_pieces(tokenizer, texts: Sequence[str], prefixes: Sequence[str] = E5_PREFIXES) -> np.ndarray:
    """How often each vocabulary id occurs when the texts (and the bare prefixes) are tokenised.

    Parameters
    ----------
    tokenizer : a ``tokenizers.Tokenizer``.
    texts : the corpus.
    prefixes : strings whose pieces are always counted (e5's ``query: `` / ``passage: ``).
    """
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    counts = np.zeros(size, np.int64)
    for pre in prefixes:
        counts[tokenizer.encode(pre, add_special_tokens=False).ids] += 1
    step = 4096
    for i in range(0, len(texts), step):
        encs = tokenizer.encode_batch(list(texts[i:i + step]), add_special_tokens=False)
        ids = np.fromiter((t for e in encs for t in e.ids), np.int64)
        counts += np.bincount(ids, minlength=size)
    return counts


def select_vocab(tok_json: dict, counts: np.ndarray, texts: Sequence[str], tokenizer,
                 min_count: int = 1) -> np.ndarray:
    """The sorted old ids to keep.

    Kept: every added/special token; pieces counted at least ``min_count`` times; every piece that is a
    single character of the normalised corpus (alone or after the ``▁`` word marker), so text outside
    the corpus still tokenises into characters before falling back to ``<unk>``; and the lowest-scored
    piece, so the Unigram model's unknown-token penalty (lowest score - 10) is unchanged.
    """
    if min_count < 1:
        raise InputError(f"--min-count must be at least 1, not {min_count}")
    vocab = tok_json["model"]["vocab"]
    keep = np.zeros(len(vocab), bool)
    keep[[t["id"] for t in tok_json.get("added_tokens", [])]] = True
    keep[np.flatnonzero(counts[:len(vocab)] >= min_count)] = True
    norm = tokenizer.normalizer
    chars: set[str] = set()
    for t in texts:
        chars.update(norm.normalize_str(t) if norm is not None else t)
    index = {p: i for i, (p, _) in enumerate(vocab)}
    for ch in chars:
        for piece in (ch, "\u2581" + ch):
            if piece in index:
                keep[index[piece]] = True
    scores = np.array([s for _, s in vocab], np.float64)
    keep[int(np.argmin(scores))] = True
    return np.flatnonzero(keep)


def trim_tokenizer_json(tok_json: dict, kept: np.ndarray) -> dict:
    """A copy of an HF ``tokenizer.json`` (Unigram model) with only the ``kept`` pieces, ids remapped."""
    model = tok_json.get("model", {})
    if model.get("type") != "Unigram":
        raise ModelError(f"vocabulary trimming needs a Unigram tokenizer, not {model.get('type')!r}")
    new_id = {int(old): new for new, old in enumerate(kept)}
    d = json.loads(json.dumps(tok_json))
    d["model"]["vocab"] = [tok_json["model"]["vocab"][int(i)] for i in kept]
    if d["model"].get("unk_id") is not None:
        d["model"]["unk_id"] = new_id[d["model"]["unk_id"]]
    for t in d.get("added_tokens", []):
        t["id"] = new_id[t["id"]]
    pp = d.get("post_processor")
    for proc in (pp.get("processors", [pp]) if pp else []):
        if proc["type"] == "TemplateProcessing":
            for spec in proc["special_tokens"].values():
                spec["ids"] = [new_id[i] for i in spec["ids"]]
        elif proc["type"] in ("RobertaProcessing", "BertProcessing"):
            for key in ("sep", "cls"):
                proc[key] = [proc[key][0], new_id[proc[key][1]]]
        elif proc["type"] not in ("ByteLevel",):
            raise ModelError(f"cannot remap the ids of a {proc['type']} post-processor")
    return d
