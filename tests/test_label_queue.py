"""voc label-queue: the least certain comments, exported in the GUIDELINES format with empty labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from voc.cli.main import app
from voc.classify.active import GUIDELINES_COLUMNS, clean_texts, label_queue, read_texts, uncertainty
from voc.text.normalize import TextCleaner

TEXTS = ["房间很干净，服务很好，非常满意", "太差了，再也不来了", "还行吧", "一般般", "这个怎么用？",
         "物流很快，包装也好", "客服态度恶劣，退款拖了一个月", "价格还可以，质量一般", "默认好评", "前台说话难听"]


@pytest.fixture()
def data(tmp_path):
    p = tmp_path / "comments.csv"
    pd.DataFrame({"id": [f"c{i}" for i in range(len(TEXTS))], "text": TEXTS, "extra": "x"}).to_csv(p, index=False)
    return p


def test_queue_picks_the_least_confident_rows(data):
    from voc.classify.evaluate import predict_sentiment
    from voc.classify.lexicon import LexiconSentiment

    model = LexiconSentiment().fit()
    df = read_texts(data)
    q = label_queue(model, df, 4)
    p = predict_sentiment(model, TEXTS)
    u = 1 - p.max(axis=1)
    assert np.allclose(uncertainty(model, TEXTS), u)
    assert q["uncertainty"].is_monotonic_decreasing
    cleaned = [TextCleaner().clean(t).text for t in TEXTS]  # the queue holds cleaned text (full-width ，→ ,)
    assert set(q["text"]) == set(np.array(cleaned)[np.argsort(-u, kind="stable")[:4]])
    assert q["uncertainty"].min() >= np.sort(u)[-4] - 1e-4
    assert (q[["sentiment", "rater", "touchpoint"]] == "").all().all()


def test_cli_writes_guidelines_csv_that_loads_as_gold(data, tmp_path):
    from voc.taxonomy.evaluate import load_gold

    out = tmp_path / "queue.csv"
    r = CliRunner().invoke(app, ["label-queue", "--model", "lexicon", "--data", str(data), "--n", "3", "--out",
                                 str(out)])
    assert r.exit_code == 0, r.output
    gold = load_gold(out)
    assert list(gold.columns) == list(GUIDELINES_COLUMNS) and len(gold) == 3
    assert set(gold["id"]) <= {f"c{i}" for i in range(len(TEXTS))}
    assert (gold[["sentiment", "rater", "touchpoint"]] == "").all().all()
    r = CliRunner().invoke(app, ["label-queue", "--model", "lexicon", "--data", str(data), "--n", "100"])
    assert r.exit_code == 0
    printed = pd.read_csv(__import__("io").StringIO(r.stdout), dtype=str, keep_default_na=False)
    assert len(printed) == len(TEXTS) - 1 and list(printed.columns) == list(GUIDELINES_COLUMNS)  # 默认好评 skipped


def test_ids_default_to_row_numbers_and_duplicates_go(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"text": ["好", "好", "", "差评"]}).to_csv(p, index=False)
    df = read_texts(p)
    assert df["id"].tolist() == ["row-1", "row-4"] and df["text"].tolist() == ["好", "差评"]
    x = tmp_path / "t.xlsx"  # the same rows from an Excel export, with Chinese headers
    pd.DataFrame({"评论内容": ["好", "好", "", "差评"]}).to_excel(x, index=False)
    assert read_texts(x, text_column="评论内容").equals(df)


@pytest.mark.parametrize("args, message", [
    (["--model", "lexicon", "--data", "missing.csv", "--n", "3"], "does not exist"),
    (["--model", "rules", "--data", "DATA", "--n", "3"], "no probabilities"),
    (["--model", "lexicon", "--data", "DATA", "--n", "0"], "at least 1"),
    (["--model", "no-such-model", "--data", "DATA", "--n", "3"], "not a folder"),
])
def test_errors_are_one_sentence(data, args, message):
    args = [str(data) if a == "DATA" else a for a in args]
    r = CliRunner().invoke(app, ["label-queue", *args])
    assert r.exit_code == 2 and message in " ".join(r.output.split()) and "Traceback" not in r.output


def test_no_text_column(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("id,comment,评论内容\n1,好,好\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["label-queue", "--model", "lexicon", "--data", str(p)])
    msg = " ".join(r.output.split())
    assert r.exit_code == 2 and "no 'text' column" in msg and "Traceback" not in r.output
    assert "id, comment, 评论内容" in msg and "--text-column" in msg
    r = CliRunner().invoke(app, ["label-queue", "--model", "lexicon", "--data", str(p), "--text-column", "内容"])
    msg = " ".join(r.output.split())
    assert r.exit_code == 2 and "'内容'" in msg and "id, comment, 评论内容" in msg
    r = CliRunner().invoke(app, ["label-queue", "--model", "lexicon", "--data", str(p), "--text-column", "comment",
                                 "--id-column", "编号"])
    assert r.exit_code == 2 and "--id-column" in " ".join(r.output.split())


def test_pii_is_masked_in_the_queue(tmp_path):
    p = tmp_path / "c.csv"
    pd.DataFrame({"id": ["a", "b"], "text": ["我的手机号13812345678，快递一直没到", "邮箱 zhang.san@example.com 收不到发票"]}
                 ).to_csv(p, index=False)
    out = tmp_path / "q.csv"
    r = CliRunner().invoke(app, ["label-queue", "--model", "lexicon", "--data", str(p), "--n", "5", "--out", str(out)])
    assert r.exit_code == 0, r.output
    raw = out.read_text(encoding="utf-8-sig")
    assert "13812345678" not in raw and "zhang.san" not in raw
    q = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig").set_index("id")
    assert q.loc["a", "text"] == "我的手机号[手机号],快递一直没到" and "[邮箱]" in q.loc["b", "text"]


def test_boilerplate_meaningless_and_clean_duplicates_are_skipped():
    df = pd.DataFrame({"id": list("abcdefgh"),
                       "text": ["默认好评", "。。。", "好", "此用户没有填写评价。", "   ", "房间很干净",
                                "房间很干净！！！！！", "房間很乾淨"]})
    c = clean_texts(df)
    assert c["id"].tolist() == ["f", "g"] and c["text"].tolist() == ["房间很干净", "房间很干净!!!"]
    from voc.classify.lexicon import LexiconSentiment

    q = label_queue(LexiconSentiment().fit(), df, 10)
    assert sorted(q["id"]) == ["f", "g"]


def test_gbk_file_with_chinese_text_column(tmp_path):
    p = tmp_path / "gbk.csv"
    p.write_bytes("编号,评论内容,评分\n1,服务态度很差，等了半小时,1\n2,默认好评,5\n3,还行吧，一般般,3\n".encode("gbk"))
    out = tmp_path / "q.csv"
    r = CliRunner().invoke(app, ["label-queue", "--model", "lexicon", "--data", str(p), "--text-column", "评论内容",
                                 "--id-column", "编号", "--out", str(out)])
    assert r.exit_code == 0, r.output
    q = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert sorted(q["id"]) == ["1", "3"] and "服务态度很差,等了半小时" in set(q["text"])


def test_bom_file_reads_its_text_column(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_text("text\n物流很快\n", encoding="utf-8-sig")
    assert read_texts(p)["text"].tolist() == ["物流很快"]


def test_transformer_sentiment_model_queue(tmp_path):
    pytest.importorskip("transformers")
    from tests.transformer_util import FAST, NEGATIVE, POSITIVE, make_tiny_bert
    from voc.transformer.model import TransformerSentiment

    base = make_tiny_bert(tmp_path / "base", POSITIVE + NEGATIVE + TEXTS)
    m = TransformerSentiment(base_model=str(base), epochs=2, **FAST).fit(
        POSITIVE + NEGATIVE, ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE))
    hf = m.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "meta.json").write_text(json.dumps({**hf, "task": "sentiment"}), encoding="utf-8")
    data = tmp_path / "c.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(data, index=False)
    out = tmp_path / "q.csv"
    r = CliRunner().invoke(app, ["label-queue", "--model", str(tmp_path / "m"), "--data", str(data), "--n", "5",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    q = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    u = uncertainty(m, TEXTS)
    cleaned = [TextCleaner().clean(t).text for t in TEXTS]
    assert set(q["text"]) == set(np.array(cleaned)[np.argsort(-u, kind="stable")[:5]])


def test_cleaned_texts_keep_their_emoji_signal():
    from voc.classify.evaluate import predict_sentiment
    from voc.classify.lexicon import LexiconSentiment

    model = LexiconSentiment().fit()
    raw = ["房间一般😡😡", "还可以吧👍"]
    c = clean_texts(pd.DataFrame({"id": ["a", "b"], "text": raw}))
    assert c["text"].tolist() == ["房间一般", "还可以吧"]
    assert np.allclose(uncertainty(model, c["text"].tolist(), c["emoji_score"].tolist()),
                       1 - predict_sentiment(model, raw).max(axis=1))
