"""Context handling shared by the rule mapper and the trained mapper.

- **Negation of cues.** A negator shortly before a cue flips it (不贴心 is negative), except when the cue
  itself starts with a negator (不好吃不好吃 is negative twice, not positive). A negated *negative* cue
  (没有坏的, 没有异味) votes positive but does not by itself mark its category: saying that something is not
  broken rarely makes the comment about that category.
- **Opinion supplement.** Service words the sentiment lexicon scores as neutral (合理, 偏高, 繁琐, 绕路) give
  a neutral clause their polarity, so keywords in that clause (手续费合理) get it too.
- **Plain questions.** A clause that only asks (请问有没有接机服务, 这款能放进60cm的柜子吗) evaluates nothing: a
  mention found only in such clauses is dropped. Rhetorical questions (难道不用送上门吗, 包装都没有吗) are
  complaints and stay: a negator (other than A-not-A forms such as 有没有) or a rhetorical marker rules a
  clause out.
- **Context rules** of the taxonomy (:class:`~voc.taxonomy.model.ContextRule`) re-attribute mentions that only
  generic words marked (bare 服务/态度 in a comment about an online shop is customer service).
"""

from __future__ import annotations

import re

import numpy as np

from voc.text.matcher import PhraseMatcher, negated
from voc.text.questions import NEGATOR_CHARS, is_plain_question  # noqa: F401  (re-exported)

# Opinion words that the bundled sentiment lexicon scores as neutral but that judge a service or price.
SUPPLEMENT_POSITIVE = ("合理", "公道", "很稳", "挺稳", "开得稳", "开车稳", "麻利", "利索", "清楚", "满格", "够用",
                       "准确", "省事", "仔细", "按时", "快捷", "秒到", "秒回", "清爽", "简洁", "客气", "健谈", "诚恳",
                       "敬业", "严实", "脆甜", "可以", "也快", "送得快", "到得快", "来得快", "真快", "超快", "够快",
                       "还是热的", "热乎", "很准", "分量足", "量足", "挺足", "入味", "够味", "下饭", "还点", "再来")
SUPPLEMENT_NEGATIVE = ("偏高", "偏小", "偏大", "偏咸", "偏少", "繁琐", "不准", "断网", "推销", "很猛", "太猛", "死板",
                       "冷淡", "难找", "费劲", "少得可怜", "吃不饱", "没到账", "没人来", "没结果", "不回", "超时",
                       "磨蹭", "绕路", "多扣", "嚣张", "难听", "推来推去", "变形", "腥", "待发货", "转不到", "打不进")
# Mild words keep a clause neutral (还可以 is not 可以): matched first, they stop the supplement.
SUPPLEMENT_NEUTRAL = ("还可以", "也还可以", "还行", "尚可", "一般", "凑合", "马马虎虎", "中规中矩", "过得去")
SUPPLEMENT_SCORE = 0.5
_SUPPLEMENT = ({w: SUPPLEMENT_SCORE for w in SUPPLEMENT_POSITIVE} | {w: -SUPPLEMENT_SCORE for w in SUPPLEMENT_NEGATIVE}
               | {w: 0.0 for w in SUPPLEMENT_NEUTRAL})
SUPPLEMENT_RE = re.compile("|".join(sorted(map(re.escape, _SUPPLEMENT), key=len, reverse=True)))


def starts_negated(term: str) -> bool:
    """True when ``term`` starts with a negator character (不好吃, 没效果): it is never flipped again."""
    return bool(term) and term[0] in NEGATOR_CHARS


def supplement_score(clause: str, score: float, band: float = 0.15) -> float:
    """``score``, or the supplement's polarity when the clause is neutral and holds a supplement word.

    The first supplement word decides; a negator before it (不合理) flips it unless the word starts with one.
    """
    if abs(score) > band:
        return score
    m = SUPPLEMENT_RE.search(clause)
    if m is None:
        return score
    s = _SUPPLEMENT[m.group()]
    if s == 0.0:
        return score
    return -s if (not starts_negated(m.group()) and negated(clause, m.start())) else s


