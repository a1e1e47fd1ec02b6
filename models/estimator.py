"""``WireClassifier``: one scikit-learn estimator with three heads.

The heads share a single TF-IDF representation: word 1-2-grams, word
prefixes ("stems" cut at ``stem_length`` characters, a cheap stand-in for a
stemmer that carries Ukrainian and Russian inflection) and character 3-5-grams
inside word boundaries over the first ``char_max_chars`` characters (headline
and lede; bounds the cost on long copy). ``bench/model_selection.py`` compares
the alternatives by cross-validation. Each head is a linear SVM whose scores
become probabilities by sigmoid calibration on held-in folds.

``y`` is a 2-D array with one column per head, in ``HEADS`` order, the same
convention as ``sklearn.multioutput.MultiOutputClassifier``: ``predict``
returns an ``(n, 4)`` array and ``predict_proba`` a list of four arrays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

HEADS: tuple[str, ...] = ("topic", "stance", "humanitarian", "military")
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


class Lede:
    """Lower-cased opening of a text: headline and lede carry most of the signal."""

    def __init__(self, max_chars: int | None) -> None:
        self.max_chars = max_chars

    def __call__(self, text: str) -> str:
        return (text[: self.max_chars] if self.max_chars else text).lower()


class PrefixAnalyzer:
    """Lower-cased word prefixes: 'обстрілами', 'обстріл' -> 'обстр'."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __call__(self, text: str) -> list[str]:
        return [w[: self.length] for w in _TOKEN.findall(text.lower())]


@dataclass(frozen=True)
class HeadPrediction:
    """Labels and the probability of each chosen label, for one head."""

    labels: np.ndarray
    scores: np.ndarray
    proba: np.ndarray


