"""voc eval: sentiment evaluation (binary and 3-class), JSON output and error paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from voc.classify.evaluate import evaluate_sentiment, load_sentiment_file, run_eval
from voc.classify.lexicon import LexiconSentiment
from voc.cli.main import app
from voc.errors import InputError

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
ROWS = [
    ("房间很干净，服务也好", "positive"), ("送餐太慢了，等了一个小时", "negative"), ("质量不错，推荐购买", "positive"),
    ("客服态度恶劣，再也不买了", "negative"), ("一般般吧", "neutral"), ("默认好评", "neutral"),
]


@pytest.fixture()
def sent_file(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in ROWS), encoding="utf-8")
    return p


@pytest.fixture()
def binary_file(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in ROWS if lab != "neutral"), encoding="utf-8")
    return p


def test_three_class(sent_file):
    res = evaluate_sentiment(LexiconSentiment().fit(), load_sentiment_file(sent_file))
    assert res["mode"] == "3-class" and res["labels"] == ["negative", "neutral", "positive"]
    assert res["n"] == 6 and 0 <= res["accuracy"] <= 1 and len(res["confusion"]) == 3
    assert sum(map(sum, res["confusion"])) == 6
    assert res["per_class"]["neutral"]["support"] == 2


def test_binary_gold_uses_positive_vs_negative(binary_file):
    res = evaluate_sentiment(LexiconSentiment().fit(), load_sentiment_file(binary_file))
    assert res["mode"].startswith("binary") and res["labels"] == ["negative", "positive"]
    assert res["accuracy"] == 1.0


def test_cli_json_is_exactly_one_object(sent_file):
    r = runner.invoke(app, ["eval", "--model", "lexicon", "--data", str(sent_file), "--task", "sentiment", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    for k in ("n", "accuracy", "macro_f1", "docs_per_s"):
        assert k in res
    r = runner.invoke(app, ["eval", "-m", "lexicon", "-d", str(sent_file), "-t", "sentiment"])
    assert r.exit_code == 0 and "confusion matrix" in r.stdout and "precision" in r.stdout


def test_errors(tmp_path, sent_file):
    with pytest.raises(InputError, match="does not exist"):
        load_sentiment_file(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("review,label\n好,positive\n", encoding="utf-8")
    with pytest.raises(InputError, match="lacks column"):
        load_sentiment_file(bad)
    bad.write_text("text,label\n好,good\n", encoding="utf-8")
    with pytest.raises(InputError, match="labels"):
        load_sentiment_file(bad)
    with pytest.raises(InputError, match="unknown task"):
        run_eval("emotion", "lexicon", sent_file)
    r = runner.invoke(app, ["eval", "-m", "no-such-model", "-d", str(sent_file), "-t", "sentiment"])
    assert r.exit_code == 2 and "error:" in r.output and "Traceback" not in r.output


def test_train_blend_round_trip(tmp_path, sent_file):
    from voc.classify.registry import load_model
    from voc.classify.train import train_sentiment

    rows = [("房间很干净，服务很好", "positive"), ("前台热情，位置方便", "positive"), ("味道不错，推荐", "positive"),
            ("物流很快，包装完好", "positive"), ("送餐太慢，菜都凉了", "negative"), ("客服不回复，差评", "negative"),
            ("房间有异味，隔音差", "negative"), ("发错货了，很失望", "negative")] * 3
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows), encoding="utf-8")
    model, metrics = train_sentiment([train], [sent_file], out=tmp_path / "m", params={"min_df": 1, "cv": 2})
    assert {"model.skops", "meta.json", "config.yaml", "metrics.json", "MODEL_CARD.md"} <= {
        p.name for p in (tmp_path / "m").iterdir()}
    loaded = load_model(str(tmp_path / "m"))
    X = ["房间干净", "送餐太慢了", "一般"]
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X))
    assert list(loaded.classes_) == ["negative", "neutral", "positive"]
    assert metrics["dev"]["s.csv"]["n"] == 6
    # the committed other-domain check files are scored and tabulated on the card
    from voc.classify.train import default_check_files

    names = {c.name for c in default_check_files()}
    assert names and set(metrics["checks"]) == names
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## Other domains" in card and all(f"`{n}`" in card for n in names)
    assert "24 rows, binary labels" in card and metrics["train_labels"] == {"negative": 12, "positive": 12}
    from voc.classify.train import _labels_text

    assert _labels_text({"train_labels": {"negative": 5, "neutral": 2, "positive": 1_200}}) == \
        "labels negative 5, neutral 2, positive 1,200"
    three = [r for r in metrics["checks"].values() if r["all"]["mode"] == "3-class"]
    assert three and all(0 <= r["polar"]["accuracy"] <= 1 and r["polar"]["n"] < r["n"] for r in three)


def test_train_sentiment_check_files(tmp_path):
    from voc.classify.train import train_sentiment

    rows = [("房间很干净", "positive"), ("服务很好", "positive"), ("送餐太慢", "negative"), ("客服不回复", "negative")] * 4
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows), encoding="utf-8")
    check = tmp_path / "mine.csv"  # GUIDELINES format: the sentiment column
    check.write_text("id,text,sentiment\nm-1,服务很好,positive\nm-2,太慢了,negative\nm-3,一般,neutral\n",
                     encoding="utf-8")
    _, metrics = train_sentiment([train], checks=[check], params={"min_df": 1, "cv": 2})
    assert metrics["checks"]["mine.csv"]["n"] == 3 and metrics["checks"]["mine.csv"]["polar"]["n"] == 2
    own = tmp_path / "own.csv"
    own.write_text("text,label\n服务真好,positive\n等了好久,negative\n", encoding="utf-8")
    _, metrics = train_sentiment([train, own], checks=[own], params={"min_df": 1, "cv": 2})
    assert metrics["checks"] == {}  # a file trained on is not a check


def test_category_eval_rules_json(tmp_path):
    p = tmp_path / "cat.csv"
    p.write_text(
        "id,text,sentiment,rater,touchpoint\n"
        "x-1,味道不错但是送得太慢了，等了一个多小时,negative,responsiveness:negative,"
        "product_quality:positive;delivery:negative\n"
        "x-2,前台服务很热情，房间干净,positive,assurance:positive;tangibles:positive,"
        "staff_service:positive;environment_facilities:positive\n"
        "x-3,默认好评,neutral,,\n"
        "x-4,包装破损，汤洒了,negative,tangibles:negative,packaging:negative\n",
        encoding="utf-8")
    for task in ("rater", "touchpoint"):
        r = runner.invoke(app, ["eval", "-m", "rules", "-d", str(p), "-t", task, "--json"])
        assert r.exit_code == 0, r.output
        res = json.loads(r.stdout)
        for k in ("n", "micro_f1", "macro_f1", "polarity_accuracy", "docs_per_s", "per_class"):
            assert k in res, k
        assert res["n"] == 4 and 0 < res["micro_f1"] <= 1
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\nx,好\n", encoding="utf-8")
    r = runner.invoke(app, ["eval", "-m", "rules", "-d", str(bad), "-t", "rater"])
    assert r.exit_code == 2 and "error:" in r.output


def test_train_tunes_neutral_on_several_three_class_files(tmp_path):
    from voc.classify.train import train_sentiment

    rows = [("房间很干净，服务很好", "positive"), ("前台热情，位置方便", "positive"), ("味道不错，推荐", "positive"),
            ("物流很快，包装完好", "positive"), ("送餐太慢，菜都凉了", "negative"), ("客服不回复，差评", "negative"),
            ("房间有异味，隔音差", "negative"), ("发错货了，很失望", "negative")] * 3
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows), encoding="utf-8")
    three = [("很好很满意", "positive"), ("太差了，失望", "negative"), ("一般般吧", "neutral"),
             ("请问几点退房", "neutral"), ("服务很好", "positive"), ("房间有异味，隔音差", "negative")]
    files = []
    for name, prefix in (("a.csv", "a"), ("b.csv", "b")):
        f = tmp_path / name
        f.write_text("id,text,sentiment,rater,touchpoint\n"
                     + "".join(f"{prefix}-{i},{t}{prefix},{s},,\n" for i, (t, s) in enumerate(three * 4)),
                     encoding="utf-8")
        files.append(f)
    files.append(tmp_path / "c.csv")
    files[-1].write_text("id,text,sentiment,rater,touchpoint\nc-1,房间有异味，隔音差,negative,,\n", encoding="utf-8")
    model, metrics = train_sentiment([train], neutral=files, out=tmp_path / "m", params={"min_df": 1, "cv": 2})
    assert metrics["excluded_overlap_with_neutral_file"] == 3  # the training copies of c.csv's comment
    by = metrics["neutral_3class_heldout_by_file"]
    assert set(by) <= {"a.csv", "b.csv", "c.csv"} and {"a.csv", "b.csv"} <= set(by)
    assert metrics["neutral_3class_heldout"]["n"] == sum(v["n"] for v in by.values())
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "`a.csv`, `b.csv`, `c.csv`" in card and "Per file:" in card
    import yaml
    assert yaml.safe_load((tmp_path / "m" / "config.yaml").read_text())["neutral"] == [str(f) for f in files]


def test_data_weights_up_weight_a_file(tmp_path):
    from voc.classify.tfidf import TfidfSentiment
    from voc.classify.train import train_sentiment

    base = [("房间很干净，服务很好", "positive"), ("前台热情，位置方便", "positive"), ("送餐太慢，菜都凉了", "negative"),
            ("客服不回复，差评", "negative"), ("房间有异味，隔音差", "negative"), ("物流很快，包装完好", "positive")] * 3
    own = [("退款秒到账，客服秒回", "positive"), ("投诉后马上处理好了", "positive"), ("说得好听，问题一直不解决", "negative")]
    a, b = tmp_path / "base.csv", tmp_path / "own.csv"
    for f, rows in ((a, base), (b, own)):
        f.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows), encoding="utf-8")
    X, y = [t for t, _ in base], [lab for _, lab in base]
    plain = TfidfSentiment(min_df=1, cv=2).fit(X, y)
    ones = TfidfSentiment(min_df=1, cv=2).fit(X, y, sample_weight=[1.0] * len(X))
    np.testing.assert_allclose(plain.predict_proba(X), ones.predict_proba(X))  # weight 1 changes nothing
    probe = ["退款秒到账"]
    raw = {"min_df": 1, "calibration": "none"}  # compare the logistic regressions themselves
    model1, _ = train_sentiment([a, b], params=raw, lexicon_weight=0)
    model5, _ = train_sentiment([a, b], params=raw, lexicon_weight=0, data_weights={"own.csv": 5})
    assert model5.decision_function(probe)[0] > model1.decision_function(probe)[0] > 0
    with pytest.raises(InputError, match="not a training file"):
        train_sentiment([a, b], data_weights={"nope.csv": 2})
    with pytest.raises(ValueError, match="sample_weight"):
        TfidfSentiment(min_df=1).fit(X, y, sample_weight=[-1.0] * len(X))
    r = runner.invoke(app, ["train", "-t", "sentiment", "-d", str(a), "-o", str(tmp_path / "m"), "--data-weight",
                            "own.csv"])
    assert r.exit_code == 2 and "FILE_NAME=NUMBER" in r.output
    r = runner.invoke(app, ["train", "-t", "rater", "-d", str(a), "-o", str(tmp_path / "m"), "--data-weight",
                            "base.csv=2"])
    assert r.exit_code == 2 and "sentiment" in r.output


def test_category_eval_scores_clauses_like_the_pipeline(tmp_path):
    import yaml

    from voc.classify.evaluate import clause_scorer_spec
    from voc.classify.registry import default_models

    pipeline_sentiment = default_models()["sentiment"].name
    assert clause_scorer_spec("rules") == pipeline_sentiment  # rules: the default pipeline's clause scorer
    trained = yaml.safe_load((ROOT / "models" / "rater-tfidf" / "config.yaml").read_text(encoding="utf-8"))
    assert clause_scorer_spec("rater-tfidf") == trained["sentiment_model"]  # a model: the scorer it learned with
    own = tmp_path / "m"
    own.mkdir()
    (own / "config.yaml").write_text("sentiment_model: lexicon\n", encoding="utf-8")
    assert clause_scorer_spec(str(own)) == "lexicon"
    bare = tmp_path / "n"
    bare.mkdir()
    assert clause_scorer_spec(str(bare)) == pipeline_sentiment


def test_mild_word_alone_is_neutral():
    import pandas as pd

    from voc.classify.sentiment import SentimentStage

    texts = ["还行", "一般般吧", "还可以。", "还行吧，物流挺快", "质量一般", "很好"]
    out = SentimentStage(LexiconSentiment().fit())(pd.DataFrame({"text": texts}))
    assert out["sentiment"].tolist()[:3] == ["neutral"] * 3
    assert out.loc[0, "p_neutral"] == pytest.approx(0.9)  # the model's lean stays in the other 0.1
    assert out.loc[0, "p_positive"] + out.loc[0, "p_negative"] == pytest.approx(0.1)
    assert out.loc[3, "p_neutral"] < 1.0 and out.loc[4, "p_neutral"] < 1.0  # with an object: the model decides
    assert out.loc[5, "sentiment"] == "positive"


def test_sentiment_file_variants(tmp_path):
    """GBK and BOM files, a GUIDELINES ``sentiment`` column and 0/1 labels all load as training files do."""
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("text,label\n房间很干净,1\n服务太差了,0\n".encode("gb18030"))
    df = load_sentiment_file(gbk)
    assert df["label"].tolist() == ["positive", "negative"] and df["text"].tolist() == ["房间很干净", "服务太差了"]
    guide = tmp_path / "guide.csv"
    guide.write_text("id,text,sentiment,rater,touchpoint\na,请问有停车位吗,neutral,,\nb,前台很热情, Positive ,,\n",
                     encoding="utf-8-sig")
    df = load_sentiment_file(guide)
    assert df["label"].tolist() == ["neutral", "positive"]
    res = evaluate_sentiment(LexiconSentiment().fit(), df)
    assert res["n"] == 2
    words = tmp_path / "words.csv"
    words.write_text("text,label\n房间很干净,好评\n服务太差了,差评\n还行吧,中评\n物流很快,积极\n", encoding="utf-8")
    assert load_sentiment_file(words)["label"].tolist() == ["positive", "negative", "neutral", "positive"]


def test_train_takes_a_labelled_queue_file(tmp_path):
    """A labelled label-queue file (GUIDELINES columns, some rows left unlabelled) trains as it is."""
    from voc.classify.datasets import load_sentiment_csv

    q = tmp_path / "queue.csv"
    q.write_text("id,text,sentiment,rater,touchpoint\n1,房间很干净,positive,,\n2,送餐太慢了,negative,,\n"
                 "3,还没标的评论,,,\n4,客服态度恶劣,Negative,,\n", encoding="utf-8-sig")
    df = load_sentiment_csv(q)
    assert df["id"].tolist() == ["1", "2", "4"] and df["label"].tolist() == ["positive", "negative", "negative"]
    bad = tmp_path / "nolabel.csv"
    bad.write_text("id,text\n1,房间很干净\n", encoding="utf-8")
    with pytest.raises(InputError, match="lacks column.s. label.*it has id, text"):
        load_sentiment_csv(bad)


def test_card_of_a_users_model_claims_only_what_it_measured(tmp_path):
    from voc.classify.train import train_sentiment

    rows = [("房间很干净，服务很好", "positive"), ("送餐太慢，菜都凉了", "negative"), ("味道不错，推荐", "positive"),
            ("客服不回复，差评", "negative")] * 4
    train = tmp_path / "mine.csv"
    train.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows), encoding="utf-8")
    train_sentiment([train], [], out=tmp_path / "m", params={"min_df": 1, "cv": 2}, lexicon_weight=0, checks=[])
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "No lexicon model is blended in" in card and "413" not in card
    assert "../shared/data" not in card and "authors wrote" not in card


def test_eval_and_train_a_taxonomy_of_ones_own(tmp_path):
    """--task takes a taxonomy YAML file; its name is the label column of the labelled file."""
    from tests.conftest import BANK_ROWS, BANK_YAML, write_taxonomy
    from voc.classify.evaluate import run_eval

    tax = write_taxonomy(tmp_path, BANK_YAML, "bank.yaml")
    rows = BANK_ROWS * 6
    gold = tmp_path / "gold.csv"
    gold.write_text("id,text,sentiment,bank\n" + "".join(f"b{i},{t},{s},{b}\n" for i, (t, s, b) in enumerate(rows)),
                    encoding="utf-8")
    res = run_eval(tax, "rules", gold)
    assert res["task"] == "bank" and res["micro_f1"] == 1.0
    out = tmp_path / "m"
    r = CliRunner().invoke(app, ["train", "--task", tax, "--data", str(gold), "--unlabelled", str(gold),
                                 "--out", str(out), "min_df=1", "cv=2"])
    assert r.exit_code == 0, r.output
    res = run_eval(tax, str(out), gold)
    assert res["task"] == "bank" and res["clause_sentiment"] == "sentiment-tfidf" and res["micro_f1"] > 0.9
    r = CliRunner().invoke(app, ["eval", "--model", "rules", "--data", str(gold), "--task", "nosuch"])
    assert r.exit_code != 0 and "taxonomy YAML" in r.output


def test_a_model_for_another_taxonomy_is_refused(tmp_path):
    from voc.errors import ModelError
    from voc.taxonomy.stage import load_mapper

    assert load_mapper("rater", "rater-tfidf").taxonomy_.name == "rater"
    with pytest.raises(ModelError, match="maps to taxonomy 'touchpoint'"):
        load_mapper("rater", "touchpoint-tfidf")


def test_label_files_as_excel_or_tsv_give_the_same_scores(tmp_path, sent_file):
    """Annotators often label a label-queue file in Excel and save it as .xlsx; TSV is read too."""
    import pandas as pd

    df = pd.read_csv(sent_file, dtype=str)
    df.to_excel(tmp_path / "s.xlsx", index=False)
    df.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    want = run_eval("sentiment", "lexicon", sent_file)
    for f in ("s.xlsx", "s.tsv"):
        got = run_eval("sentiment", "lexicon", tmp_path / f)
        assert (got["n"], got["accuracy"], got["confusion"]) == (want["n"], want["accuracy"], want["confusion"]), f
    cat = pd.DataFrame({"id": ["x-1", "x-2"], "text": ["送得太慢了，等了一个多小时", "前台服务很热情"],
                        "sentiment": ["negative", "positive"], "rater": ["responsiveness:negative", "assurance:positive"],
                        "touchpoint": ["delivery:negative", "staff_service:positive"]})
    cat.to_excel(tmp_path / "cat.xlsx", index=False)
    cat.to_csv(tmp_path / "cat.csv", index=False)
    a, b = run_eval("rater", "rules", tmp_path / "cat.xlsx"), run_eval("rater", "rules", tmp_path / "cat.csv")
    assert a["n"] == b["n"] == 2 and a["micro_f1"] == b["micro_f1"]
    (tmp_path / "broken.xlsx").write_bytes(b"not a workbook")
    with pytest.raises(InputError, match="not a readable Excel workbook"):
        run_eval("sentiment", "lexicon", tmp_path / "broken.xlsx")


def test_compare_two_models_on_one_file(tmp_path, sent_file):
    """voc eval --compare: both models' scores and a paired interval of the second minus the first."""
    r = runner.invoke(app, ["eval", "-m", "lexicon", "--compare", "lexicon", "-d", str(sent_file), "-t", "sentiment",
                            "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["a"]["accuracy"] == res["b"]["accuracy"] and res["a"]["n"] == 6
    assert res["difference"]["micro_f1"] == {"difference": 0.0, "ci": [0.0, 0.0], "b_ahead": 0.0}
    r = runner.invoke(app, ["eval", "-m", "lexicon", "-c", "sentiment-tfidf", "-d", str(sent_file), "-t", "sentiment"])
    assert r.exit_code == 0 and "sentiment-tfidf − lexicon: accuracy" in r.stdout
    cat = tmp_path / "cat.csv"
    cat.write_text("id,text,sentiment,rater,touchpoint\n"
                   "x-1,送得太慢了，等了一个多小时,negative,responsiveness:negative,delivery:negative\n"
                   "x-2,前台服务很热情，房间干净,positive,assurance:positive;tangibles:positive,"
                   "staff_service:positive;environment_facilities:positive\n", encoding="utf-8")
    r = runner.invoke(app, ["eval", "-m", "rules", "-c", "rater-tfidf", "-d", str(cat), "-t", "rater", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert {"micro_f1", "macro_f1"} <= set(res["difference"]) and "polarity_accuracy" in res["b"]
    r = runner.invoke(app, ["eval", "-m", "rules", "-c", "no-such-model", "-d", str(cat), "-t", "rater"])
    assert r.exit_code == 2 and "error:" in r.output and "Traceback" not in r.output


def test_paired_difference_sees_a_clearly_better_model():
    from voc.analyze.metrics import paired_f1_difference

    rng = np.random.default_rng(0)
    g = rng.random((300, 4)) < 0.3
    good = np.where(rng.random((300, 4)) < 0.95, g, ~g)
    bad = np.where(rng.random((300, 4)) < 0.75, g, ~g)
    counts = lambda p: (g & p, p & ~g, g & ~p)  # noqa: E731
    d = paired_f1_difference(counts(bad), counts(good))
    assert d["micro_f1"]["difference"] > 0 and d["micro_f1"]["ci"][0] > 0 and d["micro_f1"]["b_ahead"] > 0.97
    assert paired_f1_difference(counts(good), counts(bad))["macro_f1"]["ci"][1] < 0
    with pytest.raises(ValueError):
        paired_f1_difference(counts(good), tuple(a[:10] for a in counts(bad)))
