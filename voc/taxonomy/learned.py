"""A trained category mapper: lexicon rules, a weakly supervised text model and a gold-trained combiner.

How it decides, per comment and category:

1. **Rule evidence.** The taxonomy's keywords and cues are matched in every clause (the same lexicons,
   negation rule and clause polarity as :class:`~voc.taxonomy.rules.RuleMapper`) and summarised as
   domain-agnostic features: keyword hits in opinionated or neutral clauses, positive/neutral/negative
   cues, negated hits, distinct terms, share of clauses that mention the category.
2. **Text scores.** Character 1-3-gram TF-IDF of the comment's clauses feeds two linear models per
   category: one trained on the rules' labels of a large unlabelled corpus (weak supervision), one on the
   gold labels.
3. **Combiner.** Per category, a small logistic regression over (1) and (2), trained on gold labels with
   out-of-fold text scores, decides presence. It is kept only where it beat the bare rules out-of-fold on
   the gold training data by ``min_gain`` F1 and, given groups (domains), did not do worse than them when
   trained on the other groups; elsewhere the rules decide. (On hotel + shopping gold, learned detectors
   did not carry from one domain to the other.) With ``domain_mix`` the gate is replaced by a per-comment
   mix: a domain model (character n-grams; the unlabelled corpus and its gold against texts of other
   domains) gives each comment a weight ``d`` of being from the training domains, and presence is
   ``d * combiner + (1 - d) * rule hit``, so the gold-trained text scores act on text like the training
   data while comments from other domains keep the rules' detection.
4. **Polarity.** A multinomial logistic regression over the attributed clauses (cue votes, clause
   sentiment of keyword clauses, the clause after a neutral keyword clause, mild words such as 一般,
   the comment's sentiment) gives each found category its polarity. Categories found without rule
   evidence are attributed to the clause the text models score highest.

Rule evidence is computed by :mod:`voc.taxonomy.evidence` (with the context handling of
:mod:`voc.taxonomy.context`), character n-grams by :mod:`voc.taxonomy.ngrams`.

The mapper offers what :class:`~voc.taxonomy.stage.CategoryStage` needs (``map_clauses``, ``map_batch``,
``taxonomy_``) and the scikit-learn contract (``fit`` returns self, ``classes_``, ``predict_proba``).
It persists with skops: only numpy arrays and plain Python values are saved; the Aho-Corasick automaton,
the n-gram hash table and the taxonomy object are rebuilt after loading.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from voc.taxonomy.context import ContextRules, drop_question_mentions
from voc.taxonomy.evidence import POL_NAMES, ClauseBatch, RuleEvidence, polarity_features, strong_only
from voc.taxonomy.model import Taxonomy, load_taxonomy
from voc.taxonomy.ngrams import SEP, SHIFT, NgramIndex, decode_ngram, fit_ngram_vocab, ngram_tfidf
from voc.taxonomy.rules import Mention, vote_polarity

__all__ = ["CategoryModel", "POL_NAMES", "decode_ngram", "fit_ngram_vocab", "normalize_labels"]

POL_CLASSES = ("negative", "neutral", "positive")
META_NAMES = ("rule_hit", "kw_opinion", "log_kw_opinion", "kw_neutral_only", "cue_pos", "cue_neu", "cue_neg",
              "negated", "log_terms", "log_clauses", "clause_share", "log_len_x_hit",
              "text", "text_x_hit", "gold_text", "gold_text_x_hit")


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def normalize_labels(y, keys: list[str]) -> list[dict[str, str]]:
    """Gold labels as ``{category: polarity}`` dicts from GUIDELINES strings, dicts or an indicator matrix."""
    from voc.taxonomy.evaluate import parse_labels

    if isinstance(y, np.ndarray) and y.ndim == 2:
        return [{k: "neutral" for k, v in zip(keys, row) if v} for row in y]
    return [dict(v) if isinstance(v, dict) else parse_labels(v) for v in y]


# --------------------------------------------------------------------------- the model


class CategoryModel(BaseEstimator):
    """Trained mapper of comments to the categories of one taxonomy, with polarity.

    Parameters
    ----------
    taxonomy : a bundled taxonomy name (``rater``, ``touchpoint``) or a YAML path.
    ngram_max : longest character n-gram.
    min_df : smallest document frequency of an n-gram.
    max_features : most n-grams kept (by document frequency).
    text_C : inverse regularisation of the weakly supervised text model.
    gold_text : also train a text model on the gold labels.
    gold_C : inverse regularisation of the gold text model.
    meta_C : inverse regularisation of the per-category combiner.
    polarity_C : inverse regularisation of the polarity model.
    cv : folds for out-of-fold scores and the per-category gate.
    min_positives : fewest gold positives a category needs before a combiner is trained for it.
    gate : keep a category's combiner only where it beat the rules out-of-fold (by ``min_gain`` F1) and,
        when ``fit`` gets groups, did not do worse than the rules when trained on the other groups.
    min_gain : smallest out-of-fold F1 gain over the rules that switches a category to the combiner
        (about one example's worth for a category with 40 gold positives).
    domain_mix : decide presence per comment as ``d * combiner + (1 - d) * rule hit``, ``d`` the domain
        model's probability that the comment is from the training domains (``fit`` needs ``other``). The
        combiner and the gold text model then learn from the training-domain gold only (the gold comments
        not in ``other``), the polarity model from all of it; the gate is only reported.
    domain_C : inverse regularisation of the domain model.
    threshold : probability above which the combiner says a category is present, or ``'tune'``: per
        category, the threshold of ``THRESHOLD_GRID`` with the best out-of-fold F1 on the gold training data
        (ties go to the one nearest 0.5).
    band : clause scores within ``±band`` count as neutral (as in the rules).
    random_state : seed of the fold split.
    """

    def __init__(self, taxonomy: str = "rater", ngram_max: int = 3, min_df: int = 3,
                 max_features: int = 100_000, text_C: float = 16.0, gold_text: bool = True,
                 gold_C: float = 10.0, meta_C: float = 1.0, polarity_C: float = 1.0, cv: int = 5,
                 min_positives: int = 8, gate: bool = True, min_gain: float = 0.02,
                 domain_mix: bool = False, domain_C: float = 1.0, threshold: float | str = 0.5,
                 band: float = 0.15, random_state: int = 0):
        self.taxonomy = taxonomy
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.text_C = text_C
        self.gold_text = gold_text
        self.gold_C = gold_C
        self.meta_C = meta_C
        self.polarity_C = polarity_C
        self.cv = cv
        self.min_positives = min_positives
        self.gate = gate
        self.min_gain = min_gain
        self.domain_mix = domain_mix
        self.domain_C = domain_C
        self.threshold = threshold
        self.band = band
        self.random_state = random_state

    # ------------------------------------------------------------------ persistence

    _RUNTIME = ("taxonomy_", "_evidence", "_terms", "_context", "_index", "_scorer")

    def __getstate__(self):
        state = super().__getstate__()
        return {k: v for k, v in state.items() if k not in self._RUNTIME}

    def __setstate__(self, state):
        super().__setstate__(state)
        if "taxonomy_data_" in state:
            self._build_runtime()

    def _build_runtime(self) -> None:
        """Objects that are rebuilt rather than saved: the taxonomy, the automaton, the n-gram index."""
        self.taxonomy_ = Taxonomy.model_validate(self.taxonomy_data_)
        if list(self.taxonomy_.keys) != [str(k) for k in self.classes_]:
            raise ValueError("the stored taxonomy does not match classes_")
        self._evidence = RuleEvidence(self.taxonomy_)
        self._terms = self._evidence.terms
        self._context = ContextRules(self.taxonomy_)
        self._index = NgramIndex(self.vocab_)

    # ------------------------------------------------------------------ features

    def _rule_matches(self, b: ClauseBatch):
        return self._evidence.matches(b)

    def _rule_features(self, b: ClauseBatch, m) -> dict[str, np.ndarray]:
        return self._evidence.features(b, m, self.band)

    def _doc_tfidf(self, b: ClauseBatch) -> sp.csr_matrix:
        if not b.flat:
            return sp.csr_matrix((b.n, len(self.idf_)), dtype=np.float32)
        return ngram_tfidf(b.big, b.doc_of_clause[b.clause_of], b.n, self._index, self.idf_, self.ngram_max,
                           codes=b.codes)

    def _meta(self, f, ndoc, S, G) -> np.ndarray:
        """Combiner features, shape (n, K, len(META_NAMES))."""
        hit = (f["hits"] > 0).astype(float)
        n_clauses = np.maximum(ndoc, 1)[:, None].astype(float)
        cues = f["cue_pos"] + f["cue_neu"] + f["cue_neg"]
        cols = [hit, (f["kw_op"] > 0), np.log1p(f["kw_op"]), (f["kw_neu"] > 0) & (f["kw_op"] == 0) & (cues == 0),
                f["cue_pos"] > 0, f["cue_neu"] > 0, f["cue_neg"] > 0, f["neg"] > 0, np.log1p(f["terms"]),
                np.log1p(f["clauses"]), f["clauses"] / n_clauses, np.log1p(n_clauses) * hit,
                S, S * hit, G, G * hit]
        return np.stack([np.asarray(c, dtype=float) for c in cols], axis=2)

    def _text_scores(self, X) -> tuple[np.ndarray, np.ndarray]:
        S = np.clip(np.asarray(X @ self.text_coef_, dtype=float) + self.text_intercept_, -8, 8)
        if self.gold_coef_ is not None:
            G = np.clip(np.asarray(X @ self.gold_coef_, dtype=float) + self.gold_intercept_, -8, 8)
        else:
            G = np.zeros_like(S)
        return S, G

    def _domain(self, X) -> np.ndarray:
        """Probability that each comment is from the training domains (1 without a domain model)."""
        if getattr(self, "dom_coef_", None) is None:
            return np.ones(X.shape[0])
        return _sigmoid(np.asarray(X @ self.dom_coef_, dtype=float).ravel() + self.dom_intercept_)

    def _presence(self, meta: np.ndarray, hit: np.ndarray, d: np.ndarray | None = None) -> np.ndarray:
        """Probability of presence per comment × category (rule hits as 0/1 where no combiner is used;
        with a domain weight ``d``, the combiner and the rule hits mixed per comment)."""
        z = np.einsum("nkm,km->nk", meta, self.meta_coef_) + self.meta_intercept_
        p = _sigmoid(z)
        if d is not None:
            p = d[:, None] * p + (1.0 - d[:, None]) * hit
        return np.where(self.use_model_[None, :], p, hit.astype(float))

    # ------------------------------------------------------------------ polarity

    def _polarity_features(self, b: ClauseBatch, m, f, pairs: np.ndarray, model_clause: np.ndarray) -> np.ndarray:
        return polarity_features(b, m, f, pairs, model_clause, len(self.classes_), self.band)

    def _polarity(self, feats: np.ndarray, votes: np.ndarray, strength: np.ndarray) -> list[str]:
        if self.pol_coef_ is None:
            return [vote_polarity(v, s) for v, s in zip(votes.tolist(), strength.tolist())]
        z = feats @ self.pol_coef_.T + self.pol_intercept_
        return [POL_CLASSES[i] for i in z.argmax(axis=1)]

    def _model_clauses(self, b: ClauseBatch, pairs: np.ndarray) -> np.ndarray:
        """For (doc, category) pairs, the clause (global index) the text models score highest."""
        out = np.full(len(pairs), -1, dtype=np.int64)
        if len(pairs) == 0:
            return out
        docs = np.unique(pairs[:, 0])
        docs = docs[b.ndoc[docs] > 0]
        if len(docs) == 0:
            return out
        clause_ids = np.concatenate([np.arange(b.doc_first[d], b.doc_first[d] + b.ndoc[d]) for d in docs])
        texts = [b.flat[i] for i in clause_ids]
        lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        Xc = ngram_tfidf(SEP.join(texts) + SEP, np.repeat(np.arange(len(texts)), lens + 1), len(texts),
                         self._index, self.idf_, self.ngram_max)
        S, G = self._text_scores(Xc)
        C = S + G
        row_of = {int(c): r for r, c in enumerate(clause_ids)}
        for i, (d, k) in enumerate(pairs):
            if b.ndoc[d] == 0:
                continue
            rows = [row_of[int(c)] for c in range(b.doc_first[d], b.doc_first[d] + b.ndoc[d])]
            out[i] = clause_ids[rows[int(np.argmax(C[rows, k]))]]
        return out

    def _evidence_ngram(self, clause: str, k: int) -> str:
        """The n-gram of ``clause`` that most supports category ``k`` (evidence of a text-model mention)."""
        lens = np.array([len(clause)])
        X = ngram_tfidf(clause + SEP, np.repeat(np.arange(1), lens + 1), 1, self._index, self.idf_, self.ngram_max)
        if X.nnz == 0:
            return ""
        w = np.asarray(self.text_coef_[X.indices, k], dtype=float)
        if self.gold_coef_ is not None:
            w = w + np.asarray(self.gold_coef_[X.indices, k], dtype=float)
        w = w * X.data
        keys = self.vocab_[X.indices]
        multi = keys >= (1 << SHIFT)
        if multi.any():
            w = np.where(multi, w, -np.inf)
        return decode_ngram(keys[int(np.argmax(w))])

    # ------------------------------------------------------------------ mapping

    def _analyse(self, clauses: list[list[str]], scores: list[list[float]] | None):
        b = ClauseBatch([list(c) for c in clauses], scores, self.band)
        m = self._rule_matches(b)
        f = self._rule_features(b, m)
        m = strong_only(m)  # negated negative cues only vote
        d = None
        if self.use_model_.any():
            X = self._doc_tfidf(b)
            S, G = self._text_scores(X)
            if getattr(self, "dom_coef_", None) is not None:
                d = self._domain(X)
        else:  # every category is decided by the rules: the text models are not needed
            S = G = np.zeros((b.n, len(self.classes_)))
        meta = self._meta(f, b.ndoc, S, G)
        return b, m, f, meta, d

    def map_batch(self, clauses: list[list[str]], scores: list[list[float]]) -> list[list[Mention]]:
        """Mentions of many comments from their clauses and clause polarity scores (p_pos − p_neg)."""
        if not hasattr(self, "vocab_"):
            raise RuntimeError("CategoryModel is not fitted; call fit() or load a trained model")
        n = len(clauses)
        if n == 0:
            return []
        b, m, f, meta, d = self._analyse(clauses, scores)
        hit = f["hits"] > 0
        prob = self._presence(meta, hit, d)
        found = (prob >= self.thresholds_[None, :]) & (b.ndoc[:, None] > 0)
        pairs = np.argwhere(found)
        out: list[list[Mention]] = [[] for _ in range(n)]
        if len(pairs) == 0:
            return out
        alone = ~hit[pairs[:, 0], pairs[:, 1]]
        model_clause = np.full(len(pairs), -1, dtype=np.int64)
        if alone.any():
            model_clause[alone] = self._model_clauses(b, pairs[alone])
        pol = self._polarity(self._polarity_features(b, m, f, pairs, model_clause), f["vote"][pairs[:, 0], pairs[:, 1]],
                             f["strength"][pairs[:, 0], pairs[:, 1]])
        # evidence: distinct terms in order of first match, and the first clause, per found (doc, category)
        K = len(self.classes_)
        cell = pairs[:, 0] * K + pairs[:, 1]
        mkey = m["doc"] * K + m["cat"]
        sel = np.flatnonzero(found[m["doc"], m["cat"]]) if len(mkey) else np.zeros(0, dtype=np.int64)
        ukey, first_idx = np.unique(mkey[sel], return_index=True)  # matches are in text order
        first_clause = np.full(len(pairs), -1, dtype=np.int64)
        first_pos = np.zeros(len(pairs), dtype=np.int64)
        pos = np.searchsorted(ukey, cell)
        has = (pos < len(ukey)) & (ukey[np.minimum(pos, max(len(ukey) - 1, 0))] == cell) if len(ukey) else np.zeros(len(cell), bool)
        first_clause[has] = m["clause"][sel][first_idx[pos[has]]]
        first_pos[has] = m["start"][sel][first_idx[pos[has]]]
        evidence: dict[int, str] = {}
        if len(sel):
            T = max(len(self._terms), 1)
            pair_key = mkey[sel] * T + m["term"][sel]
            upk, upi = np.unique(pair_key, return_index=True)
            order = np.lexsort((upi, upk // T))
            keys_sorted = (upk // T)[order].tolist()
            terms_sorted = (upk % T)[order].tolist()
            terms = self._terms
            cur, buf = None, []
            for key, t in zip(keys_sorted, terms_sorted):
                if key != cur:
                    if cur is not None:
                        evidence[cur] = "|".join(buf)
                    cur, buf = key, []
                buf.append(terms[t])
            if cur is not None:
                evidence[cur] = "|".join(buf)
        alone_clause = np.where(model_clause >= 0, model_clause, b.doc_first[pairs[:, 0]])
        clause_g = np.where(first_clause >= 0, first_clause, alone_clause)
        first_pos = np.where(has, first_pos, b.clause_start[alone_clause] if len(b.flat) else 0)
        order = np.lexsort((pairs[:, 1], first_pos, pairs[:, 0]))  # mentions in order of their first evidence
        names = [str(k) for k in self.classes_]
        doc_first = b.doc_first
        for i in order.tolist():
            d, k = int(pairs[i, 0]), int(pairs[i, 1])
            c = int(clause_g[i])
            ev = evidence.get(d * K + k)
            if ev is None:
                ev = self._evidence_ngram(b.flat[c], k)
            out[d].append(Mention(names[k], pol[i], ev, c - int(doc_first[d])))
        if self._context:  # only comments with a category that a context rule re-attributes
            rule_cats = [k for k, name in enumerate(names) if name in self._context.categories]
            for d in np.unique(pairs[np.isin(pairs[:, 1], rule_cats), 0]).tolist():
                out[d] = self._context.apply(out[d], clauses[d])
        for d in np.unique(pairs[:, 0]).tolist():  # mentions found only in plain questions are dropped
            out[d] = drop_question_mentions(out[d], clauses[d])
        return out

    def map_clauses(self, clauses: list[str], polarities: list[float]) -> list[Mention]:
        """Mentions of one comment from its clauses and each clause's polarity score in [-1, 1]."""
        return self.map_batch([list(clauses)], [list(polarities)])[0]

    # ------------------------------------------------------------------ texts

    def _prepare(self, X):
        from voc.taxonomy.evaluate import prepare

        if not hasattr(self, "_scorer") or self._scorer is None:
            from voc.classify.lexicon import LexiconSentiment

            self._scorer = LexiconSentiment().fit()
        return prepare(list(X), self._scorer)

    def predict_mentions(self, texts) -> list[list[Mention]]:
        """Mentions per raw text, with the pipeline's cleaning, clause splitting and lexicon clause sentiment."""
        p = self._prepare(texts)
        return self.map_batch(p.clauses, p.scores)

    def predict_proba(self, X) -> np.ndarray:
        """Probability that each category of ``classes_`` is present, per raw text."""
        p = self._prepare(X)
        if not p.clauses:
            return np.zeros((0, len(self.classes_)))
        b, m, f, meta, d = self._analyse(p.clauses, p.scores)
        prob = self._presence(meta, f["hits"] > 0, d)
        prob[b.ndoc == 0] = 0.0
        return prob

    def domain_proba(self, X) -> np.ndarray:
        """Per raw text, the domain model's probability that it is from the training domains (the weight
        of the combiner under ``domain_mix``; 1 without a domain model)."""
        return self.domain_weights(self._prepare(X).clauses)

    def domain_weights(self, clauses: list[list[str]]) -> np.ndarray:
        """:meth:`domain_proba` of comments already cleaned and split into clauses."""
        return self._domain(self._doc_tfidf(ClauseBatch(clauses, None, self.band)))

    def predict(self, X) -> np.ndarray:
        """Multi-label indicator matrix over ``classes_``."""
        return (self.predict_proba(X) >= self.thresholds_[None, :]).astype(int)

    # ------------------------------------------------------------------ training

    def fit(self, X, y=None, *, weak=None, groups=None, other=None, sample_weight=None, sentiment_model=None,
            verbose: bool = False):
        """Train on gold-labelled texts ``X``/``y`` and, optionally, unlabelled texts ``weak``.

        Parameters
        ----------
        X : raw comments with gold labels (cleaned and split as the pipeline does).
        y : their labels for this taxonomy: GUIDELINES strings (``delivery:negative;...``), dicts or an
            indicator matrix over the taxonomy's categories. None trains on rule labels only.
        weak : raw unlabelled comments; the rules label them (weak supervision) for the text model.
            When None, ``X`` is used.
        groups : optional group (e.g. domain) of each gold comment. With two or more groups, a category's
            combiner is kept only if it also beats the rules when trained on the other groups, so
            detection changes that do not carry across domains fall back to the rules.
        other : raw comments from domains other than ``weak``'s (with ``domain_mix``): the negative
            examples of the domain model, whose positives are ``weak`` and the gold comments not in ``other``.
        sample_weight : optional weight of each gold comment in the gold text model and the combiner (e.g.
            more for the labels whose conventions the evaluation follows).
        sentiment_model : the clause scorer used for the gold comments (the lexicon model by default).
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import KFold

        from voc.classify.lexicon import LexiconSentiment
        from voc.taxonomy.evaluate import prepare

        log = print if verbose else (lambda *a, **k: None)
        tax = load_taxonomy(self.taxonomy) if not isinstance(self.taxonomy, Taxonomy) else self.taxonomy
        self.taxonomy_data_ = tax.model_dump(mode="json")
        self.classes_ = np.array(tax.keys)
        keys = list(tax.keys)
        K = len(keys)
        X = list(X)
        scorer = sentiment_model if sentiment_model is not None else LexiconSentiment().fit()
        gold = prepare(X, scorer)
        weak_prep = gold if weak is None else prepare(list(weak), _NoScores())
        y_gold = normalize_labels(y, keys) if y is not None else None
        if y_gold is not None and len(y_gold) != len(X):
            raise ValueError(f"X has {len(X)} texts but y has {len(y_gold)} labels")
        unknown = sorted({k for d in (y_gold or []) for k in d} - set(keys))
        if unknown:
            raise ValueError(f"labels use categories {unknown} that taxonomy {tax.name!r} does not define")

        # n-gram vocabulary over all comments (clauses joined, never across a clause boundary)
        docs = [SEP.join(c) for c in weak_prep.clauses if c]
        if weak is not None:
            docs += [SEP.join(c) for c in gold.clauses if c]
        self.vocab_, self.idf_ = fit_ngram_vocab(docs, self.ngram_max, self.min_df, self.max_features)
        if len(self.vocab_) == 0:  # tiny corpora: keep every n-gram
            self.vocab_, self.idf_ = fit_ngram_vocab(docs, self.ngram_max, 1, self.max_features)
        self.text_coef_ = np.zeros((len(self.vocab_), K), dtype=np.float32)
        self.text_intercept_ = np.zeros(K)
        self.gold_coef_ = None
        self.gold_intercept_ = np.zeros(K)
        self.meta_coef_ = np.zeros((K, len(META_NAMES)))
        self.meta_intercept_ = np.zeros(K)
        self.use_model_ = np.zeros(K, dtype=bool)
        self.thresholds_ = np.full(K, 0.5)
        self.pol_coef_ = None
        self.pol_intercept_ = None
        self.dom_coef_ = None
        self.dom_intercept_ = 0.0
        self._build_runtime()
        if self.domain_mix and not other:
            raise ValueError("domain_mix needs texts of other domains (other=...) for the domain model")

        # 1. weak supervision: the rules label the unlabelled comments; a text model learns them
        bw = ClauseBatch(weak_prep.clauses, None, self.band)
        fw = self._rule_features(bw, self._rule_matches(bw))
        Yw = (fw["hits"] > 0).astype(int)
        Xw = self._doc_tfidf(bw)
        Xw.sum_duplicates()
        okw = bw.ndoc > 0
        for k in range(K):
            yk = Yw[okw, k]
            if 0 < yk.sum() < len(yk):
                lr = LogisticRegression(C=self.text_C, solver="liblinear", max_iter=300,
                                        random_state=self.random_state).fit(Xw[okw], yk)
                self.text_coef_[:, k] = lr.coef_[0]
                self.text_intercept_[k] = lr.intercept_[0]
            else:
                self.text_intercept_[k] = 8.0 if yk.sum() else -8.0
        log(f"weak: {int(okw.sum())} comments, rule label rate {Yw[okw].mean(0).round(3).tolist()}")
        self.fit_report_ = {"n_gold": len(X), "n_weak": int(okw.sum()), "weak_label_rate": dict(zip(keys, Yw[okw].mean(0).round(4).tolist()))}
        if y_gold is None:
            self.thresholds_[:] = 0.5
            return self

        # 2. gold: rule features, out-of-fold text scores, combiner and gate per category
        bg = ClauseBatch(gold.clauses, gold.scores, self.band)
        mg = self._rule_matches(bg)
        fg = self._rule_features(bg, mg)
        mg = strong_only(mg)
        Xg = self._doc_tfidf(bg)
        Xg.sum_duplicates()
        Y = np.array([[k in d for k in keys] for d in y_gold], dtype=int)
        ok = bg.ndoc > 0
        hit = fg["hits"] > 0
        S, _ = self._text_scores(Xg)
        idx_all = np.flatnonzero(ok)
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if len(w) != len(X):
            raise ValueError(f"X has {len(X)} texts but sample_weight has {len(w)} entries")
        if self.domain_mix:  # the combiner acts only on training-domain text: it learns from that alone
            same = ok & ~np.isin(np.asarray(X, dtype=object), list(other))
            self._fit_domain(Xw[okw], Xg[same], other, log)
            idx = np.flatnonzero(same)
        else:
            idx = idx_all
        n_folds = max(2, min(self.cv, len(idx)))
        folds = list(KFold(n_folds, shuffle=True, random_state=self.random_state).split(idx)) if len(idx) >= 4 else []
        grp = None if groups is None else np.asarray(list(groups), dtype=object)
        if grp is not None and len(grp) != len(X):
            raise ValueError(f"X has {len(X)} texts but groups has {len(grp)} entries")
        group_folds = []
        if grp is not None and len(set(grp[idx])) >= 2:
            gi = grp[idx]
            group_folds = [(np.flatnonzero(gi != v), np.flatnonzero(gi == v)) for v in sorted(set(gi))]
        G = self._gold_text_oof(Xg, Y, idx, folds, w)
        meta = self._meta(fg, bg.ndoc, S, G)
        meta_grp = self._meta(fg, bg.ndoc, S, self._gold_text_oof(Xg, Y, idx, group_folds, w)) if group_folds else None
        if self.gold_text and folds:
            self.gold_coef_, self.gold_intercept_ = self._gold_text_fit(Xg[idx], Y[idx], w[idx])
        report = {}
        for k, key in enumerate(keys):
            yk, hk = Y[idx, k], hit[idx, k].astype(int)
            f1_rules = _f1(yk, hk)
            npos = int(yk.sum())
            entry = {"positives": npos, "rules_f1": round(f1_rules, 4)}
            report[key] = entry
            if npos < max(self.min_positives, 2) or npos == len(yk) or not folds:
                entry["decision"] = "rules (too few gold positives)"
                continue
            oof = self._meta_oof(meta[idx, k], yk, folds, w[idx])
            thr = _best_threshold(yk, oof) if self.threshold == "tune" else float(self.threshold)
            f1_model = _f1(yk, (oof >= thr).astype(int))
            entry["model_f1_oof"] = round(f1_model, 4)
            entry["threshold"] = thr
            use = f1_model >= f1_rules + self.min_gain
            if group_folds:
                # the combiner must also beat the rules when it is trained on other groups (domains)
                f1_grp = _f1(yk, (self._meta_oof(meta_grp[idx, k], yk, group_folds, w[idx]) >= thr).astype(int))
                entry["model_f1_cross_group"] = round(f1_grp, 4)
                use = use and f1_grp >= f1_rules
            lr = LogisticRegression(C=self.meta_C, max_iter=3000).fit(meta[idx, k], yk, sample_weight=w[idx])
            self.meta_coef_[k] = lr.coef_[0]
            self.meta_intercept_[k] = lr.intercept_[0]
            self.thresholds_[k] = thr
            self.use_model_[k] = use or not self.gate or self.domain_mix
            entry["gate"] = "model" if use else "rules"
            entry["decision"] = "mixed" if self.domain_mix else "model" if self.use_model_[k] else (
                f"rules (combiner not {self.min_gain:g} F1 better out-of-fold"
                + (" or worse across groups)" if group_folds else ")"))
        log("combiner:", report)

        # 3. polarity model over gold mentions (every gold category, attributed as at prediction time)
        gp = [(d, k) for d in idx_all for k in range(K) if keys[k] in y_gold[d]]
        pairs = np.array(gp, dtype=np.int64).reshape(-1, 2)
        yp = np.array([POL_CLASSES.index(y_gold[d][keys[k]]) for d, k in gp], dtype=int)
        if len(pairs):
            alone = ~hit[pairs[:, 0], pairs[:, 1]]
            mc = np.full(len(pairs), -1, dtype=np.int64)
            if alone.any():
                mc[alone] = self._model_clauses(bg, pairs[alone])
            P = self._polarity_features(bg, mg, fg, pairs, mc)
            counts = np.bincount(yp, minlength=3)
            if len(yp) >= 20 and (counts > 0).sum() >= 2:
                lr = LogisticRegression(C=self.polarity_C, max_iter=5000).fit(P, yp)
                coef = np.zeros((3, P.shape[1]))
                icpt = np.full(3, -30.0)
                if len(lr.classes_) == 2:  # binary: one row of weights for the second class
                    coef[lr.classes_[1]] = lr.coef_[0]
                    icpt[lr.classes_[1]] = lr.intercept_[0]
                    icpt[lr.classes_[0]] = 0.0
                else:
                    coef[lr.classes_] = lr.coef_
                    icpt[lr.classes_] = lr.intercept_
                self.pol_coef_ = coef
                self.pol_intercept_ = icpt
            report["_polarity"] = {"mentions": int(len(yp)), "class_counts": dict(zip(POL_CLASSES, counts.tolist())),
                                   "model": self.pol_coef_ is not None}
        self.fit_report_["categories"] = report
        return self


    def _fit_domain(self, X_weak, X_gold, other, log, max_weak: int = 20_000) -> None:
        """Domain model: logistic regression on character n-grams, training domains (unlabelled corpus
        and its gold) against ``other`` texts, classes balanced."""
        from sklearn.linear_model import LogisticRegression

        from voc.taxonomy.evaluate import prepare

        if X_weak.shape[0] > max_weak:
            keep = np.random.default_rng(self.random_state).choice(X_weak.shape[0], max_weak, replace=False)
            X_weak = X_weak[np.sort(keep)]
        bo = ClauseBatch(prepare(list(other), _NoScores()).clauses, None, self.band)
        Xo = self._doc_tfidf(bo)[bo.ndoc > 0]
        Xd = sp.vstack([X_weak, X_gold, Xo]).tocsr()
        yd = np.r_[np.ones(X_weak.shape[0] + X_gold.shape[0]), np.zeros(Xo.shape[0])].astype(int)
        lr = LogisticRegression(C=self.domain_C, solver="liblinear", class_weight="balanced",
                                random_state=self.random_state).fit(Xd, yd)
        self.dom_coef_ = lr.coef_[0].astype(np.float32)
        self.dom_intercept_ = float(lr.intercept_[0])
        self.fit_report_["domain"] = {"training_domains": int(yd.sum()), "other_domains": int((yd == 0).sum())}
        log("domain model:", self.fit_report_["domain"])

    def _gold_text_fit(self, Xg, Y, w=None):
        """Per-category logistic regression on gold text: (coef (V, K) float32, intercept (K,))."""
        from sklearn.linear_model import LogisticRegression

        K = Y.shape[1]
        coef = np.zeros((Xg.shape[1], K), dtype=np.float32)
        icpt = np.zeros(K)
        for k in range(K):
            yk = Y[:, k]
            if yk.sum() < 2 or yk.sum() == len(yk):
                icpt[k] = -8.0 if yk.sum() < len(yk) / 2 else 8.0
                continue
            lr = LogisticRegression(C=self.gold_C, solver="liblinear").fit(Xg, yk, sample_weight=w)
            coef[:, k] = lr.coef_[0]
            icpt[k] = lr.intercept_[0]
        return coef, icpt

    def _gold_text_oof(self, Xg, Y, idx, folds, w) -> np.ndarray:
        """Out-of-fold gold text scores (0 where not computed)."""
        G = np.zeros(Y.shape, dtype=float)
        if not (self.gold_text and folds):
            return G
        for a, c in folds:
            coef, icpt = self._gold_text_fit(Xg[idx[a]], Y[idx[a]], w[idx[a]])
            G[idx[c]] = np.asarray(Xg[idx[c]] @ coef, dtype=float) + icpt
        return np.clip(G, -8, 8)

    def _meta_oof(self, Mk, yk, folds, w) -> np.ndarray:
        """Out-of-fold combiner probabilities."""
        from sklearn.linear_model import LogisticRegression

        oof = np.zeros(len(yk))
        for a, c in folds:
            if 0 < yk[a].sum() < len(a):
                lr = LogisticRegression(C=self.meta_C, max_iter=3000).fit(Mk[a], yk[a], sample_weight=w[a])
                oof[c] = lr.predict_proba(Mk[c])[:, 1]
            else:
                oof[c] = float(yk[a].mean())
        return oof


class _NoScores:
    """A stand-in clause scorer for unlabelled text, whose clause sentiment the weak labels do not need."""

    classes_ = np.array(["negative", "neutral", "positive"])

    def predict_proba(self, X):
        return np.tile([0.0, 1.0, 0.0], (len(X), 1))


THRESHOLD_GRID = np.round(np.arange(0.2, 0.71, 0.05), 2)


def _best_threshold(y: np.ndarray, prob: np.ndarray) -> float:
    """The threshold of ``THRESHOLD_GRID`` with the best F1 of ``prob >= t`` (ties: nearest 0.5)."""
    scores = [(_f1(y, (prob >= t).astype(int)), -abs(t - 0.5)) for t in THRESHOLD_GRID]
    return float(THRESHOLD_GRID[max(range(len(scores)), key=scores.__getitem__)])


def _f1(y: np.ndarray, p: np.ndarray) -> float:
    tp = int((y & p).sum())
    fp = int(((1 - y) & p).sum())
    fn = int((y & (1 - p)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