class WireClassifier(ClassifierMixin, BaseEstimator):
    """Topic, stance and humanitarian/military tags for wire-story text."""

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 2),
        stem_length: int | None = 5,
        max_word_features: int | None = 100000,
        max_stem_features: int | None = 50000,
        char_ngram_range: tuple[int, int] | None = (3, 5),
        char_max_chars: int | None = 1000,
        min_df: int = 2,
        C: float = 0.5,
        class_weight: str | None = "balanced",
        calibration_cv: int = 3,
        random_state: int = 0,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.stem_length = stem_length
        self.max_word_features = max_word_features
        self.max_stem_features = max_stem_features
        self.char_ngram_range = char_ngram_range
        self.char_max_chars = char_max_chars
        self.min_df = min_df
        self.C = C
        self.class_weight = class_weight
        self.calibration_cv = calibration_cv
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------
    def _make_vectorizer(self) -> FeatureUnion:
        word = TfidfVectorizer(
            analyzer="word",
            ngram_range=self.word_ngram_range,
            min_df=self.min_df,
            max_features=self.max_word_features,
            sublinear_tf=True,
            token_pattern=r"(?u)\b\w\w+\b",
            dtype=np.float32,
        )
        parts = [("word", word)]
        if self.stem_length:
            stem = TfidfVectorizer(
                analyzer=PrefixAnalyzer(self.stem_length),
                min_df=self.min_df,
                max_features=self.max_stem_features,
                sublinear_tf=True,
                dtype=np.float32,
            )
            parts.append(("stem", stem))
        if self.char_ngram_range:
            char = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=self.char_ngram_range,
                preprocessor=Lede(self.char_max_chars),
                min_df=self.min_df,
                sublinear_tf=True,
                dtype=np.float32,
            )
            parts.append(("char", char))
        return FeatureUnion(parts)

    def _make_head(self, head: str, target: np.ndarray) -> CalibratedClassifierCV:
        labels, counts = np.unique(target, return_counts=True)
        if len(labels) < 2:
            raise ValueError(f"head {head!r}: every example has the label {labels[0]!r}")
        rarest = int(counts.min())
        if rarest < 2:
            raise ValueError(
                f"head {head!r}: label {labels[counts.argmin()]!r} has only {rarest} example; "
                "at least 2 are needed to calibrate probabilities"
            )
        svm = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
        n_folds = min(self.calibration_cv, rarest)
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=self.random_state)
        return CalibratedClassifierCV(svm, method="sigmoid", cv=folds, ensemble=False)

    def fit(self, X: Sequence[str], y: np.ndarray | Sequence[Sequence[object]]) -> WireClassifier:
        texts = _as_texts(X)
        Y = np.asarray(y, dtype=object)
        if Y.ndim != 2 or Y.shape[1] != len(HEADS):
            raise ValueError(f"y must have shape (n_samples, {len(HEADS)}) in order {HEADS}")
        if Y.shape[0] != len(texts):
            raise ValueError(f"X has {len(texts)} samples but y has {Y.shape[0]}")
        self.vectorizer_ = self._make_vectorizer().fit(texts)
        features = self.vectorizer_.transform(texts)
        self.estimators_ = []
        for column, head in enumerate(HEADS):
            target = _column(Y, column)
            self.estimators_.append(self._make_head(head, target).fit(features, target))
        self.classes_ = [est.classes_ for est in self.estimators_]
        self.heads_ = HEADS
        self.n_features_ = features.shape[1]
        return self

    # -- inference ---------------------------------------------------------
    def transform_text(self, X: Sequence[str]) -> sparse.csr_matrix:
        check_is_fitted(self, "estimators_")
        return self.vectorizer_.transform(_as_texts(X))

    def predict_heads(self, X: Sequence[str]) -> dict[str, HeadPrediction]:
        """All heads from one vectorisation: what the stream calls per batch."""
        features = self.transform_text(X)
        out: dict[str, HeadPrediction] = {}
        for head, est in zip(HEADS, self.estimators_, strict=True):
            proba = est.predict_proba(features)
            best = proba.argmax(axis=1)
            out[head] = HeadPrediction(est.classes_[best], proba[np.arange(len(best)), best], proba)
        return out

    def predict_proba(self, X: Sequence[str]) -> list[np.ndarray]:
        return [pred.proba for pred in self.predict_heads(X).values()]

    def predict(self, X: Sequence[str]) -> np.ndarray:
        preds = self.predict_heads(X)
        return np.column_stack([preds[h].labels.astype(object) for h in HEADS])

    def score(self, X: Sequence[str], y: np.ndarray, sample_weight: object = None) -> float:
        """Mean exact-match accuracy over the heads (ClassifierMixin's is single-output)."""
        Y = np.asarray(y, dtype=object)
        P = self.predict(X)
        return float(np.mean([np.mean(P[:, j] == _column(Y, j)) for j in range(len(HEADS))]))

    # -- explanation -------------------------------------------------------
    def explain(self, X: Sequence[str], top_k: int = 5) -> list[dict[str, list[str]]]:
        """Per story and head, the terms that pushed most toward the chosen label."""
        features = self.transform_text(X).tocsr()
        names = self.vectorizer_.get_feature_names_out()
        preds = self.predict_heads(X)
        out: list[dict[str, list[str]]] = [{} for _ in range(features.shape[0])]
        for head, est in zip(HEADS, self.estimators_, strict=True):
            coef = est.calibrated_classifiers_[0].estimator.coef_
            classes = list(est.classes_)
            for i in range(features.shape[0]):
                row = features.getrow(i)
                label_index = classes.index(preds[head].labels[i])
                if coef.shape[0] == 1:  # binary: one weight vector toward classes[1]
                    weights = coef[0] if label_index == 1 else -coef[0]
                else:
                    weights = coef[label_index]
                contrib = row.data * weights[row.indices]
                order = np.argsort(-contrib)[:top_k]
                out[i][head] = [_readable(names[row.indices[j]]) for j in order if contrib[j] > 0]
        return out


def _as_texts(X: Sequence[str]) -> list[str]:
    if isinstance(X, str):
        raise TypeError("X must be a sequence of texts, not a single string")
    texts = list(X)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("every sample in X must be a str (headline and body joined)")
    return texts


def _column(Y: np.ndarray, column: int) -> np.ndarray:
    values = Y[:, column]
    if all(isinstance(v, bool | np.bool_) for v in values):
        return values.astype(bool)
    return values.astype(str)


def _readable(feature_name: str) -> str:
    kind, _, term = feature_name.partition("__")
    if kind == "stem":
        return f"{term}~"
    return f"'{term}'" if kind == "char" else term
