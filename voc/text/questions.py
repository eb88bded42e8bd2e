"""Plain questions: clauses that only ask something (请问有没有接机服务, 几点退房?) and evaluate nothing.

GUIDELINES.md: a question without complaint is neutral and names no category. Rhetorical questions
(难道不用送上门吗, 为什么还不发货) are complaints: a negator (other than A-not-A forms such as 有没有) or a
rhetorical marker rules a clause out.
"""

from __future__ import annotations

import re

NEGATOR_CHARS = frozenset("不没无未别非")
QUESTION_OPENER_RE = re.compile(r"^(?:请问|请教|问一下|问下|问个问题|想问|咨询一下|咨询下|想咨询|求问|有人知道|谁知道)")
# a question particle or a question word closing the clause
QUESTION_END_RE = re.compile(r"(?:吗|么|嘛|多少钱|是多少|多少|几点|哪里|在哪|哪儿)[啊呀呢哈]?$")
# A-not-A questions hold a negator but ask; they are removed before the negator check
A_NOT_A_RE = re.compile(r"有没有|是不是|能不能|可不可以|会不会|要不要|行不行|好不好|对不对|用不用|需不需要|适不适合|合不合适|够不够|"
                        r"包不包|送不送|收不收|退不退|支不支持|可否|能否|是否")
RHETORICAL_RE = re.compile(r"难道|为什么|为啥|凭什么|怎么还|怎么又|怎么这么|怎么会|怎么能|怎么可以|到底|还敢|好意思|什么意思|有意义|"
                           r"让我|居然|竟然|又要|还要|就这|至于|何必|不是说")


def _asks_only(c: str) -> bool:
    """No rhetorical marker and no negator outside A-not-A forms."""
    return not RHETORICAL_RE.search(c) and not any(ch in NEGATOR_CHARS for ch in A_NOT_A_RE.sub("", c))


def is_plain_question(clause: str) -> bool:
    """True when ``clause`` only asks something: a polite opener (请问, 想问) or a closing question word (吗,
    多少钱), with no negator outside A-not-A forms (有没有) and no rhetorical marker (难道, 怎么还, 居然)."""
    c = clause.strip()
    return bool(c) and bool(QUESTION_OPENER_RE.match(c) or QUESTION_END_RE.search(c[-5:])) and _asks_only(c)


# sentence pieces, each with its closing question mark if it has one
_PIECE_RE = re.compile(r"[^，,。.!！;；~～\n？?]+[？?]?")


def question_share(text: str) -> float:
    """Share of a comment's pieces (split at punctuation) that are plain questions, in [0, 1].

    A piece is a plain question when :func:`is_plain_question` says so, or when it ends with a question mark
    and has no negator outside A-not-A forms and no rhetorical marker.
    """
    pieces = [(p, p.rstrip("？?").strip()) for p in (p.strip() for p in _PIECE_RE.findall(text))]
    pieces = [(p, body) for p, body in pieces if body]
    if not pieces:
        return 0.0
    n = sum(is_plain_question(body) or (p[-1] in "？?" and _asks_only(body)) for p, body in pieces)
    return n / len(pieces)
