"""Cleaning, boilerplate detection, segmentation and clause splitting."""

from __future__ import annotations

import unicodedata

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from voc.config import CleanConfig, SegmentConfig
from voc.text.boilerplate import classify_quality
from voc.text.normalize import TextCleaner, extract_emoji, squeeze_repeats, to_simplified
from voc.text.segment import Segmenter, split_clauses
from voc.text.stages import CleanStage, SegmentStage


def test_full_width_traditional_urls_mentions():
    c = TextCleaner().clean("服務員態度很好！ＡＰＰ１２３ 詳見 http://t.cn/abc123 @客服小美 謝謝")
    assert c.text == "服务员态度很好!app123 详见 谢谢"


def test_emoji_signal_keep_remove():
    c = TextCleaner().clean("太好吃了👍👍 ^_^")
    assert c.text == "太好吃了" and c.emojis == ["^_^", "👍", "👍"] and c.emoji_score == 1.0
    assert TextCleaner(CleanConfig(emoji="keep")).clean("好😡").text == "好😡"
    removed = TextCleaner(CleanConfig(emoji="remove")).clean("差评😡T_T")
    assert removed.text == "差评" and removed.emojis == [] and removed.emoji_score == 0
    assert extract_emoji("气死了😡😡")[2] == -1.0


def test_repeats_are_squeezed_but_digits_kept():
    assert squeeze_repeats("好好好好好好吃啊啊啊啊！！！！！") == "好好好吃啊啊啊！！！"
    assert squeeze_repeats("好吃好吃好吃好吃") == "好吃好吃"
    assert squeeze_repeats("订单8888888") == "订单8888888"


def test_pii_masked_before_anything_is_stored():
    c = TextCleaner().clean("我的电话是１３８１２３４５６７８，邮箱abc@qq.com")
    assert "[手机号]" in c.text and "[邮箱]" in c.text and c.pii == ["email", "phone"]


def test_control_characters_are_dropped():
    assert TextCleaner().clean("服务\x07很好\u200b，\x00谢谢\ufeff").text == "服务很好,谢谢"  # NFKC makes the comma ASCII


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_no_control_characters_survive(text):
    out = TextCleaner().clean(text).text
    assert not any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in out)


def test_t2s():
    assert to_simplified("價格實惠，物流很快") == "价格实惠,物流很快".replace(",", "，")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_cleaner_properties(text):
    out = TextCleaner().clean(text).text
    assert out == out.strip()
    assert "  " not in out
    assert all(unicodedata.normalize("NFKC", ch) == ch or ch in "[]" for ch in out if not ch.isspace())
    assert TextCleaner().clean(out).text == out or len(out) < len(text) + 1  # never grows


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("好好哈啊！。送餐123")), max_size=40))
def test_squeeze_never_leaves_long_runs(text):
    out = squeeze_repeats(text, 3)
    for ch in set(out) - set("0123456789"):
        assert ch * 4 not in out


def test_boilerplate_and_meaningless():
    for t in ["默认好评", "此用户没有填写评价。", "系统默认好评!", "该用户觉得商品较好，未填写评价", "暂无评价"]:
        assert classify_quality(t) == "boilerplate", t
    for t in ["好", "。。。", "111", "ok"]:
        assert classify_quality(t) == "meaningless", t
    for t in ["房间很干净", "没有问题", "好评，下次还来"]:
        assert classify_quality(t) == "ok", t
    assert classify_quality("", ["👍"]) == "ok"
    assert classify_quality("收到了", extra=["收到了"]) == "boilerplate"


def test_clause_splitting():
    assert split_clauses("味道很好但是送得太慢了") == ["味道很好", "但是送得太慢了"]
    assert split_clauses("房间干净,位置好。早餐一般!!") == ["房间干净", "位置好", "早餐一般"]
    assert split_clauses("") == []
    assert split_clauses("好,") == ["好"]


def test_segmenter_keeps_domain_words_whole():
    for backend in ("rjieba", "jieba"):
        seg = Segmenter(backend, user_words=["办理入住"])
        toks = seg.cut("送餐太慢，前台办理入住很快，性价比高")
        for w in ("送餐", "前台", "办理入住"):
            assert w in toks, (backend, toks)
        assert any(t.startswith("性价比") for t in toks)
        content = seg.content_tokens(toks)
        assert "，" not in content and "的" not in content
        assert seg.keywords(content, 2) and len(seg.keywords(content, 2)) == 2
        assert seg.keywords(content, 0) == []


