"""Vectorised rule evidence: a taxonomy's keyword and cue matches over a whole batch of comments.

The semantics are those of :class:`~voc.taxonomy.rules.RuleMapper` (longest, non-overlapping matches; negated
cues flip, negated negative cues only vote; neutral clauses take the opinion supplement), computed over all
clauses of a batch at once so that the trained mapper stays fast. :class:`RuleEvidence` gives per match arrays
(:meth:`~RuleEvidence.matches`), per comment × category counts (:meth:`~RuleEvidence.features`) and the
inputs of the polarity model (:func:`polarity_features`).
"""

from __future__ import annotations

import re
from itertools import chain

import numpy as np

from voc.taxonomy.aspect import AspectOpinions
from voc.taxonomy.context import NEGATOR_CHARS, supplement_flat
from voc.taxonomy.contrast import ContrastRules
from voc.taxonomy.model import Taxonomy
from voc.taxonomy.ngrams import SEP, codes_of
from voc.taxonomy.rules import CUE_WEIGHT
from voc.text.matcher import letter_edges, word_bounded

KIND = {"positive": 1, "neutral": 2, "negative": 3}  # 0 = keyword, 4 = negated negative cue (votes only)
WEAK = 4
FLIP = np.array([0, 3, 2, WEAK, WEAK])  # a negated cue changes side; a keyword stays a keyword
CUE_VOTE = np.array([0.0, CUE_WEIGHT, 0.0, -CUE_WEIGHT, CUE_WEIGHT])
POL_NAMES = ("vote_sign", "vote_tanh", "cue_pos", "cue_neu", "cue_neg", "kw_pos", "kw_neg", "kw_neutral",
             "kw_score_sum", "next_score_sum", "doc_mean", "doc_share_pos", "doc_share_neg", "vote_zero",
             "mild_in_clause", "mild_in_comment")
_NEG_CODES = np.array([ord(c) for c in "不没无别未"], dtype=np.int64)  # every negator of NEGATION_RE has one
# Mild words give a category ``neutral`` (GUIDELINES: 一般, 还行, 凑合, 马马虎虎 about a category).
MILD_RE = re.compile("一般般|一般|还行|凑合|马马虎虎|中规中矩|尚可|还可以|过得去|不好不坏|普普通通|平平|适中")


class ClauseBatch:
    """Clauses of many comments joined into one string (clauses separated by NUL) for vectorised work.

    Parameters
    ----------
    clauses : clauses per comment.
    scores : clause polarity scores (p_pos − p_neg) per comment, or None for all zero; neutral clauses take
        the opinion supplement (:func:`~voc.taxonomy.context.supplement_flat`).
    band : scores within ``±band`` count as neutral.
    """

    def __init__(self, clauses: list[list[str]], scores: list[list[float]] | None, band: float = 0.15):
        self.n = len(clauses)
        self.band = band
        self.ndoc = np.fromiter(map(len, clauses), dtype=np.int64, count=self.n)
        self.flat = list(chain.from_iterable(clauses))
        nc = len(self.flat)
        self.doc_first = np.zeros(self.n, dtype=np.int64)
        if self.n > 1:
            self.doc_first[1:] = np.cumsum(self.ndoc)[:-1]
        self.doc_of_clause = np.repeat(np.arange(self.n, dtype=np.int64), self.ndoc)
        lens = np.fromiter(map(len, self.flat), dtype=np.int64, count=nc)
        self.big = SEP.join(self.flat) + SEP
        self.clause_of = (np.repeat(np.arange(nc, dtype=np.int64), lens + 1) if nc
                          else np.zeros(1, dtype=np.int64))
        self.clause_start = np.zeros(nc, dtype=np.int64)
        if nc > 1:
            self.clause_start[1:] = np.cumsum(lens[:-1] + 1)
        if scores is None:
            self.scores = np.zeros(nc)
        else:
            self.scores = np.fromiter(chain.from_iterable(scores), dtype=float)
            if len(self.scores) != nc:
                raise ValueError("each clause needs one score")
        if nc:
            self.scores = supplement_flat(self.big, self.clause_of, self.clause_start, self.scores, band)
        self._codes = None

    @property
    def codes(self) -> np.ndarray:
        """Code points of ``big`` (NUL separators are 0)."""
        if self._codes is None:
            self._codes = codes_of(self.big)
        return self._codes


