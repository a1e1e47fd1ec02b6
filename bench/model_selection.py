"""Feature and regularisation choices, compared by cross-validation on the fit split only.

The held-out split is never touched here, so choosing by these figures does
not leak into the held-out metrics that `wirestream train` reports.

    python -m bench.model_selection [--folds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bench.common import write_result
from wirestream.models.estimator import HEADS, WireClassifier
from wirestream.settings import DEFAULT_CORPUS
from wirestream.training.corpus import load_corpus
from wirestream.training.evaluate import evaluate
from wirestream.training.split import DEFAULT_SEED, held_out_split

VARIANTS: dict[str, dict[str, object]] = {
    "words 1-2 only": {"stem_length": None, "char_ngram_range": None},
    "words 1-2 + prefixes-5": {"char_ngram_range": None},
    "words 1-2 + prefixes-4": {"stem_length": 4, "char_ngram_range": None},
    "words 1-2 + prefixes-6": {"stem_length": 6, "char_ngram_range": None},
    "words 1-2 + prefixes-5, C=1.0": {"char_ngram_range": None, "C": 1.0},
    "words 1-2 + char_wb 2-5 (whole text)": {
        "stem_length": None,
        "char_ngram_range": (2, 5),
        "char_max_chars": None,
    },
    "words + prefixes-5 + char_wb 3-5 (whole text)": {"char_max_chars": None},
    "words + prefixes-5 + char_wb 3-5, first 400 chars": {"char_max_chars": 400},
    "words + prefixes-5 + char_wb 3-5, first 1000 chars (default)": {},
    "words + prefixes-5 + char_wb 3-5, first 1000 chars, C=0.25": {"C": 0.25},
    "words + prefixes-5 + char_wb 3-5, first 1000 chars, C=1.0": {"C": 1.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    stories = load_corpus([DEFAULT_CORPUS])
    fit_idx, _held_out = held_out_split(stories)
    fit = [stories[i] for i in fit_idx]
    texts = np.array([s.text for s in fit], dtype=object)
    targets = np.array([s.targets for s in fit], dtype=object)
    folds = list(
        StratifiedKFold(args.folds, shuffle=True, random_state=DEFAULT_SEED).split(
            texts, [s.topic for s in fit]
        )
    )
    results = {}
    for name, params in VARIANTS.items():
        scores = {h: [] for h in HEADS}
        seconds = 0.0
        predicted = 0
        for train, test in folds:
            model = WireClassifier(random_state=DEFAULT_SEED, **params).fit(
                list(texts[train]), targets[train]
            )
            started = time.perf_counter()
            metrics = evaluate(model, list(texts[test]), targets[test])
            seconds += time.perf_counter() - started
            predicted += len(test)
            for h in HEADS:
                scores[h].append(metrics[h]["macro_f1"])
        row = {h: round(float(np.mean(v)), 4) for h, v in scores.items()}
        row["mean_of_heads"] = round(float(np.mean(list(row.values()))), 4)
        row["predict_stories_per_s"] = round(predicted / seconds)
        results[name] = row
        print(
            f"{name:40s} "
            + " ".join(f"{h}={row[h]:.3f}" for h in HEADS)
            + f"  mean={row['mean_of_heads']:.3f}  {row['predict_stories_per_s']}/s",
            flush=True,
        )
    write_result(
        "model_selection",
        {"folds": args.folds, "n_fit_stories": len(fit), "macro_f1_by_variant": results},
    )


if __name__ == "__main__":
    main()
