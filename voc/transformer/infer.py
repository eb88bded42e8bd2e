"""Batched, length-bucketed transformer inference: ``preprocess`` → ``forward`` → ``postprocess``.

- **preprocess** tokenises every text once (no padding) and turns it into one or more *windows* of at
  most ``max_length`` tokens, special tokens included.
- **forward** sorts the windows by length, cuts them into mini-batches of ``batch_size`` windows, pads each
  batch only to its own longest window (length bucketing) and runs the model; outputs are put back in
  input order, so results do not depend on the batch size.
- **postprocess** merges the windows of each text (see :data:`LONG_TEXT_POLICIES`) and returns a float64
  numpy array, whatever the batch size.

Long-text policy (a text longer than ``max_length - specials`` tokens):

``windows`` (default)
    The text is split into clauses at Chinese and Western punctuation (。！？；，,.!?;~ and line breaks);
    consecutive clauses are packed greedily into windows of at most ``max_length`` tokens (a single clause
    that is longer is cut every ``max_length`` tokens). At most ``max_windows`` windows are scored; the rest
    of the text is ignored. Single-label outputs are averaged over windows weighted by their token counts;
    multi-label outputs take, per category, the window where the category is most likely present.
``truncate``
    Only the first ``max_length`` tokens are scored.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

LONG_TEXT_POLICIES = ("windows", "truncate")
_CLAUSE_END = re.compile(r"(?<=[。！？；，、,.!?;~…\n])")


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' info/warning logging (e.g. 'newly initialized head', or the tokenizer's
    'sequence longer than the maximum', which windows handle) and its progress bars for a block."""
    from transformers.utils import logging

    old, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(old)
        if bars:
            logging.enable_progress_bar()


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """Token ids the tokenizer puts before and after a single text (``[CLS]``/``[SEP]``, ``<s>``/``</s>``)."""
    ids = list(tokenizer("", add_special_tokens=True)["input_ids"])
    if len(ids) >= 2:
        return ids[:1], ids[1:]
    return [], ids


def split_clauses_keep(text: str) -> list[str]:
    """Clauses of ``text`` with their punctuation kept (joining them gives ``text`` back)."""
    return [p for p in _CLAUSE_END.split(text) if p]


@dataclass
class Windows:
    """Token windows of a list of texts.

    Attributes
    ----------
    ids : token ids of each window, special tokens included.
    owner : index of the text each window comes from (non-decreasing).
    weight : content tokens of each window (at least 1), used to average single-label outputs.
    n_texts : number of texts.
    n_long : texts that needed more than one window (or were truncated).
    """

    ids: list[list[int]]
    owner: np.ndarray
    weight: np.ndarray
    n_texts: int
    n_long: int = 0


def _pack(pieces: list[list[int]], limit: int) -> list[list[int]]:
    """Greedy packing of clause token lists into chunks of at most ``limit`` tokens."""
    out: list[list[int]] = []
    cur: list[int] = []
    for p in pieces:
        while len(p) > limit:  # a clause longer than a window is cut
            if cur:
                out.append(cur)
                cur = []
            out.append(p[:limit])
            p = p[limit:]
        if len(cur) + len(p) > limit:
            out.append(cur)
            cur = []
        cur = cur + p
    if cur or not out:
        out.append(cur)
    return out


def make_windows(tokenizer, texts: Sequence[str], max_length: int, policy: str = "windows",
                 max_windows: int = 8) -> Windows:
    """Tokenise ``texts`` into windows of at most ``max_length`` tokens (see the module's long-text policy)."""
    if policy not in LONG_TEXT_POLICIES:
        raise ValueError(f"long-text policy must be one of {LONG_TEXT_POLICIES}, not {policy!r}")
    head, tail = special_tokens(tokenizer)
    limit = max_length - len(head) - len(tail)
    if limit < 1:
        raise ValueError(f"max_length {max_length} leaves no room for text")
    texts = ["" if t is None else str(t) for t in texts]
    with quiet_transformers():
        enc = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    ids, owner, weight, n_long = [], [], [], 0
    for i, toks in enumerate(enc):
        if len(toks) <= limit:
            chunks = [list(toks)]
        else:
            n_long += 1
            if policy == "truncate":
                chunks = [list(toks[:limit])]
            else:
                clauses = split_clauses_keep(texts[i])
                pieces = tokenizer(clauses, add_special_tokens=False)["input_ids"] if clauses else []
                chunks = _pack([list(p) for p in pieces if len(p)], limit)[:max_windows]
        for c in chunks:
            ids.append(head + c + tail)
            owner.append(i)
            weight.append(max(len(c), 1))
    return Windows(ids, np.asarray(owner, dtype=np.int64), np.asarray(weight, dtype=np.float64), len(texts), n_long)


