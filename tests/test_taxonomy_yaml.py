"""Taxonomy files: unquoted numbers in term lists are read as the text they were written as."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import write_taxonomy
from voc.errors import ModelError
from voc.taxonomy.model import Taxonomy, load_taxonomy
from voc.taxonomy.rules import RuleMapper

NUMBERS = """
name: hotlines
categories:
  - key: hotline
    name: 10086客服
    keywords: [10086, 客服, 010, 95588, 12:30, 1.50, 1e3, 0x1F, ~]
    cues:
      negative: [12345]
    opinions:
      - after: [10086]
        negative: [打不通]
  - key: 10010
    name: 10010
    keywords: [联通]
ignore: [100860]
context_rules:
  - category: hotline
    generic: [95588]
    when_any: [110]
contrast_rules:
  - category: hotline
    expect: [说好, 400]
    reality: [结果]
"""


def test_unquoted_numbers_are_kept_as_written(tmp_path):
    tax = load_taxonomy(write_taxonomy(tmp_path, NUMBERS))
    hot = tax.category("hotline")
    # YAML 1.1 reads 010 as 8, 12:30 as 750 and 0x1F as 31: the loader keeps the source text
    assert hot.keywords == ["10086", "客服", "010", "95588", "12:30", "1.50", "1e3", "0x1F"]
    assert hot.cues.negative == ["12345"] and hot.opinions[0].after == ["10086"]
    assert tax.keys == ["hotline", "10010"] and tax.category("10010").name == "10010"
    assert tax.ignore == ["100860"] and tax.context_rules[0].generic == ["95588"]
    assert tax.context_rules[0].when_any == ["110"] and tax.contrast_rules[0].expect == ["说好", "400"]
    assert tax.contrast_rules[0].window == 30  # numeric fields stay numbers


def test_numeric_keyword_matches(tmp_path):
    r = RuleMapper(write_taxonomy(tmp_path, NUMBERS)).fit()
    mentions = r.map_clauses(["打10086一直没人接"], [-0.8])
    assert [m.category for m in mentions] == ["hotline"]


def test_boolean_term_says_to_quote_it(tmp_path):
    p = write_taxonomy(tmp_path, """
        name: t
        categories:
          - key: a
            name: 甲
            keywords: [好, yes]
        """)
    with pytest.raises(ModelError) as e:
        load_taxonomy(p)
    msg = str(e.value)
    assert "categories.0.keywords" in msg and "quotes" in msg and "Value error" not in msg


@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=5))
@settings(max_examples=40, deadline=None)
def test_numbers_given_from_python_become_their_text(nums):
    tax = Taxonomy.model_validate({"name": "t", "categories": [{"key": "a", "name": "甲", "keywords": nums}]})
    assert tax.categories[0].keywords == [str(n) for n in nums]
