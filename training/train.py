"""Fit the WireClassifier on labelled JSONL, evaluate on the held-out split, persist."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wirestream.models.estimator import HEADS, WireClassifier
from wirestream.models.persistence import save_model
from wirestream.training.corpus import corpus_sha256, load_corpus
from wirestream.training.evaluate import evaluate, write_report
from wirestream.training.split import DEFAULT_SEED, held_out_split


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train(
    data: Sequence[Path],
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] = _stderr,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, evaluate and save; return the manifest."""
    started = time.perf_counter()

    def step(n: int, msg: str) -> None:
        progress(f"[{n}/5 {time.perf_counter() - started:6.1f}s] {msg}")

    step(1, f"loading labelled stories from {', '.join(str(p) for p in data)}")
    stories = load_corpus(data)
    train_idx, test_idx = held_out_split(stories, seed=seed)
    step(
        2,
        f"{len(stories)} stories: {len(train_idx)} to fit, {len(test_idx)} held out (seed {seed})",
    )
    texts = [s.text for s in stories]
    targets = np.array([s.targets for s in stories], dtype=object)
    model = WireClassifier(random_state=seed, **(params or {}))
    model.fit([texts[i] for i in train_idx], targets[train_idx])
    step(3, f"fitted {len(HEADS)} heads on {model.n_features_} features")
    metrics = evaluate(
        model,
        [texts[i] for i in test_idx],
        targets[test_idx],
        languages=[stories[i].language for i in test_idx],
    )
    summary = ", ".join(f"{h} {metrics[h]['macro_f1']:.3f}" for h in HEADS)
    step(4, f"held-out macro-F1: {summary}")
    for lang, row in metrics["by_language"].items():
        progress(
            f"             {lang} ({row['n_stories']} stories): "
            + ", ".join(f"{h} {row[h]:.3f}" for h in HEADS)
        )
    manifest = save_model(
        model,
        out_dir,
        training_data_sha256=corpus_sha256(stories),
        metrics={h: {k: metrics[h][k] for k in ("macro_f1", "accuracy")} for h in HEADS}
        | {"n_held_out": len(test_idx), "macro_f1_by_language": metrics["by_language"]},
        extra={
            "seed": seed,
            "n_train": len(train_idx),
            "held_out_ids": [stories[i].id for i in test_idx],
        },
    )
    write_report(metrics, out_dir / "report")
    step(5, f"wrote {out_dir} (model {manifest['model_version']}) and report/ with confusion PNGs")
    return manifest
