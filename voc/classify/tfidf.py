"""Fast TF-IDF + logistic-regression sentiment: negative / neutral / positive.

The polar model is a logistic regression on sublinear TF-IDF of character
n-grams (optionally plus rjieba word n-grams), Platt-calibrated on
out-of-fold scores. Neutral is decided after it: a comment is neutral when
the calibrated confidence ``max(p_pos, p_neg)`` is below a threshold, which
mild words (一般, 还行, ...) and questions raise.

Vectorisation runs on whole batches in numpy (no per-n-gram Python loop):
n-grams of up to three characters are packed exactly into one ``uint64``
(21 bits per code point), longer ones and word n-grams are 64-bit
polynomial hashes, looked up in a hash index over the ``uint64`` vocabulary.
What is saved is numpy arrays and floats in two ``voc.classify.tfidf``
classes, so ``skops.io`` loads it trusting only those.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.ndimage import uniform_filter
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import normalize

from voc.classify.lexicon import MILD_WORDS
from voc.text.questions import question_share

CLASSES = np.array(["negative", "neutral", "positive"])
MILD_RE = re.compile("|".join(MILD_WORDS))
QUESTION_RE = re.compile(r"\?|？|吗|么|嘛|请问|想问|问一下|咨询|是否|能不能|可不可以|有没有|多少|几点|哪里|在哪|哪儿")
_U = np.uint64
_B = _U(0x9E3779B97F4A7C15)
_BINV = _U(pow(int(_B), -1, 2**64))
_HI = _U(1 << 63)  # marks hashed keys; packed keys of n <= 3 characters stay below 2**63


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spread the bits of uint64 keys."""
    x = (x ^ (x >> _U(30))) * _U(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U(27))) * _U(0x94D049BB133111EB)
    return x ^ (x >> _U(31))


def clean_texts(X) -> list[str]:
    """NFKC, lower-cased ASCII; non-strings (None, NaN) become ``""``."""
    if isinstance(X, str):
        raise ValueError("expected a list of texts, got a single string; wrap it in a list")
    return [unicodedata.normalize("NFKC", t).lower() if isinstance(t, str) else "" for t in X]


