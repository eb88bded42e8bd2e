"""Transformer backend on a tiny random BERT built in the test: fit, persistence, batching, long texts, int8."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.transformer_util import FAST, NEGATIVE, POSITIVE, make_tiny_bert  # noqa: E402
from voc.errors import ModelError  # noqa: E402
from voc.transformer.infer import make_windows  # noqa: E402
from voc.transformer.model import TransformerSentiment, load_transformer  # noqa: E402

TEXTS = POSITIVE + NEGATIVE
LABELS = ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE)
LONG = "房间很干净，服务很好。" * 6 + "物流太慢，质量很差，态度差。" * 6  # far over max_length=24 tokens


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture(scope="module")
def fitted(base):
    return TransformerSentiment(base_model=str(base), epochs=6, random_state=0, **FAST).fit(
        TEXTS, LABELS, TEXTS, LABELS)


def test_fit_learns_and_predict_proba_contract(fitted):
    p = fitted.predict_proba(TEXTS)
    assert list(fitted.classes_) == ["negative", "neutral", "positive"]
    assert p.shape == (len(TEXTS), 3) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    polar = np.where(p[:, 2] >= p[:, 0], "positive", "negative")
    assert (polar == np.array(LABELS)).mean() >= 0.9
    rep = fitted.fit_report_
    assert rep["steps"] > 0 and rep["history"] and rep["best_step"] <= rep["steps"]
    assert fitted.predict_proba([]).shape == (0, 3)


def test_same_seed_same_model(base, fitted):
    again = TransformerSentiment(base_model=str(base), epochs=6, random_state=0, **FAST).fit(
        TEXTS, LABELS, TEXTS, LABELS)
    np.testing.assert_array_equal(again.predict_proba(TEXTS), fitted.predict_proba(TEXTS))


def test_save_load_roundtrip_identical(fitted, tmp_path):
    from voc.classify.registry import load_model

    hf = fitted.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "meta.json").write_text(json.dumps({**hf, "task": "sentiment"}), encoding="utf-8")
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert "model.safetensors" in files and not {f for f in files if f.endswith((".bin", ".pkl", ".pt"))}
    loaded = load_model(str(tmp_path / "m"))
    assert isinstance(loaded, TransformerSentiment)
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS + [LONG]), fitted.predict_proba(TEXTS + [LONG]))
    assert loaded.calib_ == fitted.calib_


def test_a_folder_without_its_tokenizer_is_one_clear_error(fitted, tmp_path):
    """Without tokenizer files transformers builds a 5-token tokenizer (every character [UNK]) and the model
    predicts garbage; a tokenizer of another vocabulary is as bad. Both are refused at load."""
    import shutil

    from typer.testing import CliRunner

    from voc.classify.registry import load_model
    from voc.cli.main import app

    m = tmp_path / "m"
    hf = fitted.save_pretrained(m)
    (m / "meta.json").write_text(json.dumps({**hf, "task": "sentiment"}), encoding="utf-8")
    tok_files = [p for p in m.iterdir() if p.name not in ("config.json", "model.safetensors", "meta.json")]
    assert any(p.name == "tokenizer.json" for p in tok_files)
    for p in tok_files:
        p.unlink()
    with pytest.raises(ModelError, match="no tokenizer files") as e:
        load_model(str(m))
    assert "tokenizer.json" in str(e.value)
    r = CliRunner().invoke(app, ["models", "show", str(m)])
    assert r.exit_code == 2 and "no tokenizer files" in " ".join(r.output.split())
    with pytest.raises(ModelError, match="tokens but the model embeds"):
        load_transformer(m, hf)  # past the registry's file check: the vocabulary size check
    # a tokenizer of another, larger vocabulary: ids past the model's embedding table
    other = make_tiny_bert(tmp_path / "other", texts=["".join(chr(0x4E00 + i) for i in range(300))])
    for p in other.iterdir():
        if p.name.startswith(("tokenizer", "special_tokens", "vocab")):
            shutil.copy(p, m / p.name)
    with pytest.raises(ModelError, match="tokens but the model embeds"):
        load_model(str(m))


def test_outputs_do_not_depend_on_batch_size(fitted):
    from sklearn.base import clone

    outs = []
    for bs in (1, 3, 64):
        m = clone(fitted).set_params(infer_batch_size=bs)
        for k, v in vars(fitted).items():
            if k.endswith("_"):
                setattr(m, k, v)
        outs.append(m.predict_proba(TEXTS + [LONG, ""]))
    for o in outs[1:]:
        assert type(o) is type(outs[0]) and o.dtype == outs[0].dtype and o.shape == outs[0].shape
        np.testing.assert_allclose(o, outs[0], atol=1e-5)


def test_long_text_windows_and_truncation(fitted):
    tok = fitted.tokenizer_
    win = make_windows(tok, [LONG, "很好"], 24, "windows", max_windows=50)
    assert (win.owner == 0).sum() > 1 and (win.owner == 1).sum() == 1
    assert all(len(ids) <= 24 for ids in win.ids)
    content = [t for ids, o in zip(win.ids, win.owner) if o == 0 for t in ids[1:-1]]
    assert content == tok(LONG, add_special_tokens=False)["input_ids"]  # no token lost or repeated
    capped = make_windows(tok, [LONG], 24, "windows", max_windows=2)
    assert len(capped.ids) == 2
    trunc = make_windows(tok, [LONG], 24, "truncate")
    assert len(trunc.ids) == 1 and len(trunc.ids[0]) == 24 and trunc.n_long == 1
    p_win = fitted.predict_proba([LONG])
    fitted.set_params(long_text="truncate")
    try:
        p_trunc = fitted.predict_proba([LONG])
    finally:
        fitted.set_params(long_text="windows")
    assert p_win.shape == p_trunc.shape == (1, 3)
    assert not np.allclose(p_win, p_trunc)  # the windows read the negative second half
    with pytest.raises(ValueError):
        make_windows(tok, ["好"], 24, "head")


def test_int8_quantised_runs_and_keeps_the_type(fitted):
    import torch

    fitted.set_params(quantize=True)
    try:
        q = fitted.predict_proba(TEXTS)
        qmodel = fitted.runtime_model()
    finally:
        fitted.set_params(quantize=False)
    p = fitted.predict_proba(TEXTS)
    assert type(q) is type(p) and q.dtype == p.dtype and q.shape == p.shape
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in qmodel.modules())
    assert not any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in fitted.model_.modules())
    assert np.abs(q - p).max() < 0.5


def test_neutral_tuning_on_three_class_texts(fitted):
    from sklearn.base import clone

    m = clone(fitted)
    for k, v in vars(fitted).items():
        if k.endswith("_"):
            setattr(m, k, v)
    m.tune_neutral(TEXTS + ["这是什么", "一般般"], LABELS + ["neutral", "neutral"])
    assert 0.5 <= m.neutral_threshold <= 0.95
    np.testing.assert_allclose(m.predict_proba(["一般般"]).sum(), 1.0)


def test_missing_or_bad_base_model_is_one_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not a folder"):
        TransformerSentiment(base_model=str(tmp_path / "nope"), **FAST).fit(TEXTS, LABELS)
    with pytest.raises(ModelError, match="--base-model"):
        TransformerSentiment(**FAST).fit(TEXTS, LABELS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="safetensors"):
        TransformerSentiment(base_model=str(tmp_path / "empty"), **FAST).fit(TEXTS, LABELS)


def test_load_without_weights_says_what_to_do(fitted, tmp_path):
    hf = fitted.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="retrain"):
        load_transformer(tmp_path / "m", hf)


def test_cli_train_and_eval_json(base, tmp_path):
    from typer.testing import CliRunner

    from voc.cli.main import app

    data = tmp_path / "train.csv"
    pd.DataFrame({"text": TEXTS, "label": LABELS}).to_csv(data, index=False)
    out = tmp_path / "model"
    args = ["train", "--task", "sentiment", "--backend", "transformer", "--base-model", str(base), "--data",
            str(data), "--dev", str(data), "--out", str(out), "epochs=3", "lr=3e-3", "max_length=24",
            "batch_size=4", "num_threads=1", "progress=false", "eval_int8=false"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["format"] == "hf" and meta["backend"] == "transformer" and meta["max_length"] == 24
    assert meta["long_text"] == "windows" and meta["quantize"] is False
    for f in ("config.json", "model.safetensors", "config.yaml", "metrics.json", "MODEL_CARD.md"):
        assert (out / f).is_file(), f
    # the weights get the same file mode as the folder's other files (safetensors writes them 0600)
    assert (out / "model.safetensors").stat().st_mode == (out / "config.json").stat().st_mode
    r = CliRunner().invoke(app, ["eval", "--model", str(out), "--data", str(data), "--task", "sentiment", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout.strip())
    assert res["n"] == len(TEXTS) and 0 <= res["accuracy"] <= 1 and "macro_f1" in res and res["docs_per_s"] > 0


def test_cli_errors(base, tmp_path):
    from typer.testing import CliRunner

    from voc.cli.main import app

    data = tmp_path / "train.csv"
    pd.DataFrame({"text": TEXTS, "label": LABELS}).to_csv(data, index=False)
    common = ["train", "--task", "sentiment", "--backend", "transformer", "--data", str(data), "--out",
              str(tmp_path / "m")]
    flat = lambda r: " ".join(r.output.split())  # noqa: E731 - Rich wraps long lines
    r = CliRunner().invoke(app, common + ["--base-model", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "base model" in flat(r) and "Traceback" not in r.output
    r = CliRunner().invoke(app, common + ["--base-model", str(base), "learning_rate=0.1"])
    assert r.exit_code == 2 and "unknown transformer setting" in flat(r)
    r = CliRunner().invoke(app, common[:4] + ["bert"] + common[5:] + ["--base-model", str(base)])
    assert r.exit_code == 2 and "unknown backend" in flat(r)


def test_encoder_checkpoint_is_not_a_classifier(base):
    with pytest.raises(ModelError, match="pretrained encoder"):
        load_transformer(base, {"format": "hf", "task": "encoder", "backend": "transformer"})


def test_num_layers_cuts_the_encoder_and_round_trips(base, tmp_path):
    from voc.classify.registry import load_model

    cut = TransformerSentiment(base_model=str(base), epochs=2, num_layers=1, random_state=0, **FAST).fit(
        TEXTS, LABELS)
    assert len(cut.model_.base_model.encoder.layer) == 1 and cut.model_.config.num_hidden_layers == 1
    hf = cut.save_pretrained(tmp_path / "m1")
    (tmp_path / "m1" / "meta.json").write_text(json.dumps({**hf, "task": "sentiment"}), encoding="utf-8")
    assert json.loads((tmp_path / "m1" / "config.json").read_text())["num_hidden_layers"] == 1
    loaded = load_model(str(tmp_path / "m1"))
    assert len(loaded.model_.base_model.encoder.layer) == 1
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), cut.predict_proba(TEXTS), atol=1e-6)
    with pytest.raises(ModelError, match="num_layers must be between 1 and 2"):
        TransformerSentiment(base_model=str(base), num_layers=5, **FAST).fit(TEXTS, LABELS)


def test_device_setting_resolves_and_rejects_what_is_not_there(base, monkeypatch):
    import torch

    from voc.transformer.infer import device_label, resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ModelError, match="auto, cpu or cuda"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ModelError, match="no CUDA GPU"):
        resolve_device("cuda:0")
    with pytest.raises(ModelError, match="no CUDA GPU"):  # checked before the base model is read
        TransformerSentiment(base_model=str(base), device="cuda", **FAST).fit(TEXTS, LABELS)
    m = TransformerSentiment(base_model=str(base), device="auto", epochs=1, **FAST).fit(TEXTS, LABELS)
    assert m.device_ == "cpu" and str(next(m.model_.parameters()).device) == "cpu"
    assert device_label("cpu", 2) == "CPU (2 threads)"


def test_a_model_trained_on_a_gpu_loads_on_the_cpu(fitted, tmp_path, monkeypatch):
    import torch

    hf = fitted.save_pretrained(tmp_path / "m")
    hf["params"]["device"] = "cuda"  # as written by a fit on a GPU machine
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = load_transformer(tmp_path / "m", hf)
    assert loaded.device_ == "cpu"
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), fitted.predict_proba(TEXTS), atol=1e-9)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU (none visible)")
def test_fits_and_predicts_on_a_cuda_gpu(base, fitted, tmp_path):
    m = TransformerSentiment(base_model=str(base), device="cuda", epochs=6, random_state=0, **FAST).fit(
        TEXTS, LABELS, TEXTS, LABELS)
    assert m.device_ == "cuda" and next(m.model_.parameters()).is_cuda
    p = m.predict_proba(TEXTS)
    polar = np.where(p[:, 2] >= p[:, 0], "positive", "negative")
    assert (polar == np.array(LABELS)).mean() >= 0.9
    q = m.set_params(quantize=True).predict_proba(TEXTS)  # int8 predicts on a CPU copy
    assert q.shape == p.shape
    hf = m.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "meta.json").write_text(json.dumps({**hf, "task": "sentiment"}), encoding="utf-8")
    loaded = load_transformer(tmp_path / "m", hf)
    assert loaded.device_ == "cuda"
    np.testing.assert_allclose(loaded.set_params(quantize=False).predict_proba(TEXTS), p, atol=1e-3)


def test_sentiment_card_describes_the_labels_and_files_trained_on():
    from voc.transformer.train import sentiment_card

    config = {"data": ["/tmp/x/mine.csv"], "base_model": "tiny", "seed": 0, "params": {
        "lr": 1e-3, "batch_size": 4, "epochs": 1, "warmup_ratio": 0.1, "max_length": 24, "long_text": "truncate",
        "num_threads": 1}}
    fit = {"steps": 1, "planned_steps": 1, "stopped_by": "epochs", "best_step": 1}
    metrics = {"train_rows": 9, "excluded_overlap_with_neutral_file": 0, "early_stopping_rows": 0, "fit": fit,
               "dev": {}, "train_seconds": 1.0, "train_labels": {"negative": 3, "neutral": 3, "positive": 3}}
    card = sentiment_card("tiny_sent", config, metrics)
    assert "3-class labels" in card and "binary labels" not in card and "neutral 3" in card
    assert "../shared/data" not in card and "Hotel and shopping" not in card and "`mine.csv` only" in card
    metrics["train_labels"] = {"negative": 3, "positive": 3}
    config["data"] = ["../shared/data/hotel_sentiment_train.csv"]
    card = sentiment_card("s", config, metrics)
    assert "Trained on binary labels" in card and "../shared/data" in card and "Hotel and shopping" in card
