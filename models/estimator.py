"""``WireClassifier``: one scikit-learn estimator with three heads.

The heads share one TF-IDF representation built in a single pass over each
text by ``WireTokenizer``: words and word bigrams, word prefixes cut at
``prefix_length`` characters (a cheap stand-in for a stemmer that carries
Ukrainian and Russian inflection) and the first ``lede_tokens`` words'
prefixes again under their own names (``^obstr``), so the headline and lede
that carry a story's news weigh more than its background paragraphs. Each
block (words, prefixes, lede) is scaled to unit length on its own, as separate
vectorisers in a FeatureUnion would be. Lemmas (simplemma, pymorphy3,
Snowball) and character n-grams exist only as variants for
``bench/model_selection.py``, which chose these features by cross-validation
on the fit split and the wire-register set; one tokenising pass instead of
three analyzers, and no character n-grams, made it about three times faster.
Each head is a linear SVM whose scores become probabilities by sigmoid
calibration on held-in folds.

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
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

HEADS: tuple[str, ...] = ("topic", "stance", "humanitarian", "military")
# The blocks of features, by the mark WireTokenizer puts before each name.
BLOCKS = {"~": 1, "^": 2, "'": 3, "=": 4}
TOKEN = re.compile(r"(?u)\b\w\w+\b")


class WireTokenizer:
    """Every feature of a text in one pass: words, bigrams, prefixes, lede prefixes.

    Feature names say what they are: ``word``, ``word word`` (bigram),
    ``~prefi`` (prefix), ``^prefi`` (prefix in the headline and lede).
    """

    def __init__(
        self,
        prefix_length: int = 5,
        lede_tokens: int = 120,
        bigrams: bool = True,
        lemmatizer: str | None = None,
        char_chars: int = 0,
    ) -> None:
        self.prefix_length = prefix_length
        self.lede_tokens = lede_tokens
        self.bigrams = bigrams
        self.lemmatizer = lemmatizer
        self.char_chars = char_chars

    def __call__(self, text: str) -> list[str]:
        words = TOKEN.findall(text.lower())
        out = list(words)
        if self.bigrams:
            out += [f"{a} {b}" for a, b in itertools.pairwise(words)]
        n = self.prefix_length
        if n:
            out += ["~" + w[:n] for w in words]
        if self.lemmatizer:
            out += ["=" + lemma for lemma in lemmas(self.lemmatizer, text, words)]
        if self.lede_tokens:
            out += ["^" + (w[:n] if n else w) for w in words[: self.lede_tokens]]
        if self.char_chars:
            out += ["'" + g for g in _char_wb(text[: self.char_chars].lower())]
        return out


def _char_wb(text: str, lo: int = 3, hi: int = 5) -> list[str]:
    """Character 3-5-grams inside word boundaries (scikit-learn's ``char_wb``), of the opening."""
    grams = []
    for word in text.split():
        padded = f" {word} "
        for n in range(lo, hi + 1):
            grams += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return grams


_LEMMA_CACHE: dict[tuple[str, str, str], str] = {}


def lemmas(kind: str, text: str, words: list[str]) -> list[str]:
    """Lemmas or stems of ``words`` for the variants ``bench/model_selection.py`` compares:
    ``simplemma`` (dictionary lemmas), ``snowball`` (Snowball stemmers; there is no Ukrainian
    one, so Cyrillic words get the Russian stemmer) and ``pymorphy3`` (morphological
    lemmas with the uk and ru dictionaries). Cached per word: wire copy repeats words."""
    from wirestream.language import detect_language

    lang = detect_language(text)
    out = []
    for w in words:
        key = (kind, lang, w)
        lemma = _LEMMA_CACHE.get(key)
        if lemma is None:
            lemma = _lemma(kind, lang, w)
            if len(_LEMMA_CACHE) < 2_000_000:
                _LEMMA_CACHE[key] = lemma
        out.append(lemma)
    return out


def _lemma(kind: str, lang: str, word: str) -> str:
    if kind == "simplemma":
        import simplemma

        return simplemma.lemmatize(word, lang=lang)
    if kind == "snowball":
        import snowballstemmer

        return snowballstemmer.stemmer("english" if lang == "en" else "russian").stemWord(word)
    if kind == "pymorphy3":
        if lang == "en":
            return word
        return _morph(lang).parse(word)[0].normal_form
    raise ValueError(f"unknown lemmatizer {kind!r}")


_MORPH: dict[str, object] = {}


def _morph(lang: str):  # type: ignore[no-untyped-def]
    if lang not in _MORPH:
        import pymorphy3

        _MORPH[lang] = pymorphy3.MorphAnalyzer(lang=lang)
    return _MORPH[lang]


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
        lede_tokens: int = 120,
        bigrams: bool = True,
        lemmatizer: str | None = None,
        char_chars: int = 0,
        block_norm: bool = True,
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
        self.lemmatizer = lemmatizer
        self.char_chars = char_chars
        self.block_norm = block_norm
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
            self.prefix_length,
            self.lede_tokens,
            self.bigrams,
            self.lemmatizer,
            self.char_chars,
        )
        return TfidfVectorizer(
            analyzer=tokenizer,
            min_df=self.min_df,
            max_features=self.max_features,
            sublinear_tf=True,
            norm=None if self.block_norm else "l2",
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
        vocab = self.vectorizer_.vocabulary_
        self.feature_blocks_ = np.zeros(len(vocab), dtype=np.int8)
        for term, index in vocab.items():
            self.feature_blocks_[index] = BLOCKS.get(term[:1], 0)
        features = self._normalise(features)
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
        state.pop("_names", None)  # caches, rebuilt on first use
        state.pop("_linear_cache", None)
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
        return self._normalise(self.vectorizer_.transform(_as_texts(X)))

    def _normalise(self, features: sparse.csr_matrix) -> sparse.csr_matrix:
        """Each block of features (words, prefixes, lede, ...) scaled to unit length on its own,
        as a FeatureUnion of separate vectorisers would: otherwise the most numerous block
        drowns the others."""
        if not self.block_norm:
            return features
        features = sparse.csr_matrix(features, dtype=np.float64)
        blocks = self.feature_blocks_[features.indices]
        rows = np.repeat(np.arange(features.shape[0]), np.diff(features.indptr))
        squares = np.zeros((features.shape[0], int(self.feature_blocks_.max()) + 1))
        np.add.at(squares, (rows, blocks), features.data**2)
        norms = np.sqrt(squares[rows, blocks])
        features.data = (features.data / np.where(norms > 0, norms, 1.0)).astype(np.float64)
        return features

    def predict_heads(self, X: Sequence[str]) -> dict[str, HeadPrediction]:
        """All heads from one vectorisation: what the stream calls per batch.

        Topic and stance take the most probable label; a tag is true when its
        probability reaches its threshold (``tag_thresholds``, chosen on
        validation data by ``wirestream train``).
        """
        return self._heads(self.transform_text(X))

    def _linear(
        self,
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]:
        """Each head's SVM weights and sigmoid calibrators, gathered once.

        ``CalibratedClassifierCV.predict_proba`` validates its input and calls one
        calibrator per class, which cost as much as the linear algebra for a batch;
        ``_proba`` does the same arithmetic in one pass (a test holds it equal).
        """
        cached = self.__dict__.get("_linear_cache")
        if cached is None:
            cached = []
            for est in self.estimators_:
                cal = est.calibrated_classifiers_[0]
                svm = cal.estimator
                a = np.array([c.a_ for c in cal.calibrators])
                b = np.array([c.b_ for c in cal.calibrators])
                positions = np.searchsorted(est.classes_, svm.classes_)
                cached.append(
                    (
                        np.ascontiguousarray(svm.coef_.T),
                        svm.intercept_,
                        a,
                        b,
                        positions,
                        len(est.classes_),
                    )
                )
            self.__dict__["_linear_cache"] = cached
        return cached

    def _proba(self, features: sparse.csr_matrix) -> list[np.ndarray]:
        out = []
        for coef_t, intercept, a, b, positions, n_classes in self._linear():
            decision = np.asarray(features @ coef_t) + intercept
            calibrated = expit(-(a * decision + b))
            if n_classes == 2:
                proba = np.column_stack([1.0 - calibrated[:, 0], calibrated[:, 0]])
            else:
                proba = np.zeros((decision.shape[0], n_classes))
                proba[:, positions] = calibrated
                total = proba.sum(axis=1, keepdims=True)
                proba = np.divide(
                    proba, total, out=np.full_like(proba, 1 / n_classes), where=total != 0
                )
            proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
            out.append(proba)
        return out

    def _heads(self, features: sparse.csr_matrix) -> dict[str, HeadPrediction]:
        out: dict[str, HeadPrediction] = {}
        thresholds = dict(zip(HEADS[2:], self.tag_thresholds, strict=True))
        for head, est, proba in zip(HEADS, self.estimators_, self._proba(features), strict=True):
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
    def _feature_names(self) -> list[str]:
        """Index -> feature name, built once (get_feature_names_out builds it on every call)."""
        names = self.__dict__.get("_names")
        if names is None:
            vocab = self.vectorizer_.vocabulary_
            names = sorted(vocab, key=vocab.__getitem__)
            self.__dict__["_names"] = names
        return names

    def explain(self, X: Sequence[str], top_k: int = 5) -> list[dict[str, list[str]]]:
        """Per story and head, the terms that pushed most toward the chosen label."""
        features = self.transform_text(X).tocsr()
        names = self._feature_names()
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
    if feature[:1] == "'":
        return f"'{feature[1:].strip()}'"
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