def ngram_keys(texts: list[str], ngram_range=(1, 3), word_ngrams: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(keys, rows)``: one uint64 key per n-gram occurrence and the index of its text."""
    joined = "\x00".join(texts)
    if joined.count("\x00") != max(len(texts) - 1, 0):  # a text holds the separator itself
        joined = "\x00".join(t.replace("\x00", " ") for t in texts)
    cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + _U(1)
    L = len(cp)
    if L == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    sep = cp == _U(1)
    S = np.concatenate([[0], np.cumsum(sep)])  # S[k]: separators before position k = row of k
    keys, rows = [], []
    with np.errstate(over="ignore"):
        if word_ngrams or ngram_range[1] > 3:  # polynomial prefix hashes: span hash in O(1)
            pw = np.cumprod(np.concatenate([[_U(1)], np.full(L, _B)]))
            ipw = np.cumprod(np.concatenate([[_U(1)], np.full(L, _BINV)]))
            P = np.concatenate([[_U(0)], np.cumsum(cp * pw[:L])])

            def span(a, b):
                return (P[b] - P[a]) * ipw[a]

        for n in range(ngram_range[0], min(ngram_range[1], L) + 1):
            i = np.flatnonzero(S[n:] == S[:L - n + 1])  # windows [i, i+n) inside one text
            if n <= 3:
                k = cp[i].copy()
                for m in range(1, n):
                    k |= cp[i + m] << _U(21 * m)
            else:
                k = _mix(span(i, i + n) + _U(n)) | _HI
            keys.append(k)
            rows.append(S[i])
        if word_ngrams:
            import rjieba

            tok = rjieba.cut(joined)  # the separator is never joined to a word
            ln = np.fromiter(map(len, tok), dtype=np.int64, count=len(tok))
            st = np.concatenate([[0], np.cumsum(ln)[:-1]])
            st, ln = st[~sep[st]], ln[~sep[st]]
            en = st + ln
            for n in range(1, word_ngrams + 1):
                a, b = st[:len(st) - n + 1], en[n - 1:]
                ok = S[a] == S[b - 1]
                a, b, first = a[ok], b[ok], ln[:len(ln) - n + 1][ok]
                salt = _U(n) * _U(0x5851F42D4C957F2D) + first.astype(np.uint64) * _U(0x14057B7EF767814F)
                keys.append(_mix(span(a, b) ^ salt) | _HI)
                rows.append(S[a])
    if not keys:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(keys), np.concatenate(rows)


class NgramTfidfVectorizer(TransformerMixin, BaseEstimator):
    """Sublinear, L2-normalised TF-IDF of character (and word) n-grams, vectorised over batches.

    Parameters
    ----------
    ngram_range : character n-gram sizes (min, max).
    word_ngrams : 0, or the largest rjieba word n-gram to add.
    min_df : keep n-grams found in at least this many training texts.
    max_features : keep at most this many n-grams, the most frequent.
    """

    def __init__(self, ngram_range=(1, 3), word_ngrams=0, min_df=2, max_features=None):
        self.ngram_range, self.word_ngrams = ngram_range, word_ngrams
        self.min_df, self.max_features = min_df, max_features

    def _counts(self, texts: list[str], index=None) -> tuple[sp.csr_matrix, np.ndarray]:
        keys, rows = ngram_keys(texts, tuple(self.ngram_range), self.word_ngrams)
        if index is None:
            uniq, cols = np.unique(keys, return_inverse=True)
        else:
            uniq, cols = None, index.get_indexer(keys)
            rows, cols = rows[cols >= 0], cols[cols >= 0]
        n_cols = len(uniq) if index is None else len(index)
        X = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(texts), n_cols))
        X.sum_duplicates()
        return X, uniq

    def fit(self, X, y=None):
        texts = clean_texts(X)
        counts, uniq = self._counts(texts)
        df = np.bincount(counts.indices, minlength=len(uniq))
        keep = np.flatnonzero(df >= self.min_df)
        if self.max_features and len(keep) > self.max_features:
            keep = np.sort(keep[np.argsort(-df[keep], kind="stable")[: self.max_features]])
        if len(keep) == 0:
            raise ValueError("no n-gram occurs in min_df texts; lower min_df or give more texts")
        self.vocabulary_, self._index_cache = uniq[keep], None
        self.idf_ = np.log((1 + len(texts)) / (1 + df[keep])) + 1.0
        return self

    def _index(self) -> pd.Index:
        # A hash index over vocabulary_, built on first use and not saved (see __getstate__).
        if getattr(self, "_index_cache", None) is None:
            self._index_cache = pd.Index(self.vocabulary_)
        return self._index_cache

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_index_cache", None)
        return state

    def transform(self, X) -> sp.csr_matrix:
        X, _ = self._counts(clean_texts(X), self._index())
        X.data = (1.0 + np.log(X.data)) * self.idf_[X.indices]
        return normalize(X, copy=False)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Character n-grams as text; hashed n-grams as ``#<hex key>``."""
        def name(k: int) -> str:
            if k >> 63:
                return f"#{k:016x}"
            return "".join(chr(c - 1) for c in ((k >> (21 * m)) & 0x1FFFFF for m in range(3)) if c)

        return np.array([name(int(k)) for k in self.vocabulary_], dtype=object)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def text_cues(texts: list[str]) -> np.ndarray:
    """Array (n, 2): whether each cleaned text has a mild word, and the share of its pieces that are plain
    questions (:func:`voc.text.questions.question_share`; rhetorical questions do not count)."""
    return np.array([(MILD_RE.search(t) is not None, question_share(t) if QUESTION_RE.search(t) else 0.0)
                     for t in texts], dtype=float).reshape(-1, 2)


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    """Macro-averaged F1 over the three classes (a class absent from both counts 0)."""
    f = [2 * np.sum((pred == c) & (y == c)) / max(np.sum(pred == c) + np.sum(y == c), 1) for c in CLASSES]
    return float(np.mean(f))


def neutral_proba(s: np.ndarray, cues: np.ndarray, threshold: float, mild_boost: float,
                  question_boost: float, temperature: float) -> np.ndarray:
    """(n, 3) probabilities from calibrated polar logits ``s`` and cues.

    ``conf = max(p_pos, p_neg)``; neutral wins exactly when ``conf`` is below
    ``threshold + mild_boost * mild + question_boost * question``, and its
    probability falls off with slope ``1 / temperature`` past that point.
    """
    pp = _sigmoid(s)
    conf = np.maximum(pp, 1 - pp)
    t = threshold + cues @ np.array([mild_boost, question_boost])
    p_neu = _sigmoid(np.log(conf) + (t - conf) / temperature)  # odds(p_neu) == conf at conf == t
    return np.stack([(1 - p_neu) * (1 - pp), p_neu, (1 - p_neu) * pp], axis=1)


def nb_weights(X: sp.csr_matrix, y: np.ndarray, alpha: float = 1.0, sample_weight: np.ndarray | None = None
               ) -> np.ndarray:
    """``|log-count ratio|`` per feature (NB-SVM): how strongly it separates positive from negative.

    With ``sample_weight`` a row counts that many times."""
    B = X.copy()
    B.data[:] = 1.0
    if sample_weight is not None:
        B = sp.diags(np.asarray(sample_weight, dtype=float)) @ B
    p = alpha + np.asarray(B[y == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(B[y == 0].sum(axis=0)).ravel()
    return np.abs(np.log(p / p.sum()) - np.log(q / q.sum()))


def _reweigh(X: sp.csr_matrix, w: np.ndarray | None, copy: bool = True) -> sp.csr_matrix:
    if w is None:
        return X
    X = X.copy() if copy else X
    X.data *= w[X.indices]
    return normalize(X, copy=False)


class TfidfSentiment(ClassifierMixin, BaseEstimator):
    """Comment sentiment (negative/neutral/positive) from TF-IDF n-grams and logistic regression.

    Parameters
    ----------
    ngram_range, word_ngrams, min_df, max_features : see :class:`NgramTfidfVectorizer`.
    nb_power : scale features by ``|log-count ratio| ** nb_power`` (NB-SVM style) before the
        regression; 0 turns it off. 0.5 generalised best to held-out domains.
    C : inverse L2 regularisation of the logistic regression.
    calibration : ``"sigmoid"`` (Platt scaling on ``cv``-fold out-of-fold scores) or None.
    cv : folds for calibration and for tuning neutral when ``fit`` gets neutral labels.
    neutral_threshold : comments whose calibrated ``max(p_pos, p_neg)`` is below it are neutral.
    mild_boost, question_boost : how much a mild word or a question raises that threshold.
    neutral_temperature : width of the neutral/polar transition in confidence units.
    random_state : seed of the folds.

    Attributes
    ----------
    classes_ : always ``['negative', 'neutral', 'positive']``.
    vectorizer_ : the fitted :class:`NgramTfidfVectorizer`.
    feature_weights_ : NB weights per feature, or None.
    coef_, intercept_ : the logistic regression (positive vs negative).
    calib_ : Platt ``(a, b)``: calibrated log-odds ``a * raw + b``.
    neutral_params_ : ``(threshold, mild_boost, question_boost, temperature)`` used to predict.
    """

    def __init__(self, ngram_range=(1, 3), word_ngrams=0, min_df=2, max_features=None, nb_power=0.5,
                 C=4.0, calibration="sigmoid", cv=3, neutral_threshold=0.625, mild_boost=0.15,
                 question_boost=0.0, neutral_temperature=0.1, random_state=0):
        self.ngram_range, self.word_ngrams = ngram_range, word_ngrams
        self.min_df, self.max_features, self.nb_power = min_df, max_features, nb_power
        self.C, self.calibration, self.cv = C, calibration, cv
        self.neutral_threshold, self.mild_boost, self.question_boost = neutral_threshold, mild_boost, question_boost
        self.neutral_temperature, self.random_state = neutral_temperature, random_state

    def _fit_polar(self, X: sp.csr_matrix, y: np.ndarray, sw: np.ndarray | None = None
                   ) -> tuple[LogisticRegression, np.ndarray | None]:
        w = nb_weights(X, y, sample_weight=sw) ** self.nb_power if self.nb_power else None
        return LogisticRegression(C=self.C, solver="liblinear").fit(_reweigh(X, w), y, sample_weight=sw), w

    def fit(self, X, y, sample_weight=None):
        """Fit on texts labelled positive/negative, or positive/neutral/negative.

        Neutral rows do not train the polar model; when present they tune the
        neutral parameters on out-of-fold scores (the hyper-parameters stay as given).
        ``sample_weight`` (one non-negative number per text, default 1) weighs rows in the NB ratios, the
        logistic regression and the calibration, e.g. to up-weight a small in-domain file.
        """
        texts = clean_texts(X)
        y = np.array([str(v).strip().lower() for v in y], dtype=object)
        if len(texts) == 0 or len(texts) != len(y):
            raise ValueError(f"fit needs one label per text and at least one text: got {len(texts)} and {len(y)}")
        sw = None
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=float)
            if sw.shape != (len(texts),) or not np.isfinite(sw).all() or (sw < 0).any():
                raise ValueError("sample_weight needs one finite, non-negative number per text")
        if not set(y) <= set(CLASSES):
            raise ValueError(f"labels must be negative/neutral/positive, got {sorted(set(y) - set(CLASSES))[:5]}")
        polar = np.flatnonzero(y != "neutral")
        yb = (y[polar] == "positive").astype(int)
        if len(np.unique(yb)) < 2:
            raise ValueError("fit needs both positive and negative examples")
        self.vectorizer_ = NgramTfidfVectorizer(self.ngram_range, self.word_ngrams, self.min_df,
                                                self.max_features).fit(texts)
        Xv = self.vectorizer_.transform(texts)
        spw = None if sw is None else sw[polar]
        lr, self.feature_weights_ = self._fit_polar(Xv[polar], yb, spw)
        self.coef_, self.intercept_ = lr.coef_.ravel().copy(), float(lr.intercept_[0])
        raw = _reweigh(Xv, self.feature_weights_) @ self.coef_ + self.intercept_
        self.calib_ = (1.0, 0.0)
        k = min(self.cv, int(np.bincount(yb).min()))
        if self.calibration == "sigmoid" and k >= 2:
            oof = np.empty(len(polar))
            for tr, te in StratifiedKFold(k, shuffle=True, random_state=self.random_state).split(polar, yb):
                m, w = self._fit_polar(Xv[polar[tr]], yb[tr], None if spw is None else spw[tr])
                oof[te] = m.decision_function(_reweigh(Xv[polar[te]], w))
            platt = LogisticRegression(C=1.0).fit(oof[:, None], yb, sample_weight=spw)
            self.calib_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
            raw[polar] = oof
        self.classes_ = CLASSES.copy()
        self.neutral_params_ = (self.neutral_threshold, self.mild_boost, self.question_boost,
                                self.neutral_temperature)
        if len(polar) < len(y):
            self.neutral_params_ = self._tune(self.calib_[0] * raw + self.calib_[1], text_cues(texts), y)
        return self

    def _scores(self, texts: list[str]) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise NotFittedError("this TfidfSentiment is not fitted yet; call fit first")
        if not texts:
            return np.zeros(0)
        X = _reweigh(self.vectorizer_.transform(texts), self.feature_weights_, copy=False)
        return self.calib_[0] * (X @ self.coef_ + self.intercept_) + self.calib_[1]

    def decision_function(self, X) -> np.ndarray:
        """Calibrated log-odds of positive against negative, one per text."""
        return self._scores(clean_texts(X))

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (n, 3) in the order of ``classes_``; rows sum to 1."""
        texts = clean_texts(X)
        s = self._scores(texts)
        if not texts:
            return np.zeros((0, 3))
        return neutral_proba(s, text_cues(texts), *self.neutral_params_)

    def predict(self, X) -> np.ndarray:
        """The most probable class per text."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def polarity(self, X) -> np.ndarray:
        """``p_positive - p_negative`` per text, in [-1, 1]."""
        p = self.predict_proba(X)
        return p[:, 2] - p[:, 0]

    @staticmethod
    def _tune(s: np.ndarray, cues: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
        # Grid of (threshold, mild_boost, question_boost) scored by macro-F1 + accuracy, smoothed over
        # neighbouring cells so a broad plateau beats a lucky spike; then log-loss picks the temperature.
        grid = (np.round(np.arange(0.5, 0.951, 0.025), 3), (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5),
                (0.0, 0.1, 0.2, 0.3, 0.4, 0.5))
        score = np.zeros([len(g) for g in grid])
        for idx in np.ndindex(score.shape):
            pred = CLASSES[neutral_proba(s, cues, *(g[i] for g, i in zip(grid, idx)), 0.05).argmax(1)]
            score[idx] = macro_f1(y, pred) + (pred == y).mean()
        best = tuple(float(g[i]) for g, i in zip(grid, np.unravel_index(
            uniform_filter(score, size=3, mode="nearest").argmax(), score.shape)))
        rows, cols = np.arange(len(y)), np.searchsorted(CLASSES, y)
        loss = {tp: -np.log(np.clip(neutral_proba(s, cues, *best, tp)[rows, cols], 1e-12, 1)).mean()
                for tp in (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)}
        return (*best, min(loss, key=loss.get))

    def tune_neutral(self, X, y3):
        """Pick the neutral parameters on held-out 3-class labelled texts; returns self.

        Sets both the hyper-parameters (so ``clone`` keeps them) and ``neutral_params_``.
        """
        texts = clean_texts(X)
        y = np.array([str(v).strip().lower() for v in y3], dtype=object)
        if len(texts) == 0 or len(texts) != len(y) or not set(y) <= set(CLASSES):
            raise ValueError("tune_neutral needs one negative/neutral/positive label per text")
        self.neutral_params_ = self._tune(self._scores(texts), text_cues(texts), y)
        t, mb, qb, temp = self.neutral_params_
        self.set_params(neutral_threshold=t, mild_boost=mb, question_boost=qb, neutral_temperature=temp)
        return self
