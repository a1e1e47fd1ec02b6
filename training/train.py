"""Fit the WireClassifier, choose tag thresholds, evaluate on both held-out sets, save signed.

Steps: load the labelled stories (the corpus, plus newsroom labels when
retraining); split off the fixed held-out share by story id; choose the
humanitarian and military thresholds on out-of-fold probabilities of the whole
fit side (k-fold: every story is scored by a model that never saw it; per tag,
the threshold nearest 0.5 within one bootstrap standard error of the best F1);
fit again on the whole fit side with those thresholds; evaluate on the corpus
held-out split and on the wire-register held-out set (never trained on); write
artifact, signed manifest and report.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sklearn.base import clone
from sklearn.model_selection import KFold

from wirestream.models.estimator import HEADS, WireClassifier
from wirestream.models.persistence import save_model
from wirestream.training.corpus import LabelledStory, corpus_sha256, load_corpus
from wirestream.training.evaluate import evaluate, summary, write_report
from wirestream.training.split import DEFAULT_SEED, held_out_split

THRESHOLD_GRID = np.round(np.arange(0.2, 0.81, 0.025), 3)
# Folds for the out-of-fold tag probabilities. Nested cross-validation on the fit
# side (bench/thresholds.py; README gives the figures) found the one-SE rule on
# out-of-fold probabilities at least as good on unseen folds as the plain F1 argmax
# there or on a single 15% validation share, whose thresholds moved by 0.07-0.14
# (s.d.) from fold to fold.
THRESHOLD_FOLDS = 5
TAG_COLUMNS = (HEADS.index("humanitarian"), HEADS.index("military"))


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def targets_of(stories: Sequence[LabelledStory]) -> np.ndarray:
    return np.array([s.targets for s in stories], dtype=object)


def tag_probabilities(model: WireClassifier, texts: Sequence[str]) -> np.ndarray:
    """P(true) of the humanitarian and military tags, shape ``(n, 2)``."""
    proba = model.predict_proba(list(texts))
    return np.column_stack([proba[c][:, list(model.classes_[c]).index(True)] for c in TAG_COLUMNS])


def out_of_fold_tag_probabilities(
    base: WireClassifier,
    texts: Sequence[str],
    y: np.ndarray,
    folds: int = THRESHOLD_FOLDS,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """P(true) of each tag, shape ``(n, 2)``, each row from a model fitted without that story."""
    texts = list(texts)
    out = np.zeros((len(texts), 2))
    for fit_idx, score_idx in KFold(folds, shuffle=True, random_state=seed).split(texts):
        model = clone(base).fit([texts[i] for i in fit_idx], y[fit_idx])
        out[score_idx] = tag_probabilities(model, [texts[i] for i in score_idx])
    return out


def binary_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    """F1 of the positive class from boolean arrays (0 when nothing is right)."""
    tp = int(np.sum(truth & pred))
    return 2 * tp / (int(truth.sum()) + int(pred.sum())) if tp else 0.0


def f1_by_threshold(p_true: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """F1 of the positive class at each threshold of ``THRESHOLD_GRID``."""
    pred = p_true[None, :] >= THRESHOLD_GRID[:, None]
    tp = (pred & truth[None, :]).sum(axis=1)
    return np.where(tp > 0, 2 * tp / np.maximum(pred.sum(axis=1) + truth.sum(), 1), 0.0)


def best_threshold(
    p_true: np.ndarray, truth: np.ndarray, one_se: bool = False, n_boot: int = 200
) -> float:
    """The grid threshold with the best F1 of the positive class; ties go to the one nearest 0.5.

    With ``one_se``, the one nearest 0.5 among those whose F1 is within one bootstrap
    standard error of the best (the one-standard-error rule): F1 is flat near its peak,
    so the exact argmax is mostly noise, and calibrated probabilities make 0.5 the
    natural default.
    """
    f1 = f1_by_threshold(p_true, truth)
    floor = f1.max() - 1e-9
    if one_se:
        rng = np.random.default_rng(0)
        pred = p_true >= THRESHOLD_GRID[int(np.argmax(f1))]  # the bootstrap needs the peak only
        boot = []
        for _ in range(n_boot):
            i = rng.integers(0, len(truth), len(truth))
            boot.append(binary_f1(truth[i], pred[i]))
        floor = f1.max() - float(np.std(boot))
    near = [float(t) for t, f in zip(THRESHOLD_GRID, f1, strict=True) if f >= floor]
    return min(near, key=lambda t: (abs(t - 0.5), t))


def choose_thresholds(
    base: WireClassifier, texts: Sequence[str], y: np.ndarray, seed: int = DEFAULT_SEED
) -> tuple[float, float]:
    """Per tag, the threshold by the one-standard-error rule on out-of-fold probabilities."""
    p_true = out_of_fold_tag_probabilities(base, texts, y, seed=seed)
    hum, mil = (
        best_threshold(p_true[:, j], y[:, c].astype(bool), one_se=True)
        for j, c in enumerate(TAG_COLUMNS)
    )
    return hum, mil


def train(
    data: Sequence[Path],
    out_dir: Path,
    *,
    signing_key: Ed25519PrivateKey | None,
    wire_heldout: Sequence[Path] = (),
    extra_stories: Sequence[LabelledStory] = (),
    extra_held_out: Sequence[LabelledStory] = (),
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] = _stderr,
    params: dict[str, Any] | None = None,
    manifest_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, evaluate and save; return the manifest.

    ``extra_stories`` (newsroom labels) are fitted on; ``extra_held_out`` (the
    newsroom's fixed held-out share) are only evaluated on.
    """
    started = time.perf_counter()

    def step(n: int, msg: str) -> None:
        progress(f"[{n}/6 {time.perf_counter() - started:6.1f}s] {msg}")

    step(1, f"loading labelled stories from {', '.join(str(p) for p in data)}")
    corpus = load_corpus(data)
    fit_idx, held_idx = held_out_split(corpus)
    fit_stories = [corpus[i] for i in fit_idx] + list(extra_stories)
    held = [corpus[i] for i in held_idx]
    wire = load_corpus(wire_heldout) if wire_heldout else []
    step(
        2,
        f"{len(corpus)} corpus stories + {len(extra_stories)} newsroom labels: "
        f"{len(fit_stories)} to fit, {len(held)} held out by id"
        + (f", {len(wire)} wire-register held-out" if wire else "")
        + (f", {len(extra_held_out)} newsroom held-out" if extra_held_out else ""),
    )
    base = WireClassifier(random_state=seed, **(params or {}))
    thresholds = choose_thresholds(
        base, [s.text for s in fit_stories], targets_of(fit_stories), seed=seed
    )
    step(
        3,
        f"tag thresholds chosen on {THRESHOLD_FOLDS}-fold out-of-fold probabilities of the "
        f"{len(fit_stories)} fit stories: humanitarian {thresholds[0]:.3f}, military {thresholds[1]:.3f}",
    )
    model = base.set_params(tag_thresholds=thresholds)
    model.fit([s.text for s in fit_stories], targets_of(fit_stories))
    step(
        4, f"fitted {len(HEADS)} heads on {len(fit_stories)} stories, {model.n_features_} features"
    )

    sets: dict[str, dict[str, Any]] = {}
    for name, stories in (
        ("corpus held-out", held),
        ("wire held-out", wire),
        ("newsroom held-out", list(extra_held_out)),
    ):
        if stories:
            sets[name] = evaluate(
                model, [s.text for s in stories], targets_of(stories), [s.language for s in stories]
            )
    for name, m in sets.items():
        step(
            5,
            f"{name} ({m['n_stories']}): "
            + ", ".join(f"{h} {m[h]['macro_f1']:.3f}" for h in HEADS)
            + f"; tag F1 humanitarian {m['humanitarian']['f1']:.3f}, military {m['military']['f1']:.3f}",
        )
        for lang, row in m["by_language"].items():
            progress(
                f"               {lang} ({row['n_stories']}): "
                + ", ".join(f"{h} {row[h]:.3f}" for h in HEADS)
                + "; tag F1 "
                + ", ".join(
                    f"{t[:3]} {row[f'{t}_f1']:.3f} [{row[f'{t}_f1_ci95'][0]:.2f}, "
                    f"{row[f'{t}_f1_ci95'][1]:.2f}] of {row[f'{t}_true']}"
                    for t in ("humanitarian", "military")
                )
            )
    keys = {
        "corpus held-out": "held_out",
        "wire held-out": "wire_held_out",
        "newsroom held-out": "newsroom_held_out",
    }
    manifest = save_model(
        model,
        out_dir,
        training_data_sha256=corpus_sha256([*corpus, *extra_stories]),
        metrics={keys[name]: summary(m) for name, m in sets.items()},
        signing_key=signing_key,
        extra={
            "seed": seed,
            "n_train": len(fit_stories),
            "n_newsroom_labels": len(extra_stories),
            "thresholds": {"humanitarian": thresholds[0], "military": thresholds[1]},
            "held_out_ids": [s.id for s in held],
        }
        | (manifest_extra or {}),
    )
    write_report(sets, out_dir / "report", extra_md=f"Model `{manifest['model_version']}`.")
    step(
        6,
        f"wrote {out_dir} (model {manifest['model_version']}, {'signed by ' + manifest['signing_key_id'] if signing_key else 'UNSIGNED'}) and report/",
    )
    return manifest
