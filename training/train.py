"""Fit the WireClassifier, choose tag thresholds, evaluate on both held-out sets, save signed.

Steps: load the labelled stories (the corpus, plus newsroom labels when
retraining); split off the fixed held-out share by story id; choose the
humanitarian and military thresholds on a validation share of the fit side
(fit on the rest, maximise each tag's F1); fit again on the whole fit side with
those thresholds; evaluate on the corpus held-out split and on the
wire-register held-out set (never trained on); write artifact, signed manifest
and report.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from wirestream.models.estimator import HEADS, WireClassifier
from wirestream.models.persistence import save_model
from wirestream.training.corpus import LabelledStory, corpus_sha256, load_corpus
from wirestream.training.evaluate import evaluate, summary, write_report
from wirestream.training.split import DEFAULT_SEED, held_out_split, validation_split

THRESHOLD_GRID = np.round(np.arange(0.2, 0.81, 0.025), 3)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def targets_of(stories: Sequence[LabelledStory]) -> np.ndarray:
    return np.array([s.targets for s in stories], dtype=object)


def choose_thresholds(
    model: WireClassifier, texts: Sequence[str], y: np.ndarray
) -> tuple[float, float]:
    """Per tag, the probability threshold with the best F1 on validation data."""
    proba = model.predict_proba(list(texts))
    chosen = []
    for column in (2, 3):
        classes = list(model.classes_[column])
        p_true = proba[column][:, classes.index(True)]
        truth = y[:, column].astype(bool)
        best, best_f1 = 0.5, -1.0
        for t in THRESHOLD_GRID:
            pred = p_true >= t
            tp = int(np.sum(pred & truth))
            f1 = 2 * tp / (int(pred.sum()) + int(truth.sum())) if tp else 0.0
            if f1 > best_f1 + 1e-9 or (
                abs(f1 - best_f1) <= 1e-9 and abs(t - 0.5) < abs(best - 0.5)
            ):
                best, best_f1 = float(t), f1
        chosen.append(best)
    return chosen[0], chosen[1]


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
    tr_idx, val_idx = validation_split(fit_stories, range(len(fit_stories)))
    base = WireClassifier(random_state=seed, **(params or {}))
    probe = base.__class__(**base.get_params()).fit(
        [fit_stories[i].text for i in tr_idx], targets_of([fit_stories[i] for i in tr_idx])
    )
    thresholds = choose_thresholds(
        probe, [fit_stories[i].text for i in val_idx], targets_of([fit_stories[i] for i in val_idx])
    )
    step(
        3,
        f"tag thresholds chosen on {len(val_idx)} validation stories: humanitarian {thresholds[0]:.3f}, military {thresholds[1]:.3f}",
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