class RuleEvidence:
    """A taxonomy's lexicon compiled for batch matching.

    Parameters
    ----------
    taxonomy : a :class:`~voc.taxonomy.model.Taxonomy`.
    """

    def __init__(self, taxonomy: Taxonomy):
        import ahocorasick

        lex = taxonomy.lexicon()
        self.terms = list(lex)
        targets = [[(ci, 0 if pol is None else KIND[pol]) for ci, pol in lex[t]] for t in self.terms]
        self.ptr = np.zeros(len(targets) + 1, dtype=np.int64)
        np.cumsum([len(x) for x in targets], out=self.ptr[1:])
        self.cat = np.array([c for x in targets for c, _ in x], dtype=np.int64)
        self.kind = np.array([k for x in targets for _, k in x], dtype=np.int64)
        self.neg_start = np.array([t[0] in NEGATOR_CHARS for t in self.terms], dtype=bool)
        edges = np.array([letter_edges(t) for t in self.terms], dtype=bool).reshape(-1, 2)
        self.left_letter, self.right_letter = edges[:, 0], edges[:, 1]
        self.n_categories = len(taxonomy.categories)
        self.aspects = AspectOpinions(taxonomy)
        self.aspect_term = np.array([any((ci, t) in self.aspects.rules for ci, _ in lex[t]) for t in self.terms],
                                    dtype=bool)
        self.contrast = ContrastRules(taxonomy)
        self.n_lexicon_terms = len(self.terms)
        auto = ahocorasick.Automaton()
        for i, t in enumerate(self.terms):
            auto.add_word(t, i * 1024 + len(t))  # term id and length in one int
        if len(auto):
            auto.make_automaton()
        self.automaton = auto
        self.terms += self.contrast.terms  # contrast evidence (说是…却) follows the lexicon's terms

    def matches(self, b: ClauseBatch) -> dict[str, np.ndarray]:
        """Arrays over matches (one row per matched term × target category).

        Longest, non-overlapping, left-to-right matches over all clauses at once (clauses are separated
        by NUL, which no term contains); a negator within four characters before a term flips a cue,
        exactly as :class:`~voc.taxonomy.rules.RuleMapper` does clause by clause. Keys: ``clause``, ``cat``,
        ``neg``, ``term``, ``start``, ``kind`` (0 keyword, 1/2/3 positive/neutral/negative cue, 4 negated
        negative cue), ``doc``, ``score`` (the clause's score; ±1 or 0 for a keyword that a category opinion
        word follows, see :mod:`voc.taxonomy.aspect`), ``vote_score`` (what a keyword votes with: ``score``, or
        the next clause's verdict, see :func:`next_clause_verdict`).
        """
        from voc.text.matcher import NEGATION_RE

        big = b.big
        found = np.array(list(self.automaton.iter_long(big)), dtype=np.int64).reshape(-1, 2) \
            if len(self.automaton) and b.flat else np.zeros((0, 2), dtype=np.int64)
        tid = found[:, 1] // 1024
        st = found[:, 0] - found[:, 1] % 1024 + 1
        if len(tid) and (self.left_letter[tid].any() or self.right_letter[tid].any()):
            keep = word_bounded(b.codes, st, found[:, 0] + 1, self.left_letter[tid], self.right_letter[tid])
            tid, st = tid[keep], st[keep]
        # a negator needs one of these characters within the four before the term: test only those matches
        neg = np.zeros(len(st), dtype=bool)
        if len(st):
            negchar = np.isin(b.codes, _NEG_CODES)
            csum = np.concatenate([[0], np.cumsum(negchar)])
            maybe = np.flatnonzero((csum[st] - csum[np.maximum(st - 4, 0)] > 0) & ~self.neg_start[tid])
            search = NEGATION_RE.search
            neg[maybe] = [search(big[s - 4 if s >= 4 else 0:s]) is not None for s in st[maybe].tolist()]
        cnt = self.ptr[tid + 1] - self.ptr[tid]
        rep = np.repeat(np.arange(len(tid)), cnt)
        offs = np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        j = self.ptr[tid][rep] + offs
        m = {"clause": b.clause_of[st][rep], "cat": self.cat[j], "neg": neg[rep], "term": tid[rep], "start": st[rep]}
        m["kind"] = np.where(m["neg"], FLIP[self.kind[j]], self.kind[j])
        m["doc"] = b.doc_of_clause[m["clause"]] if len(rep) else np.zeros(0, dtype=np.int64)
        m["score"] = b.scores[m["clause"]] if len(rep) else np.zeros(0)
        # what a keyword votes with: its clause's score, or the next clause's verdict (the rule mapper's vote);
        # ``score`` stays the clause's own for the trained mapper's features
        m["vote_score"] = next_clause_verdict(b, m, b.band) if len(rep) else np.zeros(0)
        aspects = self.aspects
        if aspects and len(rep):  # keywords followed by a category opinion word take its polarity
            for i in np.flatnonzero((m["kind"] == 0) & self.aspect_term[m["term"]]).tolist():
                c, term = int(m["clause"][i]), self.terms[int(m["term"][i])]
                end = int(m["start"][i] - b.clause_start[c]) + len(term)
                o = aspects.score(int(m["cat"][i]), term, b.flat[c], end)
                if o is not None:
                    m["score"][i] = o
                    m["vote_score"][i] = o
        if self.contrast and b.flat:
            m = self._add_contrasts(b, m)
        return m

    def _add_contrasts(self, b: ClauseBatch, m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``m`` with a cue match at the expectation of each contrast (see :mod:`voc.taxonomy.contrast`),
        in text order; at one position the lexicon's match comes first, as in the rule mapper."""
        hits = [h for h in self.contrast.find(b.big, b.clause_of, b.scores)
                if b.doc_of_clause[b.clause_of[h.start]] == b.doc_of_clause[b.clause_of[h.reality]]]
        if not hits:
            return m
        st = np.array([h.start for h in hits], dtype=np.int64)
        clause = b.clause_of[st]
        extra = {"clause": clause, "cat": np.array([h.category for h in hits], dtype=np.int64),
                 "neg": np.zeros(len(hits), dtype=bool),
                 "term": np.array([self.n_lexicon_terms + h.term for h in hits], dtype=np.int64), "start": st,
                 "kind": np.array([KIND[h.polarity] for h in hits], dtype=np.int64),
                 "doc": b.doc_of_clause[clause], "score": b.scores[clause], "vote_score": b.scores[clause]}
        order = np.argsort(np.concatenate([m["start"], st]), kind="stable")
        return {k: np.concatenate([m[k], extra[k].astype(m[k].dtype)])[order] for k in m}

    def features(self, b: ClauseBatch, m: dict[str, np.ndarray], band: float = 0.15) -> dict[str, np.ndarray]:
        """Per comment × category counts from the matches, shape (n, K) each.

        ``vote`` sums every match's vote (as the rules do) and ``strength`` the clause scores and cue votes
        behind them (the rules' tie-break, :func:`~voc.taxonomy.rules.vote_polarity`); the other counts leave out negated negative cues,
        which do not mark a category. ``hits > 0`` is the rules' detection.
        """
        K = self.n_categories
        n = b.n
        size = n * K
        cell = m["doc"] * K + m["cat"]
        kw = m["kind"] == 0
        vs = m.get("vote_score", m["score"])
        raw = np.where(kw, vs * (np.abs(vs) > band), CUE_VOTE[m["kind"]])
        vote = np.where(kw, np.sign(raw), raw)
        f = {"vote": np.bincount(cell, weights=vote, minlength=size).reshape(n, K).astype(float),
             "strength": np.bincount(cell, weights=raw, minlength=size).reshape(n, K).astype(float)}
        strong = m["kind"] != WEAK

        def count(mask):
            return np.bincount(cell[mask], minlength=size).reshape(n, K).astype(float)

        op = kw & (np.abs(m["score"]) > band)
        f["kw_op"] = count(op)
        f["kw_neu"] = count(kw & ~op)
        for name, k in (("cue_pos", 1), ("cue_neu", 2), ("cue_neg", 3)):
            f[name] = count(m["kind"] == k)
        f["neg"] = count(m["neg"] & strong)
        f["hits"] = count(strong)
        T = max(len(self.terms), 1)
        u = np.unique(cell[strong] * T + m["term"][strong])
        f["terms"] = np.bincount(u // T, minlength=size).reshape(n, K).astype(float)
        nc = max(len(b.flat), 1)
        u = np.unique(cell[strong] * nc + m["clause"][strong])
        f["clauses"] = np.bincount(u // nc, minlength=size).reshape(n, K).astype(float)
        return f


def next_clause_verdict(b: ClauseBatch, m: dict[str, np.ndarray], band: float = 0.15) -> np.ndarray:
    """Keyword scores where a neutral keyword clause takes the verdict of the next clause of its comment
    when that clause has no lexicon match of its own and is clearly polar (信用卡分期打了五折，挺划算的), as
    :meth:`~voc.taxonomy.rules.RuleMapper.map_clauses` does. ``band`` is the neutral band: the batch's
    (a trained mapper's ``band``), 0.15 in the rules."""
    score = m["score"]
    nc = len(b.flat)
    if nc == 0 or len(score) == 0:
        return score
    has = np.zeros(nc + 1, dtype=bool)
    has[m["clause"]] = True
    nxt = np.minimum(m["clause"] + 1, nc - 1)
    last = (b.doc_first + b.ndoc - 1)[m["doc"]]
    ok = ((m["kind"] == 0) & (np.abs(score) <= band) & (m["clause"] < last) & ~has[m["clause"] + 1]
          & (np.abs(b.scores[nxt]) > band))
    return np.where(ok, b.scores[nxt], score)


def strong_only(m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The matches without negated negative cues (those that mark a category)."""
    keep = m["kind"] != WEAK
    return m if keep.all() else {k: v[keep] for k, v in m.items()}


def polarity_features(b: ClauseBatch, m, f, pairs: np.ndarray, model_clause: np.ndarray, K: int,
                      band: float = 0.15) -> np.ndarray:
    """Features of the polarity model for (doc, category) ``pairs``, shape (len(pairs), len(POL_NAMES)).

    ``m`` are the strong matches (:func:`strong_only`), ``f`` the :meth:`RuleEvidence.features`. Rule matches
    give the attributed clauses; a pair without matches is attributed to ``model_clause`` (a global clause
    index, or -1 for none).
    """
    out = np.zeros((len(pairs), len(POL_NAMES)))
    if len(pairs) == 0:
        return out
    sc = b.scores
    # comment-level sentiment
    pos_c = (sc > band).astype(float)
    neg_c = (sc < -band).astype(float)
    nd = np.maximum(b.ndoc, 1).astype(float)
    doc_sum = np.bincount(b.doc_of_clause, weights=sc, minlength=b.n) / nd
    doc_pos = np.bincount(b.doc_of_clause, weights=pos_c, minlength=b.n) / nd
    doc_neg = np.bincount(b.doc_of_clause, weights=neg_c, minlength=b.n) / nd
    # keyword-clause statistics per cell from matches
    cell = m["doc"] * K + m["cat"]
    size = b.n * K
    kw = m["kind"] == 0
    s = m["score"]
    last = (b.doc_first + b.ndoc - 1)[m["doc"]] if len(cell) else np.zeros(0, np.int64)
    nxt_ok = kw & (np.abs(s) <= band) & (m["clause"] < last)
    nxt = np.where(nxt_ok, sc[np.minimum(m["clause"] + 1, max(len(sc) - 1, 0))] if len(sc) else 0.0, 0.0)

    def cnt(mask, w=None):
        return np.bincount(cell[mask], weights=None if w is None else w[mask], minlength=size)

    mild = np.zeros(max(len(sc), 1), dtype=bool)
    starts = [mt.start() for mt in MILD_RE.finditer(b.big)]
    if starts:
        mild[b.clause_of[np.array(starts, dtype=np.int64)]] = True
    mild_doc = np.bincount(b.doc_of_clause, weights=mild[: len(sc)], minlength=b.n) > 0
    mild_cell = cnt(mild[m["clause"]]) if len(cell) else np.zeros(size)
    kw_pos, kw_negc = cnt(kw & (s > band)), cnt(kw & (s < -band))
    kw_neu = cnt(kw & (np.abs(s) <= band))
    kw_sum, nxt_sum = cnt(kw, s), cnt(kw, nxt)
    d, k = pairs[:, 0], pairs[:, 1]
    idx = d * K + k
    vote = f["vote"][d, k].copy()
    cols = {"kw_pos": kw_pos[idx].astype(float), "kw_neg": kw_negc[idx].astype(float),
            "kw_neutral": kw_neu[idx].astype(float), "kw_score_sum": kw_sum[idx], "next_score_sum": nxt_sum[idx],
            "mild": mild_cell[idx].astype(float)}
    # pairs found by the text model alone: the attributed clause acts as a keyword clause
    alone = (f["hits"][d, k] == 0) & (model_clause >= 0)
    if alone.any():
        c = model_clause[alone]
        cs = sc[c]
        op = np.abs(cs) > band
        cols["kw_pos"][alone] = (cs > band)
        cols["kw_neg"][alone] = (cs < -band)
        cols["kw_neutral"][alone] = ~op
        cols["kw_score_sum"][alone] = cs
        has_next = (~op) & (c < (b.doc_first + b.ndoc - 1)[d[alone]])
        cols["next_score_sum"][alone] = np.where(has_next, sc[np.minimum(c + 1, len(sc) - 1)], 0.0)
        vote[alone] = np.sign(cs) * op
        cols["mild"][alone] = mild[c]
    out[:, 0] = np.sign(vote)
    out[:, 1] = np.tanh(vote / 2)
    out[:, 2] = f["cue_pos"][d, k] > 0
    out[:, 3] = f["cue_neu"][d, k] > 0
    out[:, 4] = f["cue_neg"][d, k] > 0
    out[:, 5] = np.log1p(cols["kw_pos"])
    out[:, 6] = np.log1p(cols["kw_neg"])
    out[:, 7] = np.log1p(cols["kw_neutral"])
    out[:, 8] = np.tanh(cols["kw_score_sum"])
    out[:, 9] = np.tanh(cols["next_score_sum"])
    out[:, 10] = doc_sum[d]
    out[:, 11] = doc_pos[d]
    out[:, 12] = doc_neg[d]
    out[:, 13] = vote == 0
    out[:, 14] = cols["mild"] > 0
    out[:, 15] = mild_doc[d]
    return out
