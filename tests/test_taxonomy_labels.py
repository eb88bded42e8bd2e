"""Extra gold labels stored without text, the committed label files, and the training data assembly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from voc.errors import InputError
from voc.taxonomy.evaluate import load_gold, parse_labels
from voc.taxonomy.labels import LABEL_COLUMNS, load_extra_gold, text_sha1
from voc.taxonomy.model import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "models" / "labels"


@pytest.fixture()
def data_dir(tmp_path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    pd.DataFrame({"id": ["hotel-1", "hotel-2", "hotel-3"], "text": ["房间很干净", "前台很热情", "早餐一般"],
                  "label": ["positive"] * 3}).to_csv(d / "hotel_x.csv", index=False)
    return d


def write_labels(path: Path, rows) -> Path:
    pd.DataFrame(rows, columns=list(LABEL_COLUMNS)).to_csv(path, index=False)
    return path


def test_load_extra_gold_joins_text(data_dir, tmp_path):
    p = write_labels(tmp_path / "l.csv", [
        ("hotel_x.csv", "hotel-2", text_sha1("前台很热情"), "positive", "assurance:positive", "staff_service:positive"),
        ("hotel_x.csv", "hotel-1", text_sha1("房间很干净"), "positive", "tangibles:positive", ""),
    ])
    df = load_extra_gold(p, data_dir, strict=True)
    assert df["text"].tolist() == ["前台很热情", "房间很干净"]
    assert df["domain"].tolist() == ["hotel", "hotel"] and df["touchpoint"].iloc[1] == ""


def test_load_extra_gold_drops_changed_or_missing_rows(data_dir, tmp_path):
    p = write_labels(tmp_path / "l.csv", [
        ("hotel_x.csv", "hotel-1", text_sha1("别的文字"), "positive", "", ""),
        ("hotel_x.csv", "hotel-9", text_sha1("房间很干净"), "positive", "", ""),
        ("nofile.csv", "hotel-1", text_sha1("房间很干净"), "positive", "", ""),
        ("hotel_x.csv", "hotel-3", text_sha1("早餐一般"), "neutral", "", "product_quality:neutral"),
    ])
    assert load_extra_gold(p, data_dir)["id"].tolist() == ["hotel-3"]
    with pytest.raises(InputError):
        load_extra_gold(p, data_dir, strict=True)


def test_load_extra_gold_errors(data_dir, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_extra_gold(tmp_path / "none.csv", data_dir)
    p = tmp_path / "bad.csv"
    pd.DataFrame({"file": ["hotel_x.csv"], "id": ["hotel-1"]}).to_csv(p, index=False)
    with pytest.raises(InputError, match="text_sha1"):
        load_extra_gold(p, data_dir)


def _check_labels(df: pd.DataFrame) -> None:
    keys = {t: set(load_taxonomy(t).keys) for t in ("rater", "touchpoint")}
    assert set(df["sentiment"]) <= {"positive", "neutral", "negative"}
    for t, k in keys.items():
        for s in df[t]:
            assert set(parse_labels(s)) <= k, s


@pytest.mark.parametrize("name", ["extra_gold.csv", "extra_gold2.csv"])
def test_committed_extra_gold_has_no_text(name):
    df = pd.read_csv(LABELS / name, dtype=str, keep_default_na=False)
    assert list(df.columns) == list(LABEL_COLUMNS) and "text" not in df.columns
    assert len(df) >= 300 and df["id"].is_unique
    assert df["text_sha1"].str.fullmatch(r"[0-9a-f]{12}").all()
    _check_labels(df)


def test_extra_gold_files_label_different_comments():
    ids = [pd.read_csv(LABELS / n, dtype=str)["id"] for n in ("extra_gold.csv", "extra_gold2.csv")]
    assert not set(ids[0]) & set(ids[1])


@pytest.mark.parametrize("name", ["ood_check.csv", "ood_check2.csv"])
def test_committed_check_file_is_valid(name):
    df = load_gold(LABELS / name, ("rater", "touchpoint"))
    assert len(df) >= 150 and df["id"].is_unique and df["text"].is_unique and df["text"].str.len().min() > 0
    _check_labels(df)


def test_training_gold_adds_extra_to_training_part(data_dir, tmp_path):
    from voc.taxonomy.train import load_training_gold

    gold = data_dir / "gold.csv"
    rows = [(f"shop-{i}", f"评论{i}号很好", "positive", "", "product_quality:positive") for i in range(20)]
    pd.DataFrame(rows, columns=["id", "text", "sentiment", "rater", "touchpoint"]).to_csv(gold, index=False)
    p = write_labels(tmp_path / "l.csv", [
        ("hotel_x.csv", "hotel-1", text_sha1("房间很干净"), "positive", "tangibles:positive", "environment_facilities:positive"),
    ])
    train, held, n = load_training_gold("touchpoint", gold, [p], 0.4)
    assert n == 1 and "hotel-1" in set(train["id"]) and "hotel-1" not in set(held["id"])
    assert len(train) + len(held) == 21


def test_training_gold_takes_extra_files_with_their_own_text(data_dir, tmp_path):
    from voc.taxonomy.train import default_extra_gold, load_training_gold

    gold = data_dir / "gold.csv"
    rows = [(f"shop-{i}", f"评论{i}号很好", "positive", "", "product_quality:positive") for i in range(20)]
    pd.DataFrame(rows, columns=["id", "text", "sentiment", "rater", "touchpoint"]).to_csv(gold, index=False)
    own = tmp_path / "own.csv"  # GUIDELINES format, text included (comments we wrote ourselves)
    pd.DataFrame([("oodt-fd-1", "骑手送得很快", "positive", "responsiveness:positive", "delivery:positive"),
                  ("shop-3", "评论3号很好", "positive", "", "")],  # already in the gold: dropped
                 columns=["id", "text", "sentiment", "rater", "touchpoint"]).to_csv(own, index=False)
    labels = write_labels(tmp_path / "l.csv", [
        ("hotel_x.csv", "hotel-1", text_sha1("房间很干净"), "positive", "tangibles:positive", ""),
    ])
    train, held, n = load_training_gold("touchpoint", gold, [labels, own], 0.4)
    assert n == 2 and {"hotel-1", "oodt-fd-1"} <= set(train["id"])
    assert train.loc[train["id"] == "oodt-fd-1", "touchpoint"].item() == "delivery:positive"
    assert [p.name for p in default_extra_gold()] == ["extra_gold.csv", "extra_gold2.csv", "ood_train.csv",
                                                      "ood_train2.csv", "ood_train3.csv", "ood_train4.csv",
                                                      "ood_train5.csv"]
    with pytest.raises(InputError, match="lacks column"):
        bad = tmp_path / "bad.csv"
        pd.DataFrame({"id": ["x-1"], "text": ["好"]}).to_csv(bad, index=False)
        load_training_gold("touchpoint", gold, [bad], 0.4)


def test_committed_own_files_are_valid():
    for name in ("ood_train.csv", "ood_train2.csv", "ood_train3.csv"):
        train = load_gold(LABELS / name, ("rater", "touchpoint"))
        assert len(train) >= 295 and train["id"].is_unique and train["text"].str.len().min() > 0
        _check_labels(train)
    sx = pd.read_csv(LABELS / "sentiment_extra.csv", dtype=str, keep_default_na=False)
    assert list(sx.columns) == ["id", "text", "label"] and len(sx) >= 1200
    assert sx["id"].is_unique and sx["text"].is_unique and set(sx["label"]) == {"positive", "negative"}
    # our own comments only: none may repeat a check file's text (those measure what training cannot see)
    checks = pd.concat([load_gold(LABELS / f) for f in ("ood_check.csv", "ood_blind.csv", "ood_train.csv")])
    assert not set(sx["text"]) & set(checks["text"])
    # the training files must not contain the check files' comments (boilerplate such as 默认好评 aside)
    own = pd.concat([load_gold(LABELS / f) for f in ("ood_train.csv", "ood_train2.csv", "ood_train3.csv")])
    sx2 = pd.read_csv(LABELS / "sentiment_extra2.csv", dtype=str, keep_default_na=False)
    for check in ("ood_check.csv", "ood_check2.csv", "ood_blind.csv"):
        texts = {t for t in load_gold(LABELS / check)["text"] if len(t) > 4}
        assert not texts & (set(own["text"]) | set(sx["text"]) | set(sx2["text"])), check


def _windows(texts, k: int = 16) -> set[str]:
    return {t[i:i + k] for t in texts for i in range(len(t) - k + 1)}


def test_sentiment_extra3_4_and_blind3_are_valid_and_disjoint_from_every_check_file():
    def read(name):
        df = pd.read_csv(LABELS / name, dtype=str, keep_default_na=False)
        assert list(df.columns) == ["id", "text", "label"], name
        assert df["id"].is_unique and df["text"].is_unique and df["text"].str.len().min() > 0, name
        return df

    sx3, b3 = read("sentiment_extra3.csv"), read("ood_blind3.csv")
    assert len(sx3) == 480 and sx3["label"].value_counts().to_dict() == {"positive": 240, "negative": 240}
    assert len(b3) == 200 and set(b3["label"]) == {"positive", "negative", "neutral"}
    assert sx3["text"].str.len().mean() > 40  # the longer comments the card describes
    sx4 = read("sentiment_extra4.csv")
    assert len(sx4) == 598 and sx4["label"].value_counts().to_dict() == {"positive": 299, "negative": 299}
    training = set(sx3["text"])
    for name in ("sentiment_extra.csv", "sentiment_extra2.csv"):
        training |= set(read(name)["text"])
    assert not set(sx4["text"]) & training  # no duplicate across the training files either
    training |= set(sx4["text"])
    for name in ("ood_train.csv", "ood_train2.csv", "ood_train3.csv"):
        training |= set(load_gold(LABELS / name)["text"])
    checks = set(b3["text"]) | set(read("ood_blind2.csv")["text"])
    for name in ("ood_check.csv", "ood_check2.csv", "ood_check3.csv", "ood_blind.csv"):
        checks |= set(load_gold(LABELS / name)["text"])
    assert not {t for t in checks if len(t) > 4} & training
    check3 = load_gold(LABELS / "ood_check3.csv", ("rater", "touchpoint"))
    assert len(check3) == 194 and check3["id"].is_unique
    _check_labels(check3)
    assert not _windows(check3["text"]) & _windows(training)  # no shared 16-character passage
    # no 16-character passage of a blind comment appears in the newest training file (two writers can
    # share a stock phrase such as 冬天开空调也能跑三百多公里, 14 characters, but not copy a passage)
    assert not _windows(b3["text"]) & (_windows(sx3["text"]) | _windows(sx4["text"]))
    assert not _windows(checks) & _windows(load_gold(LABELS / "ood_train3.csv")["text"])


def test_ood_train5_is_valid_and_shares_no_passage_with_a_check_file():
    own = load_gold(LABELS / "ood_train5.csv", ("rater", "touchpoint"))
    assert len(own) == 200 and own["id"].is_unique and own["text"].is_unique
    _check_labels(own)
    checks = set()
    for name in ("ood_check.csv", "ood_check2.csv", "ood_check3.csv", "ood_blind.csv"):
        checks |= set(load_gold(LABELS / name)["text"])
    for name in ("ood_blind2.csv", "ood_blind3.csv"):
        checks |= set(pd.read_csv(LABELS / name, dtype=str, keep_default_na=False)["text"])
    assert not _windows(checks) & _windows(own["text"])
