"""Context handling of the category mappers: ignore phrases, context rules, negation of cues, opinion supplement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import write_taxonomy
from voc.errors import ModelError
from voc.taxonomy.context import SUPPLEMENT_RE, supplement_flat, supplement_score
from voc.taxonomy.evaluate import prepare
from voc.taxonomy.evidence import ClauseBatch
from voc.taxonomy.learned import CategoryModel
from voc.taxonomy.model import load_taxonomy
from voc.taxonomy.rules import RuleMapper

# A small taxonomy written for these tests.
TAXONOMY = """
name: mini
categories:
  - key: product
    name: 商品
    keywords: [东西, 苹果]
    cues:
      negative: [假的, 坏的, 不好吃]
      positive: [好吃]
  - key: staff
    name: 现场服务
    keywords: [服务, 前台]
    cues:
      positive: [服务很好]
  - key: remote
    name: 客服
    keywords: [客服, 卖家]
ignore: [度假]
context_rules:
  - category: staff
    generic: [服务, 服务很好]
    move_to: remote
    when_any: [卖家, 快递, 客服]
    unless_any: [前台]
"""


@pytest.fixture()
def mini(tmp_path):
    return write_taxonomy(tmp_path, TAXONOMY)


def cats(mapper, text: str) -> dict[str, str]:
    return {m.category: m.polarity for m in mapper.predict_mentions([text])[0]}


def test_ignore_phrase_blocks_shorter_term(mini):
    r = RuleMapper(mini).fit()
    assert cats(r, "这是个度假的好地方") == {}
    assert cats(r, "东西是假的") == {"product": "negative"}


def test_context_rule_moves_generic_mention(mini):
    r = RuleMapper(mini).fit()
    assert cats(r, "服务很好") == {"staff": "positive"}
    assert cats(r, "卖家服务很好") == {"remote": "positive"}
    # an in-person word keeps it; specific evidence (前台) is not generic
    assert "staff" in cats(r, "卖家发货快，前台服务很好")


def test_context_rule_drops_when_target_present(mini):
    r = RuleMapper(mini).fit()
    got = r.predict_mentions(["客服服务很好"])[0]
    assert [m.category for m in got] == ["remote"]


def test_context_rule_must_name_known_categories(tmp_path):
    p = write_taxonomy(tmp_path, TAXONOMY.replace("move_to: remote", "move_to: nosuch"), "bad.yaml")
    with pytest.raises(ModelError, match="nosuch"):
        load_taxonomy(p)


def test_negated_negative_cue_only_votes(mini):
    r = RuleMapper(mini).fit()
    assert cats(r, "没有坏的") == {}
    # with other evidence the negated cue still votes positive
    assert cats(r, "苹果没有坏的") == {"product": "positive"}


def test_cue_starting_with_negator_is_not_flipped(mini):
    r = RuleMapper(mini).fit()
    assert cats(r, "不好吃不好吃") == {"product": "negative"}


def test_supplement_gives_neutral_clause_a_polarity():
    assert supplement_score("手续费合理", 0.0) > 0.15
    assert supplement_score("手续费不合理", 0.0) < -0.15
    assert supplement_score("价格偏高", 0.0) < -0.15
    assert supplement_score("没有什么", 0.0) == 0.0
    r = RuleMapper("touchpoint").fit()
    assert cats(r, "转账手续费合理")["price_value"] == "positive"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="合理偏高不很的价格手续费好差，", max_size=12),
       st.floats(min_value=-1, max_value=1, allow_nan=False))
def test_supplement_keeps_opinionated_scores(text, score):
    out = supplement_score(text, score)
    if abs(score) > 0.15 or SUPPLEMENT_RE.search(text) is None:
        assert out == score
    else:
        assert abs(out) > 0.15
    # the batch version agrees with the clause version
    b = ClauseBatch([[text]] if text else [[]], [[score]] if text else [[]])
    if text:
        assert b.scores[0] == pytest.approx(out)
        flat = supplement_flat(b.big, b.clause_of, b.clause_start, np.array([score]))
        assert flat[0] == pytest.approx(out)


def test_trained_model_detects_as_the_rules(mini):
    texts = ["东西是假的", "卖家服务很好", "服务很好", "这是个度假的好地方", "苹果没有坏的", "不好吃不好吃",
             "前台服务很好", "客服服务很好"] * 2
    labels = [""] * len(texts)
    m = CategoryModel(mini, min_df=1, max_features=2000, cv=2).fit(texts, labels, weak=texts)
    assert not m.use_model_.any()
    p = prepare(texts)
    r = RuleMapper(mini).fit()
    got = [sorted(x.category for x in ms) for ms in m.map_batch(p.clauses, p.scores)]
    want = [sorted(x.category for x in r.map_clauses(c, s)) for c, s in zip(p.clauses, p.scores)]
    assert got == want
    assert got[1] == ["remote"] and got[3] == [] and got[0] == ["product"]


@pytest.mark.parametrize("taxonomy, category", [("rater", "responsiveness"), ("touchpoint", "delivery")])
def test_time_not_yet_reached_is_not_a_late_delivery(taxonomy, category):
    """入住时间还没到 (check-in time not reached) must not read as 还没到 (still not arrived)."""
    p = prepare(["入住时间还没到，前台让我们先去餐厅休息", "等了一个小时外卖还没到"])
    rules = RuleMapper(taxonomy).fit()
    found = [{m.category for m in rules.map_clauses(c, s)} for c, s in zip(p.clauses, p.scores)]
    assert category not in found[0] and category in found[1]


@pytest.mark.parametrize("text, negated_expected", [
    ("七天无理由退货很方便", False),   # 无理由 (no-questions-asked returns) negates nothing
    ("无法退货很方便", True),         # a real negator still counts
    ("没有退货很方便", True),
])
def test_wu_li_you_is_not_a_negator(text, negated_expected):
    from voc.text.matcher import negated

    assert negated(text, text.index("退货很方便")) is negated_expected


@pytest.mark.parametrize("text, want, not_want", [
    ("申请退款三天了还没到账", "ordering_payment", "delivery"),     # 还没到账 is money, not a parcel
    ("客服机器人答非所问", "customer_service", "product_quality"),  # a chat bot is not the product
    ("提前一周就订了位置，结果到店没有预留", None, "location"),     # a booked seat is not the location
])
def test_touchpoint_lexicon_cases(text, want, not_want):
    got = cats(RuleMapper("touchpoint").fit(), text)
    assert (want is None or want in got) and not_want not in got


def test_neutral_keyword_clause_takes_the_next_clauses_verdict(mini):
    r = RuleMapper(mini).fit()
    got = lambda clauses, scores: {m.category: m.polarity for m in r.map_clauses(clauses, scores)}  # noqa: E731
    assert got(["苹果是昨天买的", "挺甜的"], [0.0, 0.7]) == {"product": "positive"}
    assert got(["苹果是昨天买的", "很失望"], [0.0, -0.7]) == {"product": "negative"}
    assert got(["苹果是昨天买的", "挺甜的"], [0.3, -0.7]) == {"product": "positive"}  # its own verdict wins
    assert got(["苹果是昨天买的", "前台很冷淡"], [0.0, -0.7])["product"] == "neutral"  # next names its own
    assert got(["苹果是昨天买的", "就这样"], [0.0, 0.05]) == {"product": "neutral"}
    # the trained mapper's batch evidence gives the same
    texts = ["苹果是昨天买的"] * 4
    m = CategoryModel(mini, min_df=1, max_features=500, cv=2).fit(texts, [""] * 4, weak=texts)
    batch = m.map_batch([["苹果是昨天买的", "挺甜的"], ["苹果是昨天买的", "前台很冷淡"]], [[0.0, 0.7], [0.0, -0.7]])
    assert [{x.category: x.polarity for x in ms} for ms in batch] == [
        {"product": "positive"}, {"product": "neutral", "staff": "negative"}]


def test_next_clause_verdict_uses_the_batch_band(mini):
    """A trained mapper's own neutral band decides which keyword clauses are neutral and which next
    clauses are polar, not the rules' 0.15."""
    from voc.taxonomy.evidence import RuleEvidence, next_clause_verdict

    ev = RuleEvidence(load_taxonomy(mini))
    for band, want in ((0.15, [0.2]), (0.3, [0.7]), (0.8, [0.2])):
        b = ClauseBatch([["苹果是昨天买的", "挺甜的"]], [[0.2, 0.7]], band)
        m = ev.matches(b)
        assert next_clause_verdict(b, m, b.band).tolist() == want == m["vote_score"].tolist()


