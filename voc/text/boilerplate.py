"""Boilerplate and meaningless comments: system defaults (默认好评) and fillers (好, ……).

Such comments are kept in the output with ``quality`` set, get overall
``neutral`` and no categories, as GUIDELINES.md specifies.
"""

from __future__ import annotations

import re

# System-generated or placeholder texts, matched after punctuation is stripped.
BOILERPLATE_PATTERNS = [
    r"(系统)?默认(好评|评价|中评)",
    r"(此|该)?用户(没有|未|未及时)?(填写|做出|作出)?(评价|评论)(内容)?",
    r"(此|该)用户(觉得|认为)?(商品|宝贝|服务|东西)?(较好|非常好|很好|不错)?[,，]?(未|没有)(填写|留下)(评价|评论|文字)?(内容)?",
    r"评价方未及时(做出|作出)评价[,，]?系统默认(好评|评价)",
    r"(买家|用户|顾客)?(未|没有|暂无)(填写)?(评价|评论|内容|文字)",
    r"暂无(评价|评论|内容)",
    r"(无|没有)(评价|意见|建议|内容)?",
]
# Fillers that say nothing on their own.
FILLERS = {"好", "好的", "嗯", "嗯嗯", "哦", "噢", "无", "暂无", "没有", "没", "没了", "略", "同上", "如题", "还没用",
           "还没用呢", "ok", "okk", "ok了", "nothing", "none", "n/a", "na", "null", "测试", "test", "...", "1", "a"}
_BOILER_RE = re.compile("^(?:" + "|".join(f"(?:{p})" for p in BOILERPLATE_PATTERNS) + ")$")
_STRIP = re.compile(r"[\s\W_]+", re.UNICODE)
_MEANINGFUL = re.compile(r"[\u4e00-\u9fffA-Za-z]")


def classify_quality(text: str, emojis: list[str] | None = None, extra: list[str] | None = None) -> str:
    """Label a cleaned text ``ok``, ``boilerplate`` or ``meaningless``.

    Parameters
    ----------
    text : cleaned text.
    emojis : emoji found in the raw text; a comment that is only emoji is ``ok``
        (the emoji carry sentiment).
    extra : more boilerplate strings to match exactly (from the pipeline config).
    """
    core = _STRIP.sub("", text).lower()
    if not core or not _MEANINGFUL.search(core):
        return "ok" if emojis else "meaningless"
    if core in FILLERS:
        return "meaningless"
    if _BOILER_RE.match(core) or (extra and core in {_STRIP.sub("", e).lower() for e in extra}):
        return "boilerplate"
    return "ok"
