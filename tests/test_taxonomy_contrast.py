"""Contrast rules (expectation … reality) in the rule mapper and in the batch evidence of the trained mapper."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import write_taxonomy
from voc.errors import ModelError
from voc.taxonomy.contrast import ContrastRules
from voc.taxonomy.evidence import ClauseBatch, RuleEvidence
from voc.taxonomy.learned import CategoryModel
from voc.taxonomy.model import load_taxonomy
from voc.taxonomy.rules import RuleMapper

TAXONOMY = """
name: promise
categories:
  - key: reliability
    name: 信赖度
    cues:
      negative: [发错]
  - key: delivery
    name: 物流
    keywords: [快递]
contrast_rules:
  - category: reliability
    expect: [说好, 说是, 宣传]
    reality: [结果, 却, 实际]
    ignore: [听说是]
    window: 12
    max_clauses: 1
"""


@pytest.fixture()
def promise(tmp_path):
    return write_taxonomy(tmp_path, TAXONOMY)


def mentions(mapper, clauses, scores=None):
    return {m.category: (m.polarity, m.evidence)
            for m in mapper.map_clauses(clauses, scores if scores is not None else [0.0] * len(clauses))}


def test_expectation_against_reality_marks_the_category(promise):
    r = RuleMapper(promise).fit()
    assert mentions(r, ["说是有包间", "到了却安排在大厅"]) == {"reliability": ("negative", "说是…却")}
    assert mentions(r, ["宣传是名师授课实际上课的是助教"]) == {"reliability": ("negative", "宣传…实际")}
    # lexicon evidence comes first when both sit at one place; the contrast adds its vote
    got = r.map_clauses(["说好的快递结果没到"], [0.0])
    assert {m.category for m in got} == {"reliability", "delivery"}


def test_what_does_not_count(promise):
    r = RuleMapper(promise).fit()
    assert mentions(r, ["说是有包间"]) == {}  # no reality phrase
    assert mentions(r, ["结果说是有包间"]) == {}  # reality before expectation
    assert mentions(r, ["听说是网红店", "结果很一般"]) == {}  # an ignored phrase holds the expectation
    assert mentions(r, ["说是有包间", "我们三天前就订了", "到了却没有"]) == {}  # two clause breaks
    assert mentions(r, ["说好一二三四五六七八九十一二三却"]) == {}  # beyond the window
    # a clearly positive reality clause is not a broken promise
    assert mentions(r, ["宣传说很耐用", "实际用起来也很好"], [0.0, 0.8]) == {}
    assert mentions(r, ["宣传说很耐用", "实际用了三天就坏"], [0.0, -0.8])["reliability"][0] == "negative"


def test_contrast_rule_must_name_a_known_category(tmp_path):
    p = write_taxonomy(tmp_path, TAXONOMY.replace("  - category: reliability", "  - category: nosuch"), "bad.yaml")
    with pytest.raises(ModelError, match="nosuch"):
        load_taxonomy(p)
    for bad in ("[]", '[""]', '[" "]'):
        p = write_taxonomy(tmp_path, TAXONOMY.replace("reality: [结果, 却, 实际]", f"reality: {bad}"), "bad2.yaml")
        with pytest.raises(ModelError, match="reality"):
            load_taxonomy(p)


def test_batch_hits_stay_inside_one_comment(promise):
    ev = RuleEvidence(load_taxonomy(promise))
    b = ClauseBatch([["店家说好"], ["结果很好吃"], ["说好的", "结果没有"]], None)
    m = ev.matches(b)
    contrast = m["term"] >= ev.n_lexicon_terms
    assert m["doc"][contrast].tolist() == [2]
    assert ev.terms[int(m["term"][contrast][0])] == "说好…结果"
    assert np.all(np.diff(m["start"]) >= 0)  # still in text order


def test_bundled_rater_rule():
    r = RuleMapper("rater").fit()
    got = {m.category: m.polarity for m in r.predict_mentions(["预计40分钟送达，实际用了一小时二十分钟"])[0]}
    assert got.get("reliability") == "negative"
    assert not ContrastRules(load_taxonomy("touchpoint"))  # the touchpoint taxonomy has none


WORDS = ["说好", "说是", "听说是", "宣传", "结果", "却", "实际", "快递", "发错", "很好", "没到", "，"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8), min_size=1, max_size=4),
       st.lists(st.floats(min_value=-1, max_value=1, allow_nan=False), min_size=12, max_size=12))
def test_trained_mapper_finds_contrasts_as_the_rules(tmp_path_factory, docs, pool):
    """With every category left to the rules, the trained mapper's batch evidence gives the rule mapper's
    mentions, evidence included."""
    path = write_taxonomy(tmp_path_factory.mktemp("t"), TAXONOMY)
    texts = ["说好的快递结果没到", "快递很好", "说是很好却发错"]
    m = CategoryModel(path, min_df=1, max_features=500, cv=2).fit(texts * 2, [""] * 6, weak=texts * 2)
    assert not m.use_model_.any()
    r = RuleMapper(path).fit()
    clauses = [[c for c in "".join(d).split("，") if c] for d in docs]
    scores = [[pool[(i + j) % len(pool)] for j in range(len(c))] for i, c in enumerate(clauses)]
    got = [{(x.category, x.polarity, x.evidence, x.clause) for x in ms} for ms in m.map_batch(clauses, scores)]
    want = [{(x.category, x.polarity, x.evidence, x.clause) for x in r.map_clauses(c, s)}
            for c, s in zip(clauses, scores)]
    assert got == want


@pytest.mark.parametrize("text, msg", [
    ("name: t\ncategories: []\n", "at least one category"),
    ("name: t\nstages: [{key: a, name: A}, {key: a, name: B}]\ncategories: [{key: x, name: X, keywords: [房间]}]\n",
     "duplicate stage keys"),
    ("name: t\ncategories: [{key: x, name: X}]\n", "no keywords and no cues"),
    ("name: t\ncategories: [{key: x, name: X, keywords: [''], cues: {negative: [' ']}}]\n", "no keywords and no cues"),
    ("name: t\ncategories: [{key: x, name: X, keywords: [房间}]\n", "not valid YAML at line 2"),
])
def test_taxonomy_file_mistakes_are_one_sentence(tmp_path, text, msg):
    p = tmp_path / "bad.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ModelError, match=msg):
        load_taxonomy(str(p))
