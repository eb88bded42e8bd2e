"""voc train and voc eval on user files: clear errors, encodings, --dev, --out safety, model cards."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voc.cli.main import app
from voc.errors import InputError

runner = CliRunner()

# Short comments written for these tests, labelled by GUIDELINES.md (id,text,sentiment,rater,touchpoint).
GOLD = [
    ("g-01", "送餐太慢了，等了一个多小时", "negative", "responsiveness:negative", "delivery:negative"),
    ("g-02", "味道不错，价格也实惠", "positive", "", "product_quality:positive;price_value:positive"),
    ("g-03", "包装破损，汤洒了一半", "negative", "tangibles:negative", "packaging:negative"),
    ("g-04", "快递很快，第二天就到了", "positive", "responsiveness:positive", "delivery:positive"),
    ("g-05", "服务员态度很差，说话难听", "negative", "assurance:negative", "staff_service:negative"),
    ("g-06", "客服解答很专业，让人放心", "positive", "assurance:positive", "customer_service:positive"),
]
SENT = [("房间很干净，服务很好", "positive"), ("送餐太慢，菜都凉了", "negative"), ("味道不错，推荐", "positive"),
        ("客服不回复，差评", "negative")]


def write_gold(path: Path, rows=GOLD, encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(("id", "text", "sentiment", "rater", "touchpoint"))
        w.writerows(rows)
    return path


def write_sent(path: Path, rows=SENT, encoding: str = "utf-8") -> Path:
    path.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows), encoding=encoding)
    return path


def assert_clean_error(r, *needles):
    """Exit code 2, one ``error:`` line, no traceback."""
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
    text = " ".join(r.output.split())
    assert text.startswith("error:"), r.output
    for n in needles:
        assert n in text, r.output


# --------------------------------------------------------------------------- 1: sentiment data it cannot learn


def test_train_sentiment_single_class_or_no_rows_is_one_clear_error(tmp_path):
    single = write_sent(tmp_path / "single.csv", [(t, "positive") for t, _ in SENT])
    r = runner.invoke(app, ["train", "-t", "sentiment", "-d", str(single), "-o", str(tmp_path / "m")])
    assert_clean_error(r, "no negative examples", "positive 4")
    header = tmp_path / "header.csv"
    header.write_text("text,label\n", encoding="utf-8")
    r = runner.invoke(app, ["train", "-t", "sentiment", "-d", str(header), "-o", str(tmp_path / "m")])
    assert_clean_error(r, "no labelled rows")
    neutral = write_sent(tmp_path / "neu.csv", [(t, "neutral") for t, _ in SENT])
    r = runner.invoke(app, ["train", "-t", "sentiment", "-d", str(neutral), "-o", str(tmp_path / "m")])
    assert_clean_error(r, "no positive or negative examples")
    assert not (tmp_path / "m").exists()


# --------------------------------------------------------------------------- 3: unknown category keys


def test_train_with_unknown_category_key_is_the_same_clean_error_as_eval(tmp_path):
    rows = [r[:4] + ("deliverry:negative",) if r[0] == "g-01" else r for r in GOLD] * 2
    rows = [(f"{r[0]}-{i}",) + r[1:] for i, r in enumerate(rows)]
    gold = write_gold(tmp_path / "bad.csv", rows)
    r = runner.invoke(app, ["eval", "--model", "rules", "--data", str(gold), "--task", "touchpoint"])
    assert_clean_error(r, "['deliverry']", "does not define")
    r = runner.invoke(app, ["train", "-t", "touchpoint", "-d", str(gold), "-o", str(tmp_path / "m")])
    assert_clean_error(r, "['deliverry']", "does not define", "bad.csv")


def test_extra_gold_with_unknown_key_is_refused(tmp_path):
    from voc.taxonomy.train import load_training_gold

    gold = write_gold(tmp_path / "gold.csv", GOLD * 1)
    extra = write_gold(tmp_path / "extra.csv", [("x-1", "骑手很快", "positive", "", "deliver:positive")])
    with pytest.raises(InputError, match="extra.csv.*'deliver'"):
        load_training_gold("touchpoint", gold, [extra], 0.4)


# --------------------------------------------------------------------------- 4: encodings of label files


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_label_and_unlabelled_files_read_in_any_supported_encoding(tmp_path, encoding):
    from voc.classify.evaluate import run_eval
    from voc.taxonomy.evaluate import load_gold
    from voc.taxonomy.train import load_unlabelled

    gold = write_gold(tmp_path / "gold.csv", encoding=encoding)
    df = load_gold(gold, ("touchpoint",))
    assert df["text"].tolist() == [r[1] for r in GOLD]
    assert run_eval("touchpoint", "rules", gold)["n"] == len(GOLD)
    unl = tmp_path / "unl.csv"
    unl.write_text("id,text\nu1,外卖送到已经凉了\nu2,客服态度很好，耐心解答\ng-01,送餐太慢了，等了一个多小时\n",
                   encoding=encoding)
    assert load_unlabelled([unl], exclude_ids=["g-01"]) == ["外卖送到已经凉了", "客服态度很好，耐心解答"]


def test_unreadable_label_file_is_one_clear_error(tmp_path):
    from voc.taxonomy.evaluate import load_gold
    from voc.taxonomy.train import load_unlabelled

    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,text,touchpoint\n1,\"unterminated\n")
    with pytest.raises(InputError, match="not a readable CSV"):
        load_gold(bad)
    with pytest.raises(InputError, match="unlabelled file .* not a readable CSV"):
        load_unlabelled([bad])
