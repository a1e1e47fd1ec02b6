"""Candidates for a label audit: confident disagreements between the labels and cross-validated
predictions, on the fit side of the corpus only.

``python -m tools.label_audit [--out FILE] [--min-confidence 0.8]`` writes one JSON
line per candidate (id, head, label, prediction, probability) for a person to
check against ``training/data/LABELLING.md``; the model is never an authority,
only a pointer. Held-out stories (the corpus held-out split, by story id) and
the wire-register set are never read, so an audit cannot move labels toward a
model's predictions on the stories the model is measured on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from wirestream.models.estimator import HEADS, WireClassifier
from wirestream.settings import DEFAULT_CORPUS
from wirestream.training.corpus import load_corpus
from wirestream.training.split import DEFAULT_SEED, is_held_out
from wirestream.training.train import targets_of


def candidates(min_confidence: float, folds: int = 5) -> list[dict[str, object]]:
    stories = [s for s in load_corpus([DEFAULT_CORPUS]) if not is_held_out(s.id)]
    texts = [s.text for s in stories]
    y = targets_of(stories)
    out: list[dict[str, object]] = []
    splitter = StratifiedKFold(folds, shuffle=True, random_state=DEFAULT_SEED)
    for train_idx, test_idx in splitter.split(texts, [s.topic for s in stories]):
        model = WireClassifier(random_state=DEFAULT_SEED).fit(
            [texts[i] for i in train_idx], y[train_idx]
        )
        heads = model.predict_heads([texts[i] for i in test_idx])
        for row, i in enumerate(test_idx):
            for j, head in enumerate(HEADS):
                predicted, probability = heads[head].labels[row], float(heads[head].scores[row])
                if str(predicted) != str(y[i, j]) and probability >= min_confidence:
                    out.append(
                        {
                            "id": stories[i].id,
                            "head": head,
                            "label": y[i, j],
                            "predicted": predicted.item()
                            if hasattr(predicted, "item")
                            else predicted,
                            "probability": round(probability, 3),
                        }
                    )
    return sorted(out, key=lambda c: -float(c["probability"]))  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="-", help="JSONL of candidates, '-' for stdout")
    parser.add_argument("--min-confidence", type=float, default=0.8)
    args = parser.parse_args()
    found = candidates(args.min_confidence)
    lines = [
        json.dumps(
            c, ensure_ascii=False, default=lambda v: bool(v) if isinstance(v, np.bool_) else str(v)
        )
        for c in found
    ]
    if args.out == "-":
        print("\n".join(lines))
    else:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{len(found)} candidates written to {args.out}")


if __name__ == "__main__":
    main()
