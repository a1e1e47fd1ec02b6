"""Feature choices, compared by cross-validation on the fit split and on the wire-register set.

``python -m bench.model_selection [--folds 5]`` (part of ``make bench``): for each
variant, k-fold cross-validation on the corpus fit split (the corpus held-out
split is never touched, so choosing here does not leak into the figures
``wirestream train`` reports), then a model fitted on the whole fit split is
measured on the wire-register held-out set, per head and per language; and its
batch-classify rate on the wire-register stories (~2 KB each).

The variants: word prefixes against real lemmatisation or stemming for
Ukrainian and Russian (pymorphy3 with its uk and ru dictionaries, simplemma,
Snowball's Russian stemmer), with and without the headline-and-lede block,
and its length. The lemmatisers are benchmark-only dependencies
(``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bench.common import write_result
from wirestream.models.estimator import HEADS, WireClassifier
from wirestream.settings import DEFAULT_CORPUS, DEFAULT_WIRE_HELDOUT
from wirestream.training.corpus import load_corpus
from wirestream.training.evaluate import evaluate
from wirestream.training.split import DEFAULT_SEED, held_out_split
from wirestream.training.train import targets_of

VARIANTS: dict[str, dict[str, Any]] = {
    "words + bigrams": {"prefix_length": 0, "lede_tokens": 0},
    "+ prefixes-5": {"lede_tokens": 0},
    "+ prefixes-5 + lede-60": {"lede_tokens": 60},
    "+ prefixes-4 + lede-120": {"prefix_length": 4},
    "+ prefixes-6 + lede-120": {"prefix_length": 6},
    "+ prefixes-5 + lede-30": {"lede_tokens": 30},
    "+ prefixes-5 + lede-120 (default)": {},
    "+ prefixes-5 + lede-200": {"lede_tokens": 200},
    "+ prefixes-5 + lede-60, no bigrams": {"lede_tokens": 60, "bigrams": False},
    "+ prefixes-5 + lede-120, no bigrams": {"bigrams": False},
    "+ prefixes-5 + lede-120, one norm for all features": {"block_norm": False},
    "+ prefixes-5 + char 3-5 on the first 1,000 chars (the previous model's features)": {
        "lede_tokens": 0,
        "char_chars": 1000,
    },
    "+ prefixes-5 + lede-120 + char 3-5 on the first 1,000 chars": {"char_chars": 1000},
    "+ prefixes-5 + lede-120 + char 3-5 on the first 150 chars": {"char_chars": 150},
    "+ prefixes-5 + lede-120 + char 3-5 on the first 300 chars": {"char_chars": 300},
    "+ prefixes-5 + lede-120 + char 3-5 on the first 600 chars": {"char_chars": 600},
    "+ prefixes-5 + lede-120, C=1": {"C": 1.0},
    "+ prefixes-5 + lede-120, C=0.25": {"C": 0.25},
    "+ simplemma lemmas + lede-120 (no prefixes)": {"prefix_length": 0, "lemmatizer": "simplemma"},
    "+ pymorphy3 lemmas + lede-120 (no prefixes)": {"prefix_length": 0, "lemmatizer": "pymorphy3"},
    "+ Snowball stems + lede-120 (no prefixes)": {"prefix_length": 0, "lemmatizer": "snowball"},
    "+ prefixes-5 + pymorphy3 lemmas + lede-120": {"lemmatizer": "pymorphy3"},
}


def score(model: WireClassifier, stories: list[Any]) -> dict[str, Any]:
    m = evaluate(
        model, [s.text for s in stories], targets_of(stories), [s.language for s in stories]
    )
    out = {h: m[h]["f1"] if h in ("humanitarian", "military") else m[h]["macro_f1"] for h in HEADS}
    out["by_language"] = {
        lang: {h: row[f"{h}_f1"] if h in ("humanitarian", "military") else row[h] for h in HEADS}
        for lang, row in m["by_language"].items()
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    parser.add_argument("--record", action="store_true", help="also write bench/results/ (tracked)")
    args = parser.parse_args()
    corpus = load_corpus([DEFAULT_CORPUS])
    fit = [corpus[i] for i in held_out_split(corpus)[0]]
    wire = load_corpus([DEFAULT_WIRE_HELDOUT])
    texts = [s.text for s in fit]
    y = targets_of(fit)
    folds = list(
        StratifiedKFold(args.folds, shuffle=True, random_state=DEFAULT_SEED).split(
            texts, [f"{s.language}|{s.topic}" for s in fit]
        )
    )
    wire_texts = [s.text for s in wire]
    results: dict[str, Any] = {
        "fit_stories": len(fit),
        "wire_stories": len(wire),
        "folds": args.folds,
        "variants": {},
    }
    for name, params in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        cv = []
        for train_idx, test_idx in folds:
            model = WireClassifier(random_state=DEFAULT_SEED, **params).fit(
                [texts[i] for i in train_idx], y[train_idx]
            )
            cv.append(score(model, [fit[i] for i in test_idx]))
        full = WireClassifier(random_state=DEFAULT_SEED, **params).fit(texts, y)
        wire_scores = score(full, wire)
        full.predict_heads(wire_texts[:64])  # warm caches
        t0 = time.perf_counter()
        for i in range(0, len(wire_texts), 256):
            full.predict_heads(wire_texts[i : i + 256])
        rate = len(wire_texts) / (time.perf_counter() - t0)
        row = {
            "params": params,
            "cv": {h: round(float(np.mean([c[h] for c in cv])), 4) for h in HEADS},
            "wire": {h: round(wire_scores[h], 4) for h in HEADS},
            "wire_by_language": wire_scores["by_language"],
            "stories_per_s": round(rate, 1),
            "features": full.n_features_,
            "seconds": round(time.perf_counter() - started, 1),
        }
        row["cv_mean"] = round(float(np.mean(list(row["cv"].values()))), 4)
        row["wire_mean"] = round(float(np.mean(list(row["wire"].values()))), 4)
        results["variants"][name] = row
        print(
            f"{name:<46} cv {row['cv_mean']:.3f}  wire {row['wire_mean']:.3f}  {rate:7.0f}/s  ({row['seconds']}s)",
            flush=True,
        )
    write_result("model_selection", results, record=args.record, markdown=markdown(results))


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"{r['folds']}-fold CV on the corpus fit split ({r['fit_stories']} stories) and a model fitted on all of it, "
        f"measured on the wire-register held-out set ({r['wire_stories']} stories). Topic and stance: macro-F1; "
        "tags: F1 of the positive class. Speed: batch classify of the wire-register stories.",
        "",
        "| variant | CV topic | CV stance | CV hum | CV mil | CV mean | wire topic | wire stance | wire hum | wire mil | wire mean | stories/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in r["variants"].items():
        cells = (
            [row["cv"][h] for h in HEADS]
            + [row["cv_mean"]]
            + [row["wire"][h] for h in HEADS]
            + [row["wire_mean"]]
        )
        lines.append(
            f"| {name} | "
            + " | ".join(f"{c:.3f}" for c in cells)
            + f" | {row['stories_per_s']:,.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