def test_user_dictionary_file(tmp_path):
    d = tmp_path / "dict.txt"
    d.write_text("# comment\n绝绝子 5000 a\n踩雷\n", encoding="utf-8")
    seg = Segmenter("rjieba", user_dicts=[d])
    assert "绝绝子" in seg.cut("这家店绝绝子") and "踩雷" in seg.cut("又踩雷了")


def test_stages_add_columns():
    df = pd.DataFrame({"text": ["服務很好😊，但是房間有點吵", "默认好评", "   http://a.cn  "]})
    cleaned = CleanStage()(df)
    assert cleaned["quality"].tolist() == ["ok", "boilerplate", "empty"]
    assert cleaned["text"].iloc[0] == "服务很好,但是房间有点吵" and cleaned["emojis"].iloc[0] == ["😊"]
    seg = SegmentStage(SegmentConfig())(cleaned.iloc[:2])
    assert seg["clauses"].iloc[0] == ["服务很好", "但是房间有点吵"]
    assert "房间" in seg["tokens"].iloc[0]


def test_emoji_gate_covers_every_emoji():
    import emoji

    from voc.text.normalize import _EMOJI_GATE

    assert [e for e in emoji.EMOJI_DATA if not _EMOJI_GATE.search(e)] == []


def test_phrase_at_the_very_end_is_found():
    from voc.text.matcher import PhraseMatcher

    m = PhraseMatcher({"床": 1, "大床房": 2})  # a longer phrase could still follow 大床
    assert list(m.finditer("商务大床")) == [(3, "床", 1)]
    assert list(m.finditer("商务大床房")) == [(2, "大床房", 2)]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("大床房好不干净")), max_size=20))
def test_matches_are_real_and_do_not_overlap(text):
    from voc.text.matcher import PhraseMatcher

    phrases = {"床": 1, "大床房": 2, "干净": 3, "不干净": 4, "好": 5}
    found = list(PhraseMatcher(phrases).finditer(text))
    assert all(text[s:s + len(p)] == p and phrases[p] == v for s, p, v in found)
    assert all(a[0] + len(a[1]) <= b[0] for a, b in zip(found, found[1:]))
    if text.endswith("干净") and not text.endswith("不干净"):
        assert found and found[-1][1] == "干净"


def test_emoticon_gate_covers_every_emoticon():
    from voc.text.normalize import _EMOTICON_GATE, EMOTICONS

    assert all(_EMOTICON_GATE.search(e) for e in EMOTICONS)


def test_bracket_emoticons_from_social_media():
    from voc.text.normalize import TextCleaner

    c = TextCleaner()
    r = c.clean("又加班到十点[泪][泪]")
    assert r.emojis == ["[泪]", "[泪]"] and r.emoji_score == -1.0
    assert "泪" in r.text and "[" not in r.text  # the polar name stays for the text model
    r = c.clean("终于修好了[Good]")
    assert r.emoji_score == 1.0
    r = c.clean("客服回复了[微笑]")  # often sarcastic: found, no polarity, removed
    assert r.emojis == ["[微笑]"] and r.emoji_score == 0.0 and r.text == "客服回复了"
    r = c.clean("详见[图片]和[1]")  # unknown bracket text is not an emoticon
    assert r.emojis == [] and r.text == "详见[图片]和[1]"


def test_bracket_emoticon_shifts_comment_sentiment():
    import pandas as pd

    from voc.classify.lexicon import LexiconSentiment
    from voc.classify.sentiment import SentimentStage
    from voc.text.stages import CleanStage

    batch = CleanStage()(pd.DataFrame({"text": ["[怒][怒]", "[赞]"]}))
    out = SentimentStage(LexiconSentiment().fit())(batch)
    assert out["sentiment"].tolist() == ["negative", "positive"]


def test_idf_table_parses_jieba_file_and_words_with_spaces(tmp_path, monkeypatch):
    import voc.text.segment as segment

    real, _ = segment._idf()
    assert len(real) > 200_000 and real["酒店"] > 0
    (tmp_path / "analyse").mkdir()
    (tmp_path / "analyse" / "idf.txt").write_text("好评 3.5\nnew york 8.25\n物流 5.0\n", encoding="utf-8")
    monkeypatch.setattr(segment.resources, "files", lambda pkg: tmp_path)
    segment._idf.cache_clear()
    try:
        idf, median = segment._idf()
    finally:
        segment._idf.cache_clear()
    assert idf == {"好评": 3.5, "new york": 8.25, "物流": 5.0} and median == 5.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["酒店", "服务", "好", "物流", "很快", "房间", "干净", "zzqq", "的", "前台", "客服"]),
                max_size=20), st.integers(0, 6))
