"""voc train and voc eval on user files: clear errors, encodings, --dev, --out safety, model cards."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import BANK_ROWS, BANK_YAML
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


# --------------------------------------------------------------------------- 2, 6, 7: a category model of one's own



def write_bank(tmp_path: Path, name: str, n: int, prefix: str) -> Path:
    p = tmp_path / name
    p.write_text("id,text,sentiment,bank\n" + "".join(f"{prefix}{i},{t},{s},{b}\n"
                                                       for i, (t, s, b) in enumerate(BANK_ROWS * n)),
                 encoding="utf-8")
    return p


def test_train_category_uses_dev_unlabelled_text_column_and_describes_its_own_data(tmp_path):
    import json

    from tests.conftest import write_taxonomy

    tax = write_taxonomy(tmp_path, BANK_YAML, "bank.yaml")
    gold = write_bank(tmp_path, "mybank.csv", 6, "b")
    dev = write_bank(tmp_path, "mybank_dev.csv", 2, "d")
    unl = tmp_path / "unl.csv"
    unl.write_text("编号,评论内容\n1,网点排队太久\n2,手机银行转账很快\n", encoding="gbk")
    out = tmp_path / "models_my" / "bank1"
    args = ["train", "--task", tax, "--data", str(gold), "--dev", str(dev), "--unlabelled", str(unl),
            "--out", str(out), "min_df=1", "cv=2"]
    r = runner.invoke(app, args)
    assert_clean_error(r, "unl.csv has no 'text' column", "评论内容", "--text-column")
    r = runner.invoke(app, args + ["--text-column", "评论内容"])
    assert r.exit_code == 0, r.output
    assert not r.stdout.lstrip().startswith("{") and "dev mybank_dev.csv" in r.stdout and "rules" in r.stdout
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["unlabelled"] == 2
    dev_res = metrics["dev"]["mybank_dev.csv"]
    assert dev_res["rules"]["n"] == dev_res["model"]["n"] == 10 and dev_res["rules"]["micro_f1"] == 1.0
    assert dev_res["overlap_with_training"] == 10  # the same texts as the gold: flagged as optimistic
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert card.startswith("# bank1: trained") and "mapper: bank1" in card
    assert "hotel and shopping" not in card and "`mybank.csv`" in card
    assert "Dev file `mybank_dev.csv`" in card and "optimistic" in card
    assert "--dev" in (out / "config.yaml").read_text(encoding="utf-8")
    # --json: exactly one JSON object, the metrics
    r = runner.invoke(app, args + ["--text-column", "评论内容", "--overwrite", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["dev"]["mybank_dev.csv"]["rules"]["micro_f1"] == 1.0
    # a dev file with a key the taxonomy lacks is refused before training
    bad = tmp_path / "bad_dev.csv"
    bad.write_text("id,text,sentiment,bank\nx1,网点很好,positive,atm:positive\n", encoding="utf-8")
    r = runner.invoke(app, ["train", "--task", tax, "--data", str(gold), "--dev", str(bad), "--out",
                            str(tmp_path / "m2"), "min_df=1", "cv=2"])
    assert_clean_error(r, "bad_dev.csv", "['atm']")
    assert not (tmp_path / "m2").exists()


def test_text_column_needs_unlabelled_and_unlabelled_needs_a_category_task(tmp_path):
    sent = write_sent(tmp_path / "s.csv", SENT * 3)
    r = runner.invoke(app, ["train", "-t", "sentiment", "-d", str(sent), "-o", str(tmp_path / "m"),
                            "--text-column", "评论"])
    assert_clean_error(r, "--text-column", "--unlabelled")
    r = runner.invoke(app, ["train", "-t", "sentiment", "-d", str(sent), "-o", str(tmp_path / "m"),
                            "--unlabelled", str(sent)])
    assert_clean_error(r, "--unlabelled", "drop it")
    r = runner.invoke(app, ["train", "-t", "rater", "-d", str(sent), "-o", str(tmp_path / "m"),
                            "--neutral-data", str(sent)])
    assert_clean_error(r, "--neutral-data", "--dev")  # it was silently ignored for category tasks


# --------------------------------------------------------------------------- 5, 6, 7: sentiment, --out safety


def test_train_sentiment_summary_overwrite_and_card(tmp_path):
    import json

    sent = write_sent(tmp_path / "mine.csv", SENT * 4)
    out = tmp_path / "sent1"
    args = ["train", "-t", "sentiment", "-d", str(sent), "-o", str(out), "--dev", str(sent), "min_df=1", "cv=2"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "trained on 16 rows (negative 8, positive 8)" in r.stdout and "dev mine.csv: n 16" in r.stdout
    assert not r.stdout.lstrip().startswith("{")
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Trained on `mine.csv` only" in card and "Trained on hotel and shopping" not in card
    before = (out / "meta.json").read_text(encoding="utf-8")
    r = runner.invoke(app, args)
    assert_clean_error(r, "already holds a model", "--overwrite")
    assert (out / "meta.json").read_text(encoding="utf-8") == before
    r = runner.invoke(app, args + ["--overwrite", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["train_rows"] == 16
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("评论,标签\n好,positive\n", encoding="utf-8")
    r = runner.invoke(app, ["train", "-t", "sentiment", "-d", str(wrong), "-o", str(tmp_path / "w")])
    assert_clean_error(r, "lacks column(s) text, label", "it has 评论, 标签")


def test_out_folder_check_protects_models_and_voc_s_own_folders(tmp_path):
    from voc.classify.modelio import check_out_folder
    from voc.classify.registry import project_root
    from voc.errors import ConfigError

    models = project_root() / "models"
    with pytest.raises(ConfigError, match="voc's own models/rater-tfidf folder"):
        check_out_folder(models / "rater-tfidf")
    with pytest.raises(ConfigError, match="voc's own models/labels folder"):
        check_out_folder(models / "labels")
    with pytest.raises(ConfigError, match="voc's own models/ folder"):
        check_out_folder(models)
    check_out_folder(models / "rater-tfidf", overwrite=True)
    check_out_folder(models / "my-new-model")  # a new folder under models/ is fine
    (tmp_path / "m").mkdir()
    check_out_folder(tmp_path / "m")  # an existing folder without a model is fine
    (tmp_path / "m" / "meta.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="already holds a model"):
        check_out_folder(tmp_path / "m")
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="is a file"):
        check_out_folder(tmp_path / "f", overwrite=True)