def resolve_device(device: str = "auto") -> str:
    """``cuda`` or ``cpu`` for a ``device`` setting: ``auto`` takes a visible CUDA GPU, else the CPU.

    Asking for ``cuda`` (or ``cuda:N``) where torch sees no GPU is a one-sentence ModelError.
    """
    import torch

    from voc.errors import ModelError

    d = str(device or "auto").strip().lower()
    if d == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if d == "cpu":
        return "cpu"
    if d == "cuda" or re.fullmatch(r"cuda:\d+", d):
        if not torch.cuda.is_available():
            raise ModelError(f"device {device!r} was asked for but torch sees no CUDA GPU; use device=cpu or auto")
        return d
    raise ModelError(f"device must be auto, cpu or cuda[:N], not {device!r}")


def device_label(device, num_threads: int | None = None) -> str:
    """A human description of ``device`` for cards: ``CPU (2 threads)`` or ``CUDA GPU (NVIDIA H200)``."""
    import torch

    d = str(device)
    if d.startswith("cuda"):
        return f"CUDA GPU ({torch.cuda.get_device_name(torch.device(d))}, bf16 autocast)"
    return f"CPU ({num_threads} threads)" if num_threads else "CPU"


def model_device(model):
    """The torch device of ``model``'s parameters (CPU for a model without any)."""
    import torch

    p = next(iter(model.parameters()), None)
    return torch.device("cpu") if p is None else p.device


def autocast(device) -> contextlib.AbstractContextManager:
    """bf16 autocast on a CUDA device that supports it (matrix work in bf16, losses in fp32); else nothing."""
    import torch

    if getattr(device, "type", str(device)).startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int):
    """``input_ids`` and ``attention_mask`` tensors padded to the longest sequence of the batch."""
    import torch

    n, m = len(seqs), max(len(s) for s in seqs)
    ids = torch.full((n, m), pad_id, dtype=torch.long)
    mask = torch.zeros((n, m), dtype=torch.long)
    for j, s in enumerate(seqs):
        ids[j, :len(s)] = torch.as_tensor(s, dtype=torch.long)
        mask[j, :len(s)] = 1
    return ids, mask


def forward_windows(model, windows: Windows, pad_id: int, batch_size: int = 32) -> np.ndarray:
    """Logits (n_windows, n_outputs) in window order; mini-batches of similar length (bucketing)."""
    import torch

    n = len(windows.ids)
    n_out = int(model.config.num_labels)
    out = np.zeros((n, n_out), dtype=np.float64)
    if n == 0:
        return out
    order = np.argsort([len(s) for s in windows.ids], kind="stable")
    was_training = model.training
    model.eval()
    dev = model_device(model)
    with torch.inference_mode(), autocast(dev):
        for s in range(0, n, max(int(batch_size), 1)):
            idx = order[s:s + batch_size]
            ids, mask = pad_batch([windows.ids[k] for k in idx], pad_id)
            logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
            out[idx] = logits.float().cpu().numpy()
    model.train(was_training)
    return out


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def merge_single(logits: np.ndarray, windows: Windows) -> np.ndarray:
    """Per-text probabilities (n_texts, n_classes): token-weighted mean over each text's windows."""
    p = softmax(logits, axis=1)
    out = np.zeros((windows.n_texts, logits.shape[1]))
    np.add.at(out, windows.owner, p * windows.weight[:, None])
    tot = np.zeros(windows.n_texts)
    np.add.at(tot, windows.owner, windows.weight)
    return out / np.maximum(tot, 1e-12)[:, None]


def merge_multi(logits: np.ndarray, windows: Windows, n_states: int) -> np.ndarray:
    """Per-text state probabilities (n_texts, n_categories, n_states), state 0 = absent.

    Per category, the window where the category is least likely absent gives the distribution.
    """
    n_win = logits.shape[0]
    k = logits.shape[1] // n_states
    p = softmax(logits.reshape(n_win, k, n_states), axis=2)
    out = np.zeros((windows.n_texts, k, n_states))
    best = np.full((windows.n_texts, k), np.inf)
    single = np.bincount(windows.owner, minlength=windows.n_texts)[windows.owner] == 1
    out[windows.owner[single]] = p[single]
    for w in np.flatnonzero(~single):  # only long texts have several windows
        t = windows.owner[w]
        better = p[w, :, 0] < best[t]
        out[t, better] = p[w, better]
        best[t, better] = p[w, better, 0]
    return out
