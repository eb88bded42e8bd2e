"""Transformer category model (multi-label, per-category polarity) on a tiny random BERT."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("transformers")

from tests.transformer_util import FAST, make_tiny_bert  # noqa: E402
from voc.transformer.category import STATES, TransformerCategoryModel  # noqa: E402

# Written for these tests, labelled to GUIDELINES (touchpoint taxonomy).
ROWS = [
    ("房间很干净", "environment_facilities:positive"),
    ("房间很脏", "environment_facilities:negative"),
    ("物流很快", "delivery:positive"),
    ("物流太慢了", "delivery:negative"),
    ("价格便宜", "price_value:positive"),
    ("价格太贵", "price_value:negative"),
    ("房间很干净，物流很快", "environment_facilities:positive;delivery:positive"),
    ("价格太贵，房间很脏", "price_value:negative;environment_facilities:negative"),
    ("今天天气不错", ""),
    ("我明天再来看看", ""),
]
TEXTS = [t for t, _ in ROWS]
LABELS = [y for _, y in ROWS]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    base = make_tiny_bert(tmp_path_factory.mktemp("tinycat") / "base", TEXTS)
    return TransformerCategoryModel(taxonomy="touchpoint", base_model=str(base), epochs=12, random_state=0,
                                    **FAST).fit(TEXTS * 2, LABELS * 2, TEXTS, LABELS)


def test_states_and_presence(fitted):
    p = fitted.predict_states(TEXTS)
    K = len(fitted.classes_)
    assert p.shape == (len(TEXTS), K, len(STATES)) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=1e-9)
    np.testing.assert_allclose(fitted.predict_proba(TEXTS), 1 - p[:, :, 0])
    assert list(fitted.classes_) == list(fitted.taxonomy_.keys)
    assert fitted.predict(TEXTS).shape == (len(TEXTS), K)
    assert 0.15 <= fitted.threshold_ <= 0.85
    assert fitted.predict_states([]).shape == (0, K, len(STATES))


def test_learns_the_training_labels(fitted):
    from voc.taxonomy.evaluate import parse_labels, score_mentions

    res = score_mentions([parse_labels(y) for y in LABELS], fitted.predict_labels(TEXTS), list(fitted.classes_))
    assert res["micro_f1"] >= 0.6


def test_map_batch_gives_mentions_with_rule_evidence(fitted):
    from voc.taxonomy.rules import Mention

    out = fitted.map_batch([["房间很干净", "物流很快"], []], [[0.8, 0.7], []])
    assert len(out) == 2 and out[1] == []
    assert all(isinstance(m, Mention) for m in out[0])
    labels = fitted.predict_labels(["房间很干净，物流很快"])[0]
    assert {m.category: m.polarity for m in out[0]} == labels
    for m in out[0]:
        assert 0 <= m.clause < 2
    assert fitted.map_clauses(["房间很干净", "物流很快"], [0.8, 0.7]) == out[0]


def test_roundtrip_and_pipeline_loader(fitted, tmp_path):
    from voc.taxonomy.stage import load_mapper

    hf = fitted.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "meta.json").write_text(json.dumps({**hf, "task": "touchpoint"}), encoding="utf-8")
    loaded = load_mapper("touchpoint", str(tmp_path / "m"))
    assert isinstance(loaded, TransformerCategoryModel) and loaded.threshold_ == fitted.threshold_
    np.testing.assert_array_equal(loaded.predict_states(TEXTS), fitted.predict_states(TEXTS))


def test_cli_eval_json_on_guidelines_file(fitted, tmp_path):
    from typer.testing import CliRunner

    from voc.cli.main import app

    hf = fitted.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "meta.json").write_text(json.dumps({**hf, "task": "touchpoint"}), encoding="utf-8")
    gold = tmp_path / "gold.csv"
    pd.DataFrame({"id": [f"g{i}" for i in range(len(ROWS))], "text": TEXTS, "sentiment": "",
                  "rater": "", "touchpoint": LABELS}).to_csv(gold, index=False)
    r = CliRunner().invoke(app, ["eval", "--model", str(tmp_path / "m"), "--data", str(gold), "--task",
                                 "touchpoint", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout.strip())
    for k in ("n", "micro_f1", "macro_f1", "polarity_accuracy", "docs_per_s"):
        assert k in res
    assert res["n"] == len(ROWS)


def test_unknown_category_in_labels(fitted):
    with pytest.raises(ValueError, match="does not define"):
        TransformerCategoryModel(taxonomy="touchpoint", base_model=fitted.base_model, **FAST).fit(
            ["房间很干净"], ["rooms:positive"])


def test_trainer_scores_rules_with_the_pipeline_sentiment_model_and_uses_dev(tmp_path):
    """The rules baseline is scored as `voc eval` scores it (the default sentiment model), the --dev file is
    scored, the card describes the data given, and the weights get the folder's usual file mode."""
    import stat

    from voc.classify.registry import auto_model
    from voc.classify.sentiment import load_sentiment_model
    from voc.taxonomy.evaluate import evaluate_mapper
    from voc.taxonomy.rules import RuleMapper
    from voc.taxonomy.train import split_gold
    from voc.transformer.train import train_category_transformer

    base = make_tiny_bert(tmp_path / "base", TEXTS)
    gold = tmp_path / "mygold.csv"
    pd.DataFrame({"id": [f"c{i}" for i in range(len(ROWS) * 3)], "text": TEXTS * 3, "sentiment": "",
                  "rater": "", "touchpoint": LABELS * 3}).to_csv(gold, index=False)
    out = tmp_path / "tp_mine"
    params = {"epochs": 1, "max_weak": 0, **{k: v for k, v in FAST.items() if k != "infer_batch_size"}}
    _, metrics = train_category_transformer("touchpoint", gold, [], out, params=params, base_model=str(base),
                                            dev=[gold])
    spec = auto_model("sentiment")
    assert metrics["clause_sentiment"] == spec
    held = split_gold(pd.read_csv(gold, dtype=str, keep_default_na=False), 0.4)[1]
    expect = evaluate_mapper(RuleMapper("touchpoint").fit(), held, "touchpoint",
                             sentiment_model=load_sentiment_model(spec))
    assert {k: metrics["rules"][k] for k in ("micro_f1", "polarity_accuracy", "strict_micro_f1")} == \
        {k: expect[k] for k in ("micro_f1", "polarity_accuracy", "strict_micro_f1")}
    assert metrics["dev"]["mygold.csv"]["model"]["n"] == len(ROWS) * 3
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert card.startswith("# Model card: tp_mine") and "`mygold.csv`" in card and "Dev files" in card
    mode = stat.S_IMODE((out / "model.safetensors").stat().st_mode)
    assert mode == stat.S_IMODE((out / "meta.json").stat().st_mode)
