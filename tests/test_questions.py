"""Plain-question detection shared by the category rules and the sentiment model's neutral cue."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from voc.classify.tfidf import TfidfSentiment, text_cues
from voc.text.questions import question_share


def test_question_share_counts_plain_questions_only():
    assert question_share("请问有没有接机服务?") == 1.0
    assert question_share("你们几点开门？") == 1.0  # a question mark alone makes a plain question
    assert question_share("房间很干净，请问有没有接机服务?") == 0.5
    for rhetorical in ("为什么还不发货?", "难道不用送上门吗？", "包装都没有吗", "怎么还没到？"):
        assert question_share(rhetorical) == 0.0, rhetorical
    assert question_share("味道很好") == 0.0 and question_share("") == 0.0 and question_share("？？") == 0.0


@given(st.text(max_size=60))
def test_question_share_is_a_share(text):
    s = question_share(text)
    assert 0.0 <= s <= 1.0


def test_text_cues_mild_and_question_columns():
    cues = text_cues(["一般般吧", "请问几点退房?", "为什么还不退款?", "很好"])
    np.testing.assert_array_equal(cues, [[1, 0], [0, 1], [0, 0], [0, 0]])


def test_question_boost_makes_plain_questions_neutral():
    pos = ["房间很干净", "服务很好", "前台热情", "早餐丰富"] * 3
    neg = ["房间很脏", "服务很差", "前台冷漠", "早餐难吃"] * 3
    m = TfidfSentiment(min_df=1, cv=2, neutral_threshold=0.5, mild_boost=0.0, question_boost=0.5).fit(
        pos + neg, ["positive"] * 12 + ["negative"] * 12)
    p = m.predict_proba(["请问早餐几点开始?", "为什么早餐很差?"])
    assert m.classes_[p[0].argmax()] == "neutral" and m.classes_[p[1].argmax()] == "negative"