def test_opinion_phrases_agree_with_their_mention():
    from voc.taxonomy.opinion import OpinionExtractor

    o = OpinionExtractor()
    assert o.phrase("送餐太慢了", "送餐", polarity="negative") == "送餐-太慢"
    assert o.phrase("房间不太干净", "房间", polarity="negative") == "房间-不太干净"  # negator kept, sign flipped
    assert o.phrase("网点服务不错", "网点", polarity="positive") == "网点-不错"
    assert o.phrase("网点服务不错", "网点", polarity="negative") == ""            # not shown as a complaint
    assert o.phrase("说好的存单利率", "存单") == ""                                # 说好 is "agreed", not praise
    assert o.phrase("网点服务不错", "网点") == "网点-不错"                          # without a polarity, nearest
    assert o.phrase("菜品大家都说好吃", "菜品") == "菜品-好吃"                      # 说好吃 is praise


def test_cancelling_votes_go_to_the_clearly_stronger_side(mini):
    """GUIDELINES: mixed views on one category, the side that dominates; a tie of one strong and one weak
    clause is not neutral (a telecom analyst's 信号很好,走到哪儿都满格 came out neutral)."""
    from voc.taxonomy.rules import vote_polarity

    assert vote_polarity(0.0, 0.61) == "positive" and vote_polarity(0.0, -0.5) == "negative"
    assert vote_polarity(0.0, 0.1) == "neutral"  # neither side dominates
    assert vote_polarity(1.0, -5.0) == "positive"  # the votes decide when they do not cancel
    r = RuleMapper(mini).fit()
    got = lambda clauses, scores: {m.category: m.polarity for m in r.map_clauses(clauses, scores)}  # noqa: E731
    assert got(["苹果很甜", "苹果有点小"], [0.79, -0.18]) == {"product": "positive"}
    assert got(["苹果很甜", "苹果太小"], [0.5, -0.45]) == {"product": "neutral"}
    # the trained mapper without a polarity model decides the same way
    texts = ["苹果是昨天买的"] * 4
    m = CategoryModel(mini, min_df=1, max_features=500, cv=2).fit(texts, [""] * 4, weak=texts)
    assert m.pol_coef_ is None
    batch = m.map_batch([["苹果很甜", "苹果有点小"], ["苹果很甜", "苹果太小"]], [[0.79, -0.18], [0.5, -0.45]])
    assert [{x.category: x.polarity for x in ms} for ms in batch] == [{"product": "positive"},
                                                                   {"product": "neutral"}]
