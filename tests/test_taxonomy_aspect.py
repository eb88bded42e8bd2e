"""Aspect opinion words: a keyword's polarity from the category opinion word that follows it in its clause."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import write_taxonomy
from voc.errors import ModelError
from voc.taxonomy.aspect import AspectOpinions
from voc.taxonomy.evidence import ClauseBatch, RuleEvidence
from voc.taxonomy.model import load_taxonomy
from voc.taxonomy.rules import RuleMapper

# A small taxonomy written for these tests: 高 is bad after 价格 and good after 性价比.
TAXONOMY = """
name: mini-price
categories:
  - key: price
    name: 价格
    keywords: [价格, 性价比]
    opinions:
      - after: [价格]
        negative: [偏高, 贵, 不便宜]
        positive: [便宜, 不贵]
      - after: [性价比]
        positive: [高]
        negative: [低, 不高]
  - key: room
    name: 房间
    keywords: [房间]
"""


@pytest.fixture()
def mini(tmp_path):
    return write_taxonomy(tmp_path, TAXONOMY)


def polarity(mapper, text: str, score: float = 0.5) -> dict[str, str]:
    """Mentions of a one-clause comment whose clause sentiment is ``score``."""
    return {m.category: m.polarity for m in mapper.map_clauses([text], [score])}


@pytest.mark.parametrize("text, want", [
    ("价格比较偏高", "negative"),      # the clause reads positive, the opinion word decides
    ("价格并不贵", "positive"),        # a negator between keyword and opinion flips it
    ("价格不贵", "positive"),          # an opinion word that starts with a negator is not flipped
    ("价格不便宜", "negative"),
    ("性价比高", "positive"),
    ("性价比不是很高", "negative"),
    ("性价比不高", "negative"),
    ("说到价格", "positive"),          # no opinion word: the clause's score
])
def test_opinion_word_after_the_keyword_decides(mini, text, want):
    assert polarity(RuleMapper(mini).fit(), text) == {"price": want}


def test_opinion_words_only_act_after_their_keywords_and_within_the_window(mini):
    r = RuleMapper(mini).fit()
    assert polarity(r, "房间偏高") == {"room": "positive"}           # no rule for 房间
    assert polarity(r, "偏高的价格") == {"price": "positive"}          # before the keyword: no effect
    assert polarity(r, "价格这个东西说起来其实也就偏高") == {"price": "positive"}  # beyond the window
    assert polarity(r, "偏高") == {}                                    # opinion words never mark a category
    # an opinion word in another clause does not reach the keyword
    assert {m.category: m.polarity for m in r.map_clauses(["说到价格", "偏高"], [0.5, 0.5])} == {"price": "positive"}


def test_batch_evidence_gives_the_keyword_the_same_vote(mini):
    tax = load_taxonomy(mini)
    texts = [["价格比较偏高"], ["价格并不贵"], ["性价比不是很高"], ["房间偏高"], ["说到价格"]]
    b = ClauseBatch(texts, [[0.5]] * len(texts))
    m = RuleEvidence(tax).matches(b)
    assert m["score"].tolist() == [-1.0, 1.0, -1.0, 0.5, 0.5]


@settings(max_examples=60, deadline=None)
@given(filler=st.text(alphabet="的了呢吧啊这那些其实说起来总体", max_size=10),
       word=st.sampled_from(["偏高", "贵", "便宜"]))
def test_window_and_sign_for_any_filler(filler, word):
    tax = load_taxonomy("touchpoint")
    a = AspectOpinions(tax)
    ci = tax.keys.index("price_value")
    clause = "价格" + filler + word
    got = a.score(ci, "价格", clause, 2)
    want = {"偏高": -1.0, "贵": -1.0, "便宜": 1.0}[word]
    assert got == (want if len(filler) <= a.window else None)


def test_bundled_price_opinions_fix_a_high_price_read_as_praise():
    r = RuleMapper("touchpoint").fit()
    got = polarity(r, "但是961元的价钱好象高了点", 0.45)
    assert got["price_value"] == "negative"
    assert polarity(r, "性价比很高", 0.6)["price_value"] == "positive"


def test_opinion_rule_fields_are_validated(tmp_path):
    p = write_taxonomy(tmp_path, TAXONOMY.replace("positive: [高]", "good: [高]"), "bad.yaml")
    with pytest.raises(ModelError, match="invalid"):
        load_taxonomy(p)
    assert not AspectOpinions(load_taxonomy("rater"))  # a taxonomy without opinions compiles to nothing


def test_batch_evidence_matches_english_terms_as_whole_words():
    from voc.taxonomy.model import load_taxonomy

    ev = RuleEvidence(load_taxonomy("touchpoint"))
    b = ClauseBatch([["今天很happy"], ["apple watch很好用"], ["用app下单很方便"], ["apps经常闪退"]], None)
    m = ev.matches(b)
    found = {(int(d), ev.terms[int(t)]) for d, t in zip(m["doc"], m["term"])}
    assert not any(term in ("app", "apps") for d, term in found if d < 2)
    assert (2, "app") in found and (3, "apps") in found