def test_keywords_and_content_tokens_match_their_definitions(tokens, k):
    from voc.text.segment import _idf

    seg = _SEGMENTER
    idf, median = _idf()
    want_content = [t for t in tokens if t not in seg.stopwords and any("\u4e00" <= ch <= "\u9fff" or ch.isascii()
                                                                         and ch.isalpha() for ch in t)]
    assert seg.content_tokens(tokens) == want_content
    assert seg.content_tokens(tokens) == want_content  # again, from the token cache
    tf: dict[str, int] = {}
    for t in tokens:
        if len(t) >= 2:
            tf[t] = tf.get(t, 0) + 1
    ranked = sorted(tf.items(), key=lambda kv: (-kv[1] * idf.get(kv[0], median), kv[0]))
    assert seg.keywords(tokens, k) == ([w for w, _ in ranked[:k]] if k > 0 else [])


_SEGMENTER = Segmenter()


def test_english_phrases_match_whole_words_only():
    from voc.text.matcher import PhraseMatcher

    m = PhraseMatcher({"app": 1, "great": 2, "不错": 3, "wifi": 4})
    assert list(m.finditer("今天很happy")) == [] and list(m.finditer("apple watch")) == []
    assert list(m.finditer("greater")) == [] and not m.occurs("happy greater")
    assert list(m.finditer("用app下单，great")) == [(1, "app", 1), (7, "great", 2)]
    assert list(m.finditer("wifi6很不错")) == [(0, "wifi", 4), (6, "不错", 3)]  # digits are boundaries
    assert m.occurs("APP很好用".lower()) and m.occurs("the app")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("apphybug 好用，6")), max_size=24))
def test_word_bounded_agrees_with_phrase_matcher(text):
    """The vectorised boundary check (batch category evidence) keeps exactly the matches the matcher yields."""
    import ahocorasick
    import numpy as np

    from voc.text.matcher import PhraseMatcher, letter_edges, word_bounded

    phrases = ["app", "bug", "好用", "happy", "y"]
    auto = ahocorasick.Automaton()
    for i, p in enumerate(phrases):
        auto.add_word(p, i)
    auto.make_automaton()
    raw = [(end - len(phrases[i]) + 1, end + 1, i) for end, i in auto.iter_long(text + "\x00")]
    codes = np.array([ord(c) for c in text] or [0], dtype=np.int64)[:len(text)]
    edges = np.array([letter_edges(phrases[i]) for _, _, i in raw], dtype=bool).reshape(-1, 2)
    keep = word_bounded(codes, np.array([s for s, _, _ in raw], dtype=np.int64),
                        np.array([e for _, e, _ in raw], dtype=np.int64), edges[:, 0], edges[:, 1])
    kept = [(s, phrases[i]) for (s, _, i), k in zip(raw, keep) if k]
    assert kept == [(s, p) for s, p, _ in PhraseMatcher(dict.fromkeys(phrases)).finditer(text)]


def test_pii_placeholders_are_not_analysed():
    """[手机号] is voc's mask, not the customer's words: no keyword, no category, no sentiment shift."""
    import pandas as pd

    from voc.classify.sentiment import SentimentStage, load_sentiment_model
    from voc.text.pii import strip_placeholders
    from voc.text.stages import CleanStage, SegmentStage

    assert strip_placeholders("请打我电话[手机号]或发邮件[邮箱]") == "请打我电话或发邮件"
    assert strip_placeholders("[好评]") == "[好评]"
    raw = ["信号很好，走到哪儿都满格，有问题请打我电话13812345678", "信号很好，走到哪儿都满格，有问题请打我电话"]
    batch = SegmentStage()(CleanStage()(pd.DataFrame({"text": raw})))
    assert "[手机号]" in batch["text"][0]  # the stored text keeps the mask
    assert batch["clauses"][0] == batch["clauses"][1] and batch["keywords"][0] == batch["keywords"][1]
    assert "手机号" not in batch["tokens"][0]
    out = SentimentStage(load_sentiment_model("lexicon"))(batch)
    assert out["sentiment"][0] == out["sentiment"][1]
    assert out["p_positive"][0] == out["p_positive"][1]
