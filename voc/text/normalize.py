"""Chinese text normalisation.

Order matters: NFKC first (full-width digits become ASCII, so PII masking
sees them), then PII masking, traditional→simplified, URLs and @mentions,
emoji and emoticons, repeated characters and white space.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import emoji as emoji_lib

from voc.config import CleanConfig
from voc.text.pii import mask_pii

URL_RE = re.compile(r"(?:https?://|www\.)[^\s\u4e00-\u9fff，。！？]+", re.IGNORECASE)
MENTION_RE = re.compile(r"@[\w\u4e00-\u9fff-]{1,30}")
# Emoticons that carry sentiment, longest first so ^_^ wins over ^^.
EMOTICONS = {
    "^_^": 1, "^o^": 1, "(^^)": 1, "^^": 1, ":-)": 1, ":)": 1, ":d": 1, "=)": 1, "(*^▽^*)": 1, "o(∩_∩)o": 1,
    "t_t": -1, "qaq": -1, "orz": -1, ":-(": -1, ":(": -1, "-_-": -1, "-_-||": -1, "= =": -1, "囧": -1,
}
# Weibo/WeChat bracket emoticons ([哈哈], [泪]) as exported from social media. Names that are often
# sarcastic or carry no clear polarity ([微笑], [doge], [允悲], [笑cry], [思考]) are found but score 0 and are
# removed; polar ones leave their name in the text. Unknown bracket text ([图片], [1]) is left alone.
# Keys are lower case (matched case-insensitively).
BRACKET_EMOTICONS = {
    **dict.fromkeys(["哈哈", "嘻嘻", "爱你", "心", "赞", "good", "ok", "鼓掌", "耶", "太开心", "给力", "威武", "笑哈哈",
                     "偷笑", "可爱", "亲亲", "花心", "馋嘴", "好爱哦", "好喜欢", "酷", "礼物", "握手", "作揖", "胜利",
                     "星星眼", "憧憬", "色", "害羞", "强", "玫瑰", "鲜花", "点赞", "666", "棒"], 1),
    **dict.fromkeys(["泪", "怒", "抓狂", "衰", "晕", "哼", "鄙视", "委屈", "生病", "伤心", "悲伤", "失望", "怒骂",
                     "吐", "汗", "可怜", "弱", "拜拜", "打脸", "费解", "闭嘴", "黑线", "右哼哼", "左哼哼", "崩溃",
                     "草泥马", "白眼", "裂开", "苦涩", "跪了", "泪流满面", "大哭", "流泪", "发怒", "难过", "心碎",
                     "炸弹", "便便", "差劲", "怒火", "骷髅", "生气", "撇嘴", "抠鼻", "捂脸哭"], -1),
    **dict.fromkeys(["微笑", "doge", "允悲", "笑cry", "二哈", "思考", "疑问", "吃惊", "哈欠", "困", "嘘", "挖鼻",
                     "并不简单", "摊手", "吃瓜", "捂脸", "坏笑", "阴险", "斜眼", "浮云", "神马"], 0),
}
_BRACKET_RE = re.compile(r"\[([^\[\]\s]{1,6})\]")
_EMOTICON_RE = re.compile("|".join(re.escape(e) for e in sorted(EMOTICONS, key=len, reverse=True)), re.IGNORECASE)
_EMOTICON_GATE = re.compile(r"[\^:=_\-囧]|qaq|orz", re.IGNORECASE)  # every emoticon above has one of these
# Emoji polarity for the common ones in Chinese reviews; others count as 0.
EMOJI_POLARITY = {
    **dict.fromkeys("👍😊😀😁😃😄😆😍🥰😘❤💯👏🙏🌟⭐🎉💕😋🤩😎👌💪🌹🙂☺😇🤗", 1),
    **dict.fromkeys("👎😡😠🤬🤮😤😞😢😭💔😩😫😒🙄😓😰😱🤢💩😑😐😣😖😔☹🙁😿", -1),
}
# Cheap gate before the (slow) emoji tokenizer: pictographs, symbols, dingbats, variation selector, ZWJ.
_EMOJI_GATE = re.compile("[\U0001F000-\U0001FAFF\u2190-\u21FF\u2300-\u23FF\u2600-\u27BF\u2B00-\u2BFF\u3030\u303D"
                         "\u3297\u3299\uFE0F\u200D\u20E3\u00A9\u00AE\u203C\u2049\u2122\u2139\u24C2\u25AA-\u25FE\u2934\u2935]")
_WS_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\ufeff]")  # invisible, not white space
_PUNCT = "[,.!?;:，。！？；：、]"
_PUNCT_WS_RE = re.compile(rf"\s+(?={_PUNCT})|(?<={_PUNCT})\s+")  # white space next to punctuation


@dataclass
class Cleaned:
    """The result of cleaning one text."""

    text: str
    pii: list[str] = field(default_factory=list)
    emojis: list[str] = field(default_factory=list)
    emoji_score: float = 0.0


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese with OpenCC's ``t2s`` conversion."""
    return _t2s().convert(text) if text else text


