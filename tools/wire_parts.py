"""The wire-register held-out set by part and language: tag F1 with its interval, precision, recall.

``python -m tools.wire_parts [--version V ...]`` (the registry's current model by
default; several versions side by side). The set has eight parts written under
different briefs: part 1 (``*-a``, ``*-b``) in the proportions of a general wire, part 2
(``*-c``, ``*-d``) weighted toward the tags (about half its stories carry each), parts 3
(``*-e``, ``*-f``, ``*-g``), 4 (``*-h``, ``*-i``), 5 (``*-j``, ``*-k``), 6 (``*-l``,
``*-m``), 7 (``*-n``, ``*-o``) and 8 (``*-p``, ``*-q``) written blind in part 1's
proportions (``training/data/briefs/wire-heldout-r3.md`` to ``-r8.md``). A tag's F1 depends on how
common the tag is: at the same error rates, precision and so F1 are higher where
positives are common. So the parts are shown apart, with the general-proportion parts
(1, 3-8) together, and with recall (which does not depend on prevalence) and precision.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from wirestream.models.estimator import WireClassifier
from wirestream.models.persistence import TrustPolicy, load_model
from wirestream.models.registry import Registry
from wirestream.settings import DEFAULT_WIRE_HELDOUT, Settings
from wirestream.training.corpus import LabelledStory, load_corpus
from wirestream.training.evaluate import evaluate
from wirestream.training.train import TAG_COLUMNS, targets_of

PARTS = {
    "part 1": ("-a", "-b"),
    "part 2": ("-c", "-d"),
    "part 3": ("-e", "-f", "-g"),
    "part 4": ("-h", "-i"),
    "part 5": ("-j", "-k"),
    "part 6": ("-l", "-m"),
    "part 7": ("-n", "-o"),
    "part 8": ("-p", "-q"),
}
# Part 2 was written weighted toward the tags; every other part in a general wire's mix.
TAG_WEIGHTED = ("part 2",)
GENERAL = tuple(name for name in PARTS if name not in TAG_WEIGHTED)


def parts() -> dict[str, list[LabelledStory]]:
    files = sorted(Path(DEFAULT_WIRE_HELDOUT).glob("*.jsonl"))
    sets = {name: [f for f in files if f.stem.endswith(ends)] for name, ends in PARTS.items()}
    unplaced = set(files) - {f for chosen in sets.values() for f in chosen}
    if unplaced:
        raise SystemExit(f"files in no part: {sorted(f.name for f in unplaced)}")
    out = {name: load_corpus(chosen) for name, chosen in sets.items() if chosen}
    general = [name for name in GENERAL if name in out]
    if len(general) > 1:
        out["general (" + ", ".join(n.split()[1] for n in general) + ")"] = [
            s for name in general for s in out[name]
        ]
    out["all"] = [s for name in PARTS if name in out for s in out[name]]
    return out


def rows(model: WireClassifier, stories: list[LabelledStory]) -> list[str]:
    texts = [s.text for s in stories]
    pred = model.predict(texts)
    y = targets_of(stories)
    by_language = evaluate(model, texts, y, [s.language for s in stories])["by_language"]
    out = []
    for lang in ("en", "ru", "uk"):
        idx = [i for i, s in enumerate(stories) if s.language == lang]
        cells = [f"{by_language[lang]['topic']:.3f} | {by_language[lang]['stance']:.3f}"]
        for head, col in zip(("humanitarian", "military"), TAG_COLUMNS, strict=True):
            # F1, its interval and the true count as train computes them; precision and
            # recall from the same predictions
            f1, (lo, hi) = by_language[lang][f"{head}_f1"], by_language[lang][f"{head}_f1_ci95"]
            t = np.array([bool(y[i, col]) for i in idx])
            p = np.array([bool(pred[i, col]) for i in idx])
            tp = int((t & p).sum())
            cells.append(
                f"{f1:.3f} ({lo:.2f}–{hi:.2f}) | {tp / max(p.sum(), 1):.3f} | "
                f"{tp / max(t.sum(), 1):.3f} | {by_language[lang][f'{head}_true']}"
            )
        out.append(f"{lang} | {len(idx)} | " + " | ".join(cells))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--version", nargs="*", help="registry versions (default: the current)")
    args = parser.parse_args()
    settings = Settings.from_env()
    registry = Registry(settings.registry)
    trust = TrustPolicy.from_settings(settings)
    versions = args.version or [registry.current_version()]
    print(
        "| model | part | language | stories | topic macro-F1 | stance macro-F1 | "
        "humanitarian F1 (95% interval) | precision | recall | true | "
        "military F1 (95% interval) | precision | recall | true |"
    )
    print("|---" * 14 + "|")
    sets = parts()
    for version in versions:
        model = load_model(registry.path_of(str(version)), trust).model
        for name, stories in sets.items():
            for row in rows(model, stories):
                print(f"| {version} | {name} | {row} |")


if __name__ == "__main__":
    main()
