"""Category evaluation and trained category mappers: labels, metrics, training, skops round trip, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voc.errors import InputError
from voc.taxonomy.evaluate import evaluate_mapper, load_gold, parse_labels, prepare
from voc.taxonomy.learned import CategoryModel, decode_ngram, fit_ngram_vocab
from voc.taxonomy.rules import Mention, RuleMapper

# Short comments written for these tests, labelled by GUIDELINES.md (id,text,sentiment,rater,touchpoint).
GOLD = [
    ("t-01", "房间很干净，前台服务很热情", "positive", "tangibles:positive;assurance:positive",
     "environment_facilities:positive;staff_service:positive"),
    ("t-02", "送餐太慢了，等了一个多小时", "negative", "responsiveness:negative", "delivery:negative"),
    ("t-03", "味道不错，价格也实惠", "positive", "", "product_quality:positive;price_value:positive"),
    ("t-04", "发错货了，客服一直不回复", "negative", "reliability:negative;responsiveness:negative",
     "delivery:negative;customer_service:negative"),
    ("t-05", "包装破损，汤洒了一半", "negative", "tangibles:negative", "packaging:negative"),
    ("t-06", "位置很好，离地铁站很近", "positive", "", "location:positive"),
    ("t-07", "隔音太差，晚上很吵", "negative", "tangibles:negative", "environment_facilities:negative"),
    ("t-08", "快递很快，第二天就到了", "positive", "responsiveness:positive", "delivery:positive"),
    ("t-09", "服务员态度很差，说话难听", "negative", "assurance:negative", "staff_service:negative"),
    ("t-10", "东西质量很好，和描述一致", "positive", "reliability:positive",
     "product_quality:positive;product_info:positive"),
    ("t-11", "退款很快，处理问题迅速", "positive", "responsiveness:positive", "customer_service:positive"),
    ("t-12", "早餐味道一般", "neutral", "", "product_quality:neutral"),
    ("t-13", "前台很贴心，主动帮我们升级了房间", "positive", "empathy:positive", "staff_service:positive"),
    ("t-14", "设施陈旧，卫生间有异味", "negative", "tangibles:negative", "environment_facilities:negative"),
    ("t-15", "性价比很高，下次还来", "positive", "", "price_value:positive"),
    ("t-16", "app下单很方便，支付也顺利", "positive", "", "ordering_payment:positive"),
    ("t-17", "水果不新鲜，有几个烂了", "negative", "reliability:negative", "product_quality:negative"),
    ("t-18", "客服解答很专业，让人放心", "positive", "assurance:positive", "customer_service:positive"),
    ("t-19", "默认好评", "neutral", "", ""),
    ("t-20", "骑手态度很好，送得也快", "positive", "assurance:positive;responsiveness:positive",
     "delivery:positive;staff_service:positive"),
    ("t-21", "房间太小了，但是价格便宜", "neutral", "tangibles:negative",
     "environment_facilities:negative;price_value:positive"),
    ("t-22", "等了半小时才有人理，完全不管顾客", "negative", "empathy:negative;responsiveness:negative",
     "staff_service:negative"),
    ("t-23", "停车很方便，交通便利", "positive", "", "location:positive"),
    ("t-24", "发票一直没给开", "negative", "reliability:negative", "ordering_payment:negative"),
    ("t-25", "衣服尺码不准，颜色和图片不一样", "negative", "reliability:negative",
     "product_info:negative;product_quality:negative"),
    ("t-26", "这本书内容很精彩", "positive", "", "product_quality:positive"),
]
# Unlabelled comments (their label column must be ignored).
UNLABELLED = [
    "床很舒服，房间也安静", "外卖送到已经凉了", "客服态度很好，耐心解答", "物流太慢，一周才到", "价格有点贵",
    "酒店离机场很近", "卫生间很脏", "包装很精美", "发货很快，包装完好", "前台办理入住很慢",
    "质量一般，做工粗糙", "服务员很有礼貌", "房间有霉味，空调噪音大", "下单后一直没发货", "水果很新鲜，个头大",
    "老板很热情，还送了小菜", "地铁站就在旁边", "退货流程太麻烦", "性价比不错", "早餐品种丰富",
]
ROOT = Path(__file__).resolve().parents[1]


def write_gold(path: Path, rows=GOLD, header=("id", "text", "sentiment", "rater", "touchpoint")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture()
def gold_csv(tmp_path) -> Path:
    return write_gold(tmp_path / "gold.csv")


@pytest.fixture()
def unlabelled_csv(tmp_path) -> Path:
    p = tmp_path / "unl.csv"
    pd.DataFrame({"id": [f"u-{i}" for i in range(len(UNLABELLED))], "text": UNLABELLED,
                  "label": ["positive"] * len(UNLABELLED)}).to_csv(p, index=False)
    return p


@pytest.fixture(scope="module")
def trained() -> CategoryModel:
    texts = [r[1] for r in GOLD]
    labels = [r[3] for r in GOLD]
    return CategoryModel("rater", min_df=1, max_features=5000, cv=3, min_positives=3).fit(
        texts, labels, weak=texts + UNLABELLED)


# --------------------------------------------------------------------------- labels and gold files


def test_parse_labels():
    assert parse_labels("delivery:negative;price_value:positive") == {"delivery": "negative",
                                                                      "price_value": "positive"}
    assert parse_labels(" delivery : negative ; ") == {"delivery": "negative"}
    assert parse_labels("") == {} and parse_labels(None) == {} and parse_labels(float("nan")) == {}
    assert parse_labels("location") == {"location": "neutral"}
    # full-width punctuation and commas, as labels typed in a Chinese spreadsheet come
    assert parse_labels("delivery：Negative；price_value:positive, location") == {
        "delivery": "negative", "price_value": "positive", "location": "neutral"}
    with pytest.raises(InputError, match="polarity"):
        parse_labels("delivery:bad")


def test_load_gold(gold_csv):
    df = load_gold(gold_csv)
    assert len(df) == len(GOLD) and df["rater"].iloc[2] == ""


def test_load_gold_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_gold(tmp_path / "nope.csv")
    p = write_gold(tmp_path / "bad.csv", [r[:2] for r in GOLD], header=("id", "text"))
    with pytest.raises(InputError, match="rater or touchpoint"):
        load_gold(p)
    p = write_gold(tmp_path / "bad2.csv", [(r[0], r[3]) for r in GOLD], header=("id", "rater"))
    with pytest.raises(InputError, match="text"):
        load_gold(p)
    with pytest.raises(InputError, match="touchpoint"):
        load_gold(write_gold(tmp_path / "r.csv", [r[:4] for r in GOLD], header=("id", "text", "sentiment", "rater")),
                  ("touchpoint",))


# --------------------------------------------------------------------------- evaluation


def test_evaluate_rules(gold_csv):
    df = load_gold(gold_csv)
    res = evaluate_mapper(RuleMapper("touchpoint").fit(), df, "touchpoint")
    assert res["n"] == len(GOLD)
    assert 0.6 < res["micro_f1"] <= 1 and 0 < res["macro_f1"] <= 1
    assert 0 <= res["polarity_accuracy"] <= 1 and res["docs_per_s"] > 0
    pc = res["per_class"]
    assert set(pc) == set(RuleMapper("touchpoint").fit().classes_)
    assert {"precision", "recall", "f1", "support"} <= set(pc["delivery"])
    support = sum(len(parse_labels(r[4])) for r in GOLD)
    assert sum(v["support"] for v in pc.values()) == support
    assert pc["location"]["recall"] == 1.0


def test_evaluate_checks_columns_and_categories(gold_csv):
    df = load_gold(gold_csv)
    with pytest.raises(InputError, match="lacks column"):
        evaluate_mapper(RuleMapper("rater").fit(), df.drop(columns=["rater"]), "rater")
    bad = df.assign(rater="nosuch:positive")
    with pytest.raises(InputError, match="nosuch"):
        evaluate_mapper(RuleMapper("rater").fit(), bad, "rater")


def test_prepare_matches_pipeline_quality():
    p = prepare(["默认好评", "房间很干净，但是很吵"])
    assert p.clauses[0] == [] and p.quality[0] == "boilerplate"
    assert len(p.clauses[1]) == 2 and len(p.scores[1]) == 2


# --------------------------------------------------------------------------- trained model


def test_ngram_vocab_roundtrip():
    vocab, idf = fit_ngram_vocab(["房间很干净", "房间很吵"], nmax=3, min_df=2)
    assert {decode_ngram(k) for k in vocab} == {"房", "间", "很", "房间", "间很", "房间很"}
    assert np.all(np.diff(vocab) > 0) and len(idf) == len(vocab)


def test_trained_model_fits_and_predicts(trained, gold_csv):
    m = trained
    assert list(m.classes_) == ["reliability", "assurance", "tangibles", "empathy", "responsiveness"]
    assert m.taxonomy_.name == "rater"
    texts = [r[1] for r in GOLD]
    proba = m.predict_proba(texts)
    assert proba.shape == (len(GOLD), 5) and proba.min() >= 0 and proba.max() <= 1
    assert set(np.unique(m.predict(texts))) <= {0, 1}
    ms = m.predict_mentions(["送餐太慢了，等了一个多小时"])[0]
    assert any(x.category == "responsiveness" and x.polarity == "negative" for x in ms)
    assert all(isinstance(x, Mention) and x.evidence for x in ms)
    res = evaluate_mapper(m, load_gold(gold_csv), "rater")
    assert res["micro_f1"] > 0.6 and set(res["per_class"]) == set(m.classes_)


def test_map_batch_agrees_with_map_clauses(trained):
    p = prepare([r[1] for r in GOLD])
    batch = trained.map_batch(p.clauses, p.scores)
    single = [trained.map_clauses(c, s) for c, s in zip(p.clauses, p.scores)]
    assert batch == single
    assert trained.map_batch([], []) == [] and trained.map_clauses([], []) == []


def test_skops_roundtrip_through_registry(trained, tmp_path):
    import skops.io as sio

    from voc.classify.registry import TRUSTED_PREFIXES, load_model

    state = trained.__getstate__()
    assert "_matcher" not in state and "taxonomy_" not in state and "_index" not in state
    folder = tmp_path / "rater-test"
    folder.mkdir()
    sio.dump(trained, folder / "model.skops")
    (folder / "meta.json").write_text(json.dumps({"format": "skops", "task": "rater", "backend": "tfidf",
                                                  "taxonomy": "rater", "labels": list(trained.classes_)}))
    assert all(t.startswith(TRUSTED_PREFIXES) for t in sio.get_untrusted_types(file=folder / "model.skops"))
    loaded = load_model(str(folder))
    p = prepare([r[1] for r in GOLD] + UNLABELLED)
    assert loaded.map_batch(p.clauses, p.scores) == trained.map_batch(p.clauses, p.scores)
    texts = [r[1] for r in GOLD]
    np.testing.assert_array_equal(loaded.predict_proba(texts), trained.predict_proba(texts))
    assert loaded.taxonomy_.keys == trained.taxonomy_.keys


def test_category_stage_uses_trained_model(trained):
    from voc.taxonomy.stage import CategoryStage

    texts = ["送餐太慢了，等了一个多小时", "默认好评"]
    p = prepare(texts)
    batch = pd.DataFrame({"text": p.texts, "quality": p.quality, "clauses": p.clauses, "clause_scores": p.scores})
    out = CategoryStage("rater", trained)(batch)
    assert "responsiveness:negative" in out["rater"].iloc[0] and out["rater"].iloc[1] == ""


def test_best_threshold_maximises_f1_and_prefers_half():
    from voc.taxonomy.learned import _best_threshold

    y = np.array([1, 1, 1, 0, 0, 0])
    assert _best_threshold(y, np.array([0.3, 0.35, 0.9, 0.1, 0.2, 0.25])) == 0.3  # only 0.3 catches all three
    assert _best_threshold(y, np.array([0.9, 0.9, 0.9, 0.1, 0.1, 0.1])) == 0.5  # every t in (0.1, 0.9] ties


def test_tuned_thresholds_are_recorded_per_category():
    texts = [r[1] for r in GOLD]
    m = CategoryModel("rater", min_df=1, max_features=5000, cv=3, min_positives=3, gate=False,
                      threshold="tune").fit(texts, [r[3] for r in GOLD], weak=texts + UNLABELLED)
    cats = m.fit_report_["categories"]
    tuned = [k for k, v in cats.items() if "threshold" in v]
    assert tuned and all(m.thresholds_[list(m.classes_).index(k)] == cats[k]["threshold"] for k in tuned)
    assert all(0.2 <= t <= 0.7 for t in m.thresholds_)
    assert m.use_model_[[list(m.classes_).index(k) for k in tuned]].all()  # gate off: every combiner is used


OTHER_DOMAIN = ["银行柜台办业务排队两个小时", "信用卡年费乱扣，客服电话打不通", "网银转账一直失败", "理财经理很专业，讲得清楚",
                "宽带装了三天还没网", "话费莫名其妙多扣了二十", "营业厅小姐姐态度很好", "套餐资费太贵了"]


def test_domain_mix_keeps_rules_for_other_domains():
    texts = [r[1] for r in GOLD]
    labels = [r[3] for r in GOLD]
    with pytest.raises(ValueError, match="other"):
        CategoryModel("rater", min_df=1, cv=3, min_positives=3, domain_mix=True).fit(texts, labels, weak=texts)
    m = CategoryModel("rater", min_df=1, max_features=5000, cv=3, min_positives=3, domain_mix=True).fit(
        texts, labels, weak=texts + UNLABELLED, other=OTHER_DOMAIN)
    n_docs = sum(bool(c) for c in prepare(texts + UNLABELLED + texts).clauses)  # weak + gold, empty ones dropped
    assert m.fit_report_["domain"] == {"training_domains": n_docs, "other_domains": len(OTHER_DOMAIN)}
    trained_cats = [k for k, v in m.fit_report_["categories"].items() if "model_f1_oof" in v]
    assert trained_cats and m.use_model_[[list(m.classes_).index(k) for k in trained_cats]].all()
    p = prepare(texts + OTHER_DOMAIN)
    b = m._analyse(p.clauses, p.scores)
    d = b[-1]
    assert d.shape == (len(texts) + len(OTHER_DOMAIN),) and ((0 < d) & (d < 1)).all()
    assert d[: len(texts)].mean() > 0.5 > d[len(texts):].mean()
    # presence mixes the combiner (weight d) with the rule hits (weight 1 - d)
    f = b[2]
    hit = f["hits"] > 0
    full = m._presence(b[3], hit)
    mixed = m._presence(b[3], hit, d)
    np.testing.assert_allclose(mixed, d[:, None] * full + (1 - d[:, None]) * hit)
    # and the domain model survives the skops round trip
    import skops.io as sio

    loaded = sio.loads(sio.dumps(m), trusted=sio.get_untrusted_types(data=sio.dumps(m)))
    assert loaded.map_batch(p.clauses, p.scores) == m.map_batch(p.clauses, p.scores)
    np.testing.assert_array_equal(loaded.dom_coef_, m.dom_coef_)


def test_fit_rejects_bad_labels():
    with pytest.raises(ValueError, match="nosuch"):
        CategoryModel("rater", min_df=1).fit(["房间很干净"] * 4, ["nosuch:positive"] * 4)
    with pytest.raises(ValueError, match="labels"):
        CategoryModel("rater", min_df=1).fit(["房间很干净"] * 4, ["tangibles:positive"])


def test_train_category_model_writes_folder(gold_csv, unlabelled_csv, tmp_path):
    from voc.classify.registry import load_model
    from voc.taxonomy.train import split_gold, train_category_model

    out = tmp_path / "touchpoint-tfidf"
    model, metrics = train_category_model("touchpoint", gold_csv, [unlabelled_csv], out, min_df=1, cv=3,
                                          min_positives=3)
    for name in ("model.skops", "meta.json", "metrics.json", "config.yaml", "MODEL_CARD.md"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["format"] == "skops" and meta["task"] == "touchpoint" and meta["backend"] == "tfidf"
    assert meta["labels"] == list(model.classes_)
    train, held = split_gold(load_gold(gold_csv))
    assert metrics["model"]["n"] == metrics["rules"]["n"] == len(held) and len(train) + len(held) == len(GOLD)
    assert metrics["data"]["unlabelled"] == len(UNLABELLED) and metrics["roundtrip_identical"] is True
    assert "python -m voc.taxonomy.train --taxonomy touchpoint" in (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert hasattr(load_model(str(out)), "map_batch")


def test_train_category_model_with_domain_mix_and_gold_weight(gold_csv, unlabelled_csv, tmp_path):
    import yaml

    from voc.taxonomy.train import train_category_model

    other = tmp_path / "other.csv"
    pd.DataFrame({"text": OTHER_DOMAIN}).to_csv(other, index=False)
    out = tmp_path / "rater-mix"
    model, metrics = train_category_model("rater", gold_csv, [unlabelled_csv], out, extra_gold=[], other_domain=[other],
                                          gold_weight=3, min_df=1, cv=3, min_positives=3, domain_mix=True)
    assert model.dom_coef_ is not None and metrics["data"]["other_domain"] == len(OTHER_DOMAIN)
    assert metrics["fit_report"]["domain"]["other_domains"] == len(OTHER_DOMAIN)
    assert metrics["roundtrip_identical"] is True
    cfg = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert cfg["gold_weight"] == 3 and "--gold-weight 3" in cfg["command"] and "domain_mix=True" in cfg["command"]
    assert "--other-domain " in cfg["command"] and "other.csv --extra-gold" in cfg["command"]  # path may be relative
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "domain model" in card and "mixed" in card
    with pytest.raises(ValueError, match="domain_mix"):
        train_category_model("rater", gold_csv, [unlabelled_csv], None, extra_gold=[], other_domain=[],
                             min_df=1, cv=3, min_positives=3, domain_mix=True)


@pytest.mark.parametrize("mix", [False, True])
def test_cross_validate_scores_rules_and_model_per_fold(gold_csv, unlabelled_csv, mix):
    from voc.taxonomy.train import cross_validate

    res = cross_validate("rater", gold_csv, folds=2, extra_gold=[], unlabelled_paths=[unlabelled_csv],
                         min_df=1, cv=2, min_positives=2, domain_mix=mix)
    assert len(res["folds"]) == 2 and res["n"] > 0
    for name in ("rules", "model"):
        assert 0 <= res["mean"][name]["macro_f1"] <= 1 and 0 <= res["mean"][name]["micro_f1"] <= 1


def test_sample_weight_changes_the_combiner_and_is_checked():
    texts = [r[1] for r in GOLD]
    labels = [r[3] for r in GOLD]
    kw = dict(min_df=1, max_features=5000, cv=3, min_positives=3, gate=False)
    a = CategoryModel("rater", **kw).fit(texts, labels, weak=texts + UNLABELLED)
    w = np.where(np.arange(len(texts)) % 2 == 0, 5.0, 1.0)
    b = CategoryModel("rater", **kw).fit(texts, labels, weak=texts + UNLABELLED, sample_weight=w)
    assert not np.allclose(a.meta_coef_, b.meta_coef_)
    with pytest.raises(ValueError, match="sample_weight"):
        CategoryModel("rater", **kw).fit(texts, labels, weak=texts, sample_weight=w[:3])


def test_split_is_stable_hash_of_id(gold_csv):
    from voc.taxonomy.train import split_gold

    df = load_gold(gold_csv)
    a, b = split_gold(df)
    a2, b2 = split_gold(df.sample(frac=1, random_state=1))
    assert set(b["id"]) == set(b2["id"]) and not set(a["id"]) & set(b["id"])


def test_unlabelled_missing_text_column(tmp_path):
    from voc.taxonomy.train import load_unlabelled

    p = tmp_path / "u.csv"
    pd.DataFrame({"id": ["a"], "body": ["房间很干净"]}).to_csv(p, index=False)
    with pytest.raises(InputError, match="text"):
        load_unlabelled([p])
    with pytest.raises(InputError, match="does not exist"):
        load_unlabelled([tmp_path / "none.csv"])


# --------------------------------------------------------------------------- slow: the real data


@pytest.mark.slow
@pytest.mark.parametrize("taxonomy", ["rater", "touchpoint"])
def test_trained_models_beat_rules_on_held_out(taxonomy):
    from voc.taxonomy.train import GOLD_NAME, data_dir, train_category_model

    if not (data_dir() / GOLD_NAME).is_file():
        pytest.skip(f"shared data not found: {data_dir() / GOLD_NAME} (set VOC_DATA_DIR)")
    _, metrics = train_category_model(taxonomy)
    r, m = metrics["rules"], metrics["model"]
    assert m["n"] == r["n"] > 150
    # detection is never worse than the rules; polarity and category+polarity are better
    assert m["micro_f1"] >= r["micro_f1"] - 0.005 and m["macro_f1"] >= r["macro_f1"] - 0.005
    assert m["polarity_accuracy"] > r["polarity_accuracy"] + 0.03
    assert m["strict_micro_f1"] > r["strict_micro_f1"] + 0.03


# --------------------------------------------------------------------------- shipped models on the committed check file


@pytest.mark.parametrize("taxonomy", ["rater", "touchpoint"])
def test_shipped_models_on_out_of_domain_check_file(taxonomy):
    """The shipped mappers on comments written for voc in other domains (models/labels/ood_check.csv)."""
    from voc.classify.registry import load_model

    df = load_gold(ROOT / "models" / "labels" / "ood_check.csv", (taxonomy,))
    prep = prepare(df["text"].tolist())
    model = load_model(str(ROOT / "models" / f"{taxonomy}-tfidf"))
    res_m = evaluate_mapper(model, df, taxonomy, prepared=prep)
    res_r = evaluate_mapper(RuleMapper(taxonomy).fit(), df, taxonomy, prepared=prep)
    assert res_m["micro_f1"] >= 0.8 and res_m["macro_f1"] >= 0.8
    assert res_m["polarity_accuracy"] >= res_r["polarity_accuracy"]
    assert res_m["micro_f1"] >= res_r["micro_f1"] - 0.01
