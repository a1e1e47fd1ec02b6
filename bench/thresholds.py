"""How to choose the tag thresholds, compared by nested cross-validation on the fit split.

``python -m bench.thresholds [--repeats 2]`` (part of ``make bench``): the corpus
fit split is cut into 5 outer folds (repeated with new shuffles). On each outer
training side a threshold per tag is chosen by each method; a model fitted on
that whole side then tags the outer test fold, and the tag F1 is pooled over all
test folds. Only the fit split is used: neither held-out set is touched, so
choosing a method here does not leak into the figures ``wirestream train``
reports. The methods:

- ``fixed 0.5``: no choice at all (what the issue asked to replace);
- ``15% validation share``: fit on 85% of the side, choose on the other 15%
  (what ``wirestream train`` did until the out-of-fold method replaced it);
- ``5-fold out-of-fold``: every story of the side scored by a model fitted
  without it, the F1-best threshold on all of them;
- ``5-fold out-of-fold, one-SE``: the same scores, and the threshold nearest 0.5
  among those within one bootstrap standard error of the best F1.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from bench.common import write_result
from wirestream.models.estimator import WireClassifier
from wirestream.settings import DEFAULT_CORPUS
from wirestream.training.corpus import load_corpus
from wirestream.training.split import DEFAULT_SEED, held_out_split, share
from wirestream.training.train import (
    TAG_COLUMNS,
    best_threshold,
    binary_f1,
    out_of_fold_tag_probabilities,
    tag_probabilities,
    targets_of,
)

TAGS = ("humanitarian", "military")  # the columns of TAG_COLUMNS
# The salt of the 15% validation share wirestream train used before the out-of-fold rule.
VALIDATION_SALT = "wirestream-validation-v1:"
METHODS = (
    "fixed 0.5",
    "15% validation share",
    "5-fold out-of-fold",
    "5-fold out-of-fold, one-SE",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="also write bench/results/ (tracked)")
    args = parser.parse_args()
    corpus = load_corpus([DEFAULT_CORPUS])
    fit = [corpus[i] for i in held_out_split(corpus)[0]]
    texts = [s.text for s in fit]
    y = targets_of(fit)
    truth = y[:, list(TAG_COLUMNS)].astype(bool)
    preds: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
    chosen: dict[str, list[list[float]]] = {m: [] for m in METHODS}
    truths: list[np.ndarray] = []
    started = time.perf_counter()
    for repeat in range(args.repeats):
        outer = KFold(5, shuffle=True, random_state=DEFAULT_SEED + repeat)
        for train_idx, test_idx in outer.split(texts):
            side = [texts[i] for i in train_idx]
            val = np.array([share(fit[i].id, VALIDATION_SALT) < 0.15 for i in train_idx])
            probe = WireClassifier(random_state=DEFAULT_SEED).fit(
                [t for t, v in zip(side, val, strict=True) if not v], y[train_idx][~val]
            )
            p_val = tag_probabilities(probe, [t for t, v in zip(side, val, strict=True) if v])
            oof = out_of_fold_tag_probabilities(
                WireClassifier(random_state=DEFAULT_SEED), side, y[train_idx], seed=repeat
            )
            thresholds = {
                "fixed 0.5": [0.5, 0.5],
                "15% validation share": [
                    best_threshold(p_val[:, j], truth[train_idx][val][:, j]) for j in range(2)
                ],
                "5-fold out-of-fold": [
                    best_threshold(oof[:, j], truth[train_idx][:, j]) for j in range(2)
                ],
                "5-fold out-of-fold, one-SE": [
                    best_threshold(oof[:, j], truth[train_idx][:, j], one_se=True) for j in range(2)
                ],
            }
            model = WireClassifier(random_state=DEFAULT_SEED).fit(side, y[train_idx])
            p_test = tag_probabilities(model, [texts[i] for i in test_idx])
            truths.append(truth[test_idx])
            for m in METHODS:
                chosen[m].append(thresholds[m])
                preds[m].append(p_test >= np.array(thresholds[m]))
            print(
                f"repeat {repeat}: " + "; ".join(f"{m} {thresholds[m]}" for m in METHODS),
                flush=True,
            )
    all_truth = np.concatenate(truths)
    results: dict[str, Any] = {
        "fit_stories": len(fit),
        "outer_folds": 5,
        "repeats": args.repeats,
        "seconds": round(time.perf_counter() - started, 1),
        "methods": {},
    }
    for m in METHODS:
        pred = np.concatenate(preds[m])
        results["methods"][m] = {
            tag: {
                "f1": round(binary_f1(all_truth[:, j], pred[:, j]), 4),
                "threshold_mean": round(float(np.mean([c[j] for c in chosen[m]])), 3),
                "threshold_sd": round(float(np.std([c[j] for c in chosen[m]])), 3),
            }
            for j, tag in enumerate(TAGS)
        }
    write_result("thresholds", results, record=args.record, markdown=markdown(results))


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"Nested cross-validation on the corpus fit split ({r['fit_stories']} stories): "
        f"{r['outer_folds']} outer folds x {r['repeats']} shuffles; thresholds chosen on each outer "
        "training side, tag F1 pooled over the outer test folds; the spread is the standard "
        "deviation of the chosen threshold across outer folds.",
        "",
        "| method | humanitarian F1 | threshold (mean, sd) | military F1 | threshold (mean, sd) |",
        "|---|---|---|---|---|",
    ]
    for m, row in r["methods"].items():
        h, mi = row["humanitarian"], row["military"]
        lines.append(
            f"| {m} | {h['f1']:.3f} | {h['threshold_mean']:.3f}, {h['threshold_sd']:.3f} "
            f"| {mi['f1']:.3f} | {mi['threshold_mean']:.3f}, {mi['threshold_sd']:.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