def squeeze_repeats(text: str, max_repeat: int = 3) -> str:
    """Cap runs of one repeated non-digit character (and repeated 2-4 character units) at ``max_repeat``.

    Digits are left alone so numbers keep their meaning.
    """
    if len(text) <= max_repeat:
        return text
    single, unit = _repeat_patterns(max_repeat)
    if single.search(text):
        text = single.sub(lambda m: m.group(1) * max_repeat, text)
    if unit.search(text):
        text = unit.sub(lambda m: m.group(1) * max(max_repeat - 1, 1), text)
    return text


@lru_cache(maxsize=8)
def _repeat_patterns(max_repeat: int) -> tuple[re.Pattern, re.Pattern]:
    return (re.compile(r"(\D)\1{%d,}" % max_repeat),
            re.compile(r"(\D{2,4}?)\1{%d,}" % max(max_repeat - 1, 1)))


def extract_emoji(text: str) -> tuple[str, list[str], float]:
    """Remove emoji and emoticons; return the text, what was found and a polarity score in [-1, 1]."""
    found: list[str] = []
    score = 0

    def emo(m: re.Match) -> str:
        nonlocal score
        tok = m.group(0)
        found.append(tok)
        score += EMOTICONS.get(tok.lower(), 0)
        return " "

    def bracket(m: re.Match) -> str:
        nonlocal score
        name = m.group(1)
        pol = BRACKET_EMOTICONS.get(name.lower())
        if pol is None:  # [图片], [1]: not an emoticon
            return m.group(0)
        found.append(m.group(0))
        score += pol
        # a polar bracket emoticon keeps its name in the text ([泪] -> 泪): text models read it too
        return f" {name} " if pol else " "

    if "[" in text:
        text = _BRACKET_RE.sub(bracket, text)
    if _EMOTICON_GATE.search(text):
        text = _EMOTICON_RE.sub(emo, text)
    if _EMOJI_GATE.search(text) and emoji_lib.emoji_count(text):
        for e in emoji_lib.emoji_list(text):
            found.append(e["emoji"])
            base = e["emoji"][0]
            score += EMOJI_POLARITY.get(base, 0)
        text = emoji_lib.replace_emoji(text, replace=" ")
    n = len(found)
    return text, found, (max(-1.0, min(1.0, score / n)) if n else 0.0)


class TextCleaner:
    """Clean raw comments according to a :class:`~voc.config.CleanConfig`."""

    def __init__(self, config: CleanConfig | None = None):
        self.config = config or CleanConfig()

    def clean(self, text: str) -> Cleaned:
        """Normalise and mask one text."""
        c = self.config
        if c.nfkc:
            text = unicodedata.normalize("NFKC", text)
        text = _CONTROL_RE.sub("", text)
        text, pii = mask_pii(text, c.mask_phone, c.mask_id_card, c.mask_email, c.mask_bank_card)
        if c.t2s:
            text = to_simplified(text)
        if c.urls:
            text = URL_RE.sub(" ", text)
        if c.mentions:
            text = MENTION_RE.sub(" ", text)
        emojis: list[str] = []
        score = 0.0
        if c.emoji != "keep":
            text, emojis, score = extract_emoji(text)
            if c.emoji == "remove":
                emojis, score = [], 0.0
        if c.lowercase:
            text = text.lower()
        text = squeeze_repeats(text, c.max_repeat)
        text = _PUNCT_WS_RE.sub("", _WS_RE.sub(" ", text)).strip()
        return Cleaned(text, pii, emojis, score)

    def clean_many(self, texts: list[str]) -> list[Cleaned]:
        """Clean a batch of texts."""
        return [self.clean(t) for t in texts]