def supplement_flat(big: str, clause_of: np.ndarray, clause_start: np.ndarray, scores: np.ndarray,
                    band: float = 0.15) -> np.ndarray:
    """:func:`supplement_score` for every clause of a batch joined into ``big`` (see ``_Batch``)."""
    out = scores.copy()
    done = np.zeros(len(scores), dtype=bool)
    for m in SUPPLEMENT_RE.finditer(big):
        c = int(clause_of[m.start()])
        if done[c]:
            continue
        done[c] = True
        if abs(out[c]) > band:
            continue
        s = _SUPPLEMENT[m.group()]
        if s == 0.0:
            continue
        start = m.start()
        local = big[int(clause_start[c]):start]
        out[c] = -s if (not starts_negated(m.group()) and negated(local, len(local))) else s
    return out


def drop_question_mentions(mentions: list, clauses: list[str]) -> list:
    """``mentions`` without those whose evidence occurs only in plain-question clauses (see :func:`is_plain_question`).

    A mention without evidence terms is judged by its first clause.
    """
    if not mentions:
        return mentions
    q = [is_plain_question(c) for c in clauses]
    if not any(q):
        return mentions
    out = []
    for m in mentions:
        terms = [t for t in m.evidence.split("|") if t]
        where = [i for i, c in enumerate(clauses) if any(t in c for t in terms)] if terms else []
        if not where:
            where = [m.clause] if 0 <= m.clause < len(clauses) else []
        if not where or not all(q[i] for i in where):
            out.append(m)
    return out


class ContextRules:
    """Compiled context rules of a taxonomy.

    Parameters
    ----------
    taxonomy : a :class:`~voc.taxonomy.model.Taxonomy`.
    """

    def __init__(self, taxonomy):
        self.rules = [(r.category, frozenset(t.lower() for t in r.generic), r.move_to,
                       tuple(t.lower() for t in r.when_any), tuple(t.lower() for t in r.unless_any))
                      for r in taxonomy.context_rules]
        self.categories = frozenset(r[0] for r in self.rules)
        # when_any / unless_any as matchers: one scan of the comment answers "does any of them occur"
        self._compiled = [(cat, generic, move_to, PhraseMatcher(dict.fromkeys(when)),
                           PhraseMatcher(dict.fromkeys(unless)))
                          for cat, generic, move_to, when, unless in self.rules]
        self._pending_cache: dict[frozenset, list[int]] = {}
        self._by_cat: dict[str, list[int]] = {}  # rule positions per category, in file order
        for i, r in enumerate(self.rules):
            self._by_cat.setdefault(r[0], []).append(i)

    def _pending(self, present: set, after: int = -1) -> list[int]:
        """Positions (in file order) of the rules after ``after`` whose category is present."""
        if after < 0:  # the common case: the same few category sets recur, so they are cached
            key = frozenset(present & self.categories)
            got = self._pending_cache.get(key)
            if got is None:
                got = self._pending_cache[key] = sorted(i for c in key for i in self._by_cat[c])
            return got
        return sorted(i for c in present & self.categories for i in self._by_cat[c] if i > after)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def apply(self, mentions: list, clauses: list[str]) -> list:
        """Mentions of one comment after the rules (same order; moved mentions keep their place)."""
        if not self.rules or not mentions:
            return mentions
        present = {m.category for m in mentions}
        if not self.categories & present:
            return mentions
        text = "\x00".join(clauses)
        out = list(mentions)
        # only the rules of present categories, in file order; the list is redone after a mention moves
        pending, pos = self._pending(present), 0
        where = {m.category: j for j, m in reversed(list(enumerate(out)))}  # first mention of each category
        evidence: dict[str, set] = {}
        while pos < len(pending):
            i = pending[pos]
            pos += 1
            cat, generic, move_to, when_any, unless_any = self._compiled[i]  # cat is present
            idx = where[cat]
            m = out[idx]
            if cat not in evidence:
                evidence[cat] = set(m.evidence.split("|"))
            if not evidence[cat] <= generic:
                continue
            if not when_any.empty and not when_any.occurs(text):
                continue
            if unless_any.occurs(text):
                continue
            if move_to is None or move_to in present:
                del out[idx]
            else:
                out[idx] = type(m)(move_to, m.polarity, m.evidence, m.clause)
            present = {x.category for x in out}
            pending, pos = self._pending(present, i), 0
            where = {x.category: j for j, x in reversed(list(enumerate(out)))}
            evidence = {}
        return out
