"""The model registry: list_models (defaults from the pipeline), model_info, resolve/load errors, CLI."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from voc.classify import registry
from voc.classify.registry import default_models, list_models, load_model, model_info, resolve_model
from voc.cli.main import app
from voc.errors import ModelError

REQUIRED = {"name", "task", "backend", "path", "default"}


def make_model(root, name, meta, weights=None, metrics=None, card=None):
    d = root / name
    d.mkdir(parents=True)
    (d / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    if weights:
        (d / weights).write_bytes(b"x")
    if metrics is not None:
        (d / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    if card is not None:
        (d / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    return d


@pytest.fixture()
def root(tmp_path, monkeypatch):
    """A models root with sentiment, rater and encoder models, and a pipeline using two of them."""
    models = tmp_path / "models"
    monkeypatch.setenv("VOC_MODELS_DIR", str(models))
    make_model(models, "senti-a", {"format": "skops", "task": "sentiment", "backend": "tfidf"}, "model.skops",
               {"accuracy": 0.9}, "# Model card: senti-a\n\n第一行\n" + "\n".join(f"line {i}" for i in range(30)))
    make_model(models, "senti-b", {"format": "skops", "task": "sentiment", "backend": "tfidf"}, "model.skops")
    make_model(models, "rater-x", {"format": "skops", "task": "rater", "backend": "tfidf", "taxonomy": "rater"},
               "model.skops")
    make_model(models, "enc", {"format": "hf", "task": "encoder", "backend": "transformer"})
    make_model(models, "odd", {"format": "onnx", "task": "encoder", "backend": "onnx"}, "model.onnx")
    (models / "not-a-model").mkdir()
    pipe = tmp_path / "pipe.yaml"
    pipe.write_text(yaml.safe_dump({"input": {"path": "x.csv"}, "sentiment": {"model": "senti-a"},
                                    "taxonomies": [{"name": "rater", "mapper": "rater-x"},
                                                   {"name": "touchpoint", "mapper": "rules"}]}), encoding="utf-8")
    return models, pipe


def test_list_models_marks_the_pipeline_defaults(root):
    models, pipe = root
    rows = {r["name"]: r for r in list_models(pipe)}
    assert sorted(rows) == ["enc", "odd", "rater-x", "senti-a", "senti-b"]
    assert all(REQUIRED <= set(r) for r in rows.values())
    assert {n for n, r in rows.items() if r["default"]} == {"senti-a", "rater-x"}
    assert rows["enc"]["task"] == "encoder" and rows["enc"]["backend"] == "transformer"
    assert rows["enc"]["weights"] is False and rows["senti-b"]["weights"] is True
    assert rows["odd"]["weights"] is False  # a format voc does not know has no weight files it recognises
    assert rows["senti-a"]["path"] == str(models / "senti-a")
    assert default_models(pipe) == {"sentiment": (models / "senti-a").resolve(), "rater": (models / "rater-x").resolve()}


def test_defaults_accept_paths_and_ignore_missing_pipelines(root, tmp_path):
    models, pipe = root
    pipe.write_text(yaml.safe_dump({"sentiment": {"model": str(models / "senti-b")}}), encoding="utf-8")
    assert [r["name"] for r in list_models(pipe) if r["default"]] == ["senti-b"]
    assert not any(r["default"] for r in list_models(tmp_path / "none.yaml"))
    pipe.write_text("sentiment: [unclosed", encoding="utf-8")
    with pytest.raises(ModelError, match="not valid YAML"):
        list_models(pipe)


def test_unreadable_meta_is_listed_with_an_error(root):
    models, pipe = root
    (models / "broken").mkdir()
    (models / "broken" / "meta.json").write_text("{not json", encoding="utf-8")
    row = next(r for r in list_models(pipe) if r["name"] == "broken")
    assert row["task"] is None and "meta.json" in row["error"] and row["default"] is False


def test_repo_models_follow_the_demo_pipeline(monkeypatch):
    monkeypatch.delenv("VOC_MODELS_DIR", raising=False)
    demo = yaml.safe_load(registry.default_pipeline().read_text(encoding="utf-8"))
    used = {demo["sentiment"]["model"]} | {t["mapper"] for t in demo["taxonomies"]}
    rows = list_models()
    assert {r["name"] for r in rows if r["default"]} == {r["name"] for r in rows if r["name"] in used}
    assert all(REQUIRED <= set(r) for r in rows)
    # at most one default per task
    tasks = [r["task"] for r in rows if r["default"]]
    assert len(tasks) == len(set(tasks))


def test_model_info_and_errors(root):
    models, _ = root
    info = model_info("senti-a", card_lines=5)
    assert info["meta"]["task"] == "sentiment" and info["metrics"] == {"accuracy": 0.9}
    assert info["card_head"].splitlines()[0] == "# Model card: senti-a" and len(info["card_head"].splitlines()) == 5
    assert info["card_lines"] == 33
    assert model_info(str(models / "enc"))["metrics"] is None
    with pytest.raises(ModelError, match="voc models list"):
        resolve_model("nope")
    with pytest.raises(ModelError, match="no meta.json"):
        model_info(str(models / "not-a-model"))
    with pytest.raises(ModelError, match="unknown format"):
        load_model("odd")


def test_cli_list_and_show(root):
    runner = CliRunner()
    res = runner.invoke(app, ["models", "list", "--json"])
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert isinstance(rows, list) and {r["name"] for r in rows} == {"enc", "odd", "rater-x", "senti-a", "senti-b"}
    assert all(REQUIRED <= set(r) for r in rows)
    res = runner.invoke(app, ["models", "list"])
    assert res.exit_code == 0 and "senti-b" in res.stdout
    res = runner.invoke(app, ["models", "show", "senti-a"])
    assert res.exit_code == 0 and "第一行" in res.stdout and "0.9" in res.stdout and "more line" in res.stdout
    res = runner.invoke(app, ["models", "show", "senti-a", "--json"])
    assert json.loads(res.stdout)["meta"]["backend"] == "tfidf"
    res = runner.invoke(app, ["models", "show", "nope"])
    assert res.exit_code == 2 and "voc models list" in " ".join(res.output.split())
    models, _ = root
    make_model(models, "touchpoint-transformer-l6", {"format": "hf", "task": "touchpoint", "backend": "transformer"})
    res = runner.invoke(app, ["models", "list"], env={"COLUMNS": "70"})
    assert res.exit_code == 0 and "touchpoint-transformer-l6" in res.stdout  # names are never cut short


def test_listed_skops_types_load_in_one_pass_and_never_widen_trust(tmp_path, monkeypatch):
    """meta.json's ``skops_types`` skip the separate audit; a list with a foreign type is refused, and a
    stale list (missing a type of the file) falls back to auditing the file itself."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from voc.classify.modelio import save_model_folder

    monkeypatch.setenv("VOC_MODELS_DIR", str(tmp_path))
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    folder = save_model_folder(tmp_path / "lr", model, {"task": "sentiment", "backend": "tfidf"}, {}, {}, "# c\n")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    assert meta["skops_types"] == registry.skops_types(folder / "model.skops")
    calls = []
    real = registry.import_skops().get_untrusted_types
    monkeypatch.setattr(registry.import_skops(), "get_untrusted_types",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    assert load_model("lr").predict([[3.0]])[0] == 1 and calls == []  # one pass, no separate audit

    def rewrite(types):
        (folder / "meta.json").write_text(json.dumps({**meta, "skops_types": types}), encoding="utf-8")

    rewrite(["os.system"])
    with pytest.raises(ModelError, match="does not trust"):
        load_model("lr")
    rewrite(["builtins.int"])  # stale (unless skops trusts sklearn by default): still loads, through the audit
    assert load_model("lr").predict([[0.0]])[0] == 0
    # a file swapped behind meta's back is still audited by skops in the one pass
    registry.import_skops().dump(StandardScaler().fit([[1.0], [2.0]]), folder / "model.skops")
    rewrite([])
    assert load_model("lr").transform([[1.5]]).shape == (1, 1)


def test_import_skops_skips_its_start_up_scans_without_side_effects():
    """In a fresh interpreter: no torch, empty default ufunc/estimator lists, skops' helper restored, and a
    scikit-learn model still saves and loads with explicitly trusted types."""
    import subprocess
    import sys

    code = """
import sys, tempfile, numpy as np
from voc.classify.registry import import_skops
sio = import_skops()
import skops.io._trusted_types as T, skops.io._utils as U
from sklearn.linear_model import LogisticRegression
assert "torch" not in sys.modules
assert T.NUMPY_UFUNC_TYPE_NAMES == [] and T.SKLEARN_ESTIMATOR_TYPE_NAMES == []
assert len(U.get_public_type_names(np, np.ufunc)) > 50 and "skops.io._trusted_types" in sys.modules
assert not any(type(f).__name__ == "_SkipUfuncScan" for f in sys.meta_path)
m = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
with tempfile.TemporaryDirectory() as d:
    sio.dump(m, d + "/m.skops")
    types = sio.get_untrusted_types(file=d + "/m.skops")
    assert "sklearn.linear_model._logistic.LogisticRegression" in types
    back = sio.load(d + "/m.skops", trusted=types)
assert back.predict([[1.0]])[0] == 1
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_a_folder_without_its_weights_is_one_clear_error_and_marked_broken(root, tmp_path):
    """meta.json without model.skops: eval and run said FileNotFoundError with a traceback, show exited 0."""
    models, _ = root
    make_model(models, "no-weights", {"format": "skops", "task": "sentiment", "backend": "tfidf"})
    with pytest.raises(ModelError, match="no model.skops"):
        load_model("no-weights")
    row = next(r for r in list_models() if r["name"] == "no-weights")
    assert row["weights"] is False and "no model.skops" in row["error"]
    assert "error" not in next(r for r in list_models() if r["name"] == "senti-b")
    assert model_info("senti-b")["error"] is None and "no model.skops" in model_info("no-weights")["error"]
    runner = CliRunner()
    flat = lambda r: " ".join(r.output.split())  # noqa: E731 - Rich wraps long lines
    res = runner.invoke(app, ["models", "list"])
    assert res.exit_code == 0 and "no-weights: model" in flat(res) and "retrain" in flat(res)
    for args in (["models", "show", "no-weights"], ["models", "show", "no-weights", "--json"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and "no model.skops" in flat(res), args
    data = tmp_path / "gold.csv"
    data.write_text("text,label\n味道很好,positive\n送餐太慢,negative\n", encoding="utf-8")
    res = runner.invoke(app, ["eval", "--model", "no-weights", "--data", str(data), "--task", "sentiment"])
    assert res.exit_code == 2 and "no model.skops" in flat(res) and "Traceback" not in res.output
