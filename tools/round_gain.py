"""Does a corpus round help the rest of the corpus? Decided without either held-out set.

``python -m tools.round_gain --round en-r8 uk-r8 ru-r8 [--extra DIR ...] [--folds 5] [--shuffles 2]``
(``--extra DIR`` for a round kept outside the corpus, as round 8 was);
``--null SEED [--size 120]`` gates a null round of random fit-side stories instead.
The fit split's stories outside the round are cut into folds; each fold's model is fitted
twice, on the other folds alone and on the other folds plus the round's fit-side stories,
and both are scored on the same validation fold, which holds no story of the round. So
the two columns differ only by the round. Neither the corpus held-out split nor the
wire-register set is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from wirestream.models.estimator import HEADS, WireClassifier
from wirestream.settings import DEFAULT_CORPUS
from wirestream.training.corpus import load_corpus
from wirestream.training.evaluate import label, tag_f1
from wirestream.training.split import held_out_split
from wirestream.training.train import TAG_COLUMNS, targets_of


def outside(n: int, extra: list[int]) -> list[int]:
    """Positions of the stories that are not the round's."""
    round_rows = set(extra)
    return [i for i in range(n) if i not in round_rows]


def out_of_fold(
    texts: list[str], y: np.ndarray, strata: list[str], extra: list[int], folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions for every non-round story, without and with the round's stories."""
    rest = outside(len(texts), extra)
    without = np.empty((len(texts), y.shape[1]), dtype=object)
    with_round = np.empty_like(without)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train_pos, val_pos in splitter.split(rest, [strata[i] for i in rest]):
        train = [rest[p] for p in train_pos]
        val = [rest[p] for p in val_pos]
        val_texts = [texts[i] for i in val]
        for out, rows in ((without, train), (with_round, train + extra)):
            model = WireClassifier().fit([texts[i] for i in rows], y[rows])
            out[val] = model.predict(val_texts)
    return without[rest], with_round[rest]


def scores(y: np.ndarray, pred: np.ndarray, languages: np.ndarray) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for lang in ("all", "en", "ru", "uk"):
        rows = np.arange(len(y)) if lang == "all" else np.where(languages == lang)[0]
        cells = []
        for column in (HEADS.index("topic"), HEADS.index("stance")):
            truth = [label(v) for v in y[rows, column]]
            cells.append(f1_score(truth, [label(v) for v in pred[rows, column]], average="macro"))
        for column in TAG_COLUMNS:
            truth = [label(v) for v in y[rows, column]]
            cells.append(tag_f1(truth, [label(v) for v in pred[rows, column]]))
        out[lang] = cells
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--round", nargs="+", help="id prefixes of the round")
    which.add_argument(
        "--null",
        type=int,
        metavar="SEED",
        help="a null round instead: as many random fit-side corpus stories as --size, drawn "
        "with this seed (how often does the gate refuse data of the corpus's own kind?)",
    )
    parser.add_argument("--size", type=int, default=120, help="size of a null round")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--shuffles", type=int, default=2)
    parser.add_argument("--first-shuffle", type=int, default=0, help="seed of the first shuffle")
    parser.add_argument(
        "--extra", nargs="*", default=[], help="folders of a round kept outside the corpus"
    )
    args = parser.parse_args()
    if args.null is not None and args.extra:
        parser.error("--extra adds a round kept outside the corpus; a null round has none")
    folders = [Path(DEFAULT_CORPUS), *map(Path, args.extra)]
    stories = load_corpus(sorted(f for folder in folders for f in folder.glob("*.jsonl")))
    fit, _ = held_out_split(stories)
    fit_stories = [stories[i] for i in fit]
    texts = [s.text for s in fit_stories]
    y = targets_of(fit_stories)
    if args.null is not None:
        rng = np.random.default_rng(args.null)
        extra = sorted(int(i) for i in rng.choice(len(fit_stories), args.size, replace=False))
    else:
        extra = [i for i, s in enumerate(fit_stories) if s.id.startswith(tuple(args.round))]
    if not extra:
        raise SystemExit(f"no fit-side story has an id starting with {args.round}")
    hum, mil = TAG_COLUMNS
    strata = [f"{s.language}{bool(y[i, hum])}{bool(y[i, mil])}" for i, s in enumerate(fit_stories)]
    rest = outside(len(texts), extra)
    languages = np.array([fit_stories[i].language for i in rest])
    print(
        f"{len(rest)} fit stories outside the round, {len(extra)} of the round on the fit side; "
        f"{args.folds} folds x {args.shuffles} shuffles"
    )
    print("| shuffle | language | model | topic | stance | humanitarian F1 | military F1 |")
    print("|---|---|---|---|---|---|---|")
    for seed in range(args.first_shuffle, args.first_shuffle + args.shuffles):
        without, with_round = out_of_fold(texts, y, strata, extra, args.folds, seed)
        a, b = scores(y[rest], without, languages), scores(y[rest], with_round, languages)
        for lang in a:
            for name, cells in (("without", a[lang]), ("with the round", b[lang])):
                row = " | ".join(f"{c:.3f}" for c in cells)
                print(f"| {seed} | {lang} | {name} | {row} |")


if __name__ == "__main__":
    main()
