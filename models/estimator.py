"""``WireClassifier``: one scikit-learn estimator with three heads.

The heads share one TF-IDF representation built in a single pass over each
text by ``WireTokenizer``: words and word bigrams, word prefixes cut at
``prefix_length`` characters (a cheap stand-in for a stemmer that carries
Ukrainian and Russian inflection), optionally lemmas, and the headline and
lede's prefixes again under their own names (``^obstr``), so the opening that
carries a story's news weighs more than its background paragraphs.
``bench/model_selection.py`` chose these by cross-validation; one tokenising
pass instead of three analyzers (and no character n-grams) made it about
three times faster. Each head is a linear SVM whose scores become
probabilities by sigmoid calibration on held-in folds.

``y`` is a 2-D array with one column per head, in ``HEADS`` order, the same
convention as ``sklearn.multioutput.MultiOutputClassifier``: ``predict``
returns an ``(n, 4)`` array and ``predict_proba`` a list of four arrays.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

HEADS: tuple[str, ...] = ("topic", "stance", "humanitarian", "military")
TOKEN = re.compile(r"(?u)\b\w\w+\b")


class WireTokenizer:
    """Every feature of a text in one pass: words, bigrams, prefixes, lede prefixes.

    Feature names say what they are: ``word``, ``word word`` (bigram),
    ``~prefi`` (prefix), ``^prefi`` (prefix in the headline and lede).
    """

    def __init__(
        self,
        prefix_length: int = 5,
        lede_tokens: int = 60,
        bigrams: bool = True,
        lemmatize: bool = False,
    ) -> None:
        self.prefix_length = prefix_length
        self.lede_tokens = lede_tokens
        self.bigrams = bigrams
        self.lemmatize = lemmatize

    def __call__(self, text: str) -> list[str]:
        words = TOKEN.findall(text.lower())
        out = list(words)
        if self.bigrams:
            out += [f"{a} {b}" for a, b in itertools.pairwise(words)]
        n = self.prefix_length
        if n:
            out += ["~" + w[:n] for w in words]
        if self.lemmatize:
            out += ["=" + lemma for lemma in _lemmas(words)]
        if self.lede_tokens:
            out += ["^" + (w[:n] if n else w) for w in words[: self.lede_tokens]]
        return out


def _lemmas(words: list[str]) -> list[str]:
    """Dictionary lemmas (simplemma, en/uk/ru) for the lemmatisation variant of the benchmark."""
    import simplemma

    return [simplemma.lemmatize(w, lang=("uk", "ru", "en")) for w in words]


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
        prefix_length: int = 5,
        lede_tokens: int = 60,
        bigrams: bool = True,
        lemmatize: bool = False,
        min_df: int = 2,
        max_features: int | None = 200000,
        C: float = 0.5,
        class_weight: str | None = "balanced",
        calibration_cv: int = 3,
        tag_thresholds: tuple[float, float] = (0.5, 0.5),
        random_state: int = 0,
    ) -> None:
        self.prefix_length = prefix_length
        self.lede_tokens = lede_tokens
        self.bigrams = bigrams
        self.lemmatize = lemmatize
        self.min_df = min_df
        self.max_features = max_features
        self.C = C
        self.class_weight = class_weight
        self.calibration_cv = calibration_cv
        self.tag_thresholds = tag_thresholds
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------
    def _make_vectorizer(self) -> TfidfVectorizer:
        tokenizer = WireTokenizer(
            self.prefix_length, self.lede_tokens, self.bigrams, self.lemmatize
        )
        return TfidfVectorizer(
            analyzer=tokenizer,
            min_df=self.min_df,
            max_features=self.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )

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
        self.vectorizer_ = self._make_vectorizer()
        features = self.vectorizer_.fit_transform(texts)
        self.vectorizer_.stop_words_ = None  # terms cut by min_df: only bulk in the artifact
        self.estimators_ = []
        for column, head in enumerate(HEADS):
            target = _column(Y, column)
            self.estimators_.append(self._make_head(head, target).fit(features, target))
        self.classes_ = [est.classes_ for est in self.estimators_]
        self.heads_ = HEADS
        self.n_features_ = features.shape[1]
        return self

    # -- persistence -------------------------------------------------------
    def __getstate__(self) -> dict[str, object]:
        """The vocabulary travels as one newline-joined string: skops stores a dict of
        50,000 terms node by node (34 s and 40 MB), a single string in milliseconds."""
        state = dict(super().__getstate__())
        vec = state.get("vectorizer_")
        if vec is not None and getattr(vec, "vocabulary_", None) is not None:
            terms = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
            vec = copy.copy(vec)
            vec.vocabulary_ = None
            state["vectorizer_"] = vec
            state["_vocabulary_terms"] = "\n".join(terms)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        state = dict(state)
        terms = state.pop("_vocabulary_terms", None)
        super().__setstate__(state)
        if isinstance(terms, str):
            self.vectorizer_.vocabulary_ = {t: i for i, t in enumerate(terms.split("\n"))}

    # -- inference ---------------------------------------------------------
    def transform_text(self, X: Sequence[str]) -> sparse.csr_matrix:
        check_is_fitted(self, "estimators_")
        return self.vectorizer_.transform(_as_texts(X))

    def predict_heads(self, X: Sequence[str]) -> dict[str, HeadPrediction]:
        """All heads from one vectorisation: what the stream calls per batch.

        Topic and stance take the most probable label; a tag is true when its
        probability reaches its threshold (``tag_thresholds``, chosen on
        validation data by ``wirestream train``).
        """
        return self._heads(self.transform_text(X))

    def _heads(self, features: sparse.csr_matrix) -> dict[str, HeadPrediction]:
        out: dict[str, HeadPrediction] = {}
        thresholds = dict(zip(HEADS[2:], self.tag_thresholds, strict=True))
        for head, est in zip(HEADS, self.estimators_, strict=True):
            proba = est.predict_proba(features)
            if head in thresholds:
                true_col = list(est.classes_).index(True)
                best = np.where(proba[:, true_col] >= thresholds[head], true_col, 1 - true_col)
            else:
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
        preds = self._heads(features)
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
                order = np.argsort(-contrib)
                terms: list[str] = []
                for j in order:
                    if contrib[j] <= 0 or len(terms) >= top_k:
                        break
                    term = readable(str(names[row.indices[j]]))
                    if term not in terms:
                        terms.append(term)
                out[i][head] = terms
        return out


def readable(feature: str) -> str:
    """A feature name as an editor reads it: prefixes end in ``~``, lemmas lose their mark."""
    if feature[:1] in ("~", "^"):
        return feature[1:] + "~"
    if feature[:1] == "=":
        return feature[1:]
    return feature


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
