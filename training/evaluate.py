"""Held-out evaluation: per-head F1 (also per language), calibration, and the report files.

``evaluate`` measures one model on one labelled set; a training report holds
several sets side by side (the corpus held-out split and the wire-register
held-out set), each with confusion matrices and a reliability diagram.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from wirestream.models.estimator import HEADS, WireClassifier

N_BINS = 10


def label(value: object) -> str:
    return str(value).lower() if isinstance(value, bool | np.bool_) else str(value)


def _labels(model: WireClassifier, column: int, y_true: list[str]) -> list[str]:
    """The model's classes, plus any labelled class the model has never seen (it scores 0 there)."""
    known = [label(c) for c in model.classes_[column]]
    return known + sorted(set(y_true) - set(known))


def _f1_block(y_true: list[str], y_pred: list[str], labels: list[str]) -> dict[str, Any]:
    rep = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    return {
        "macro_f1": round(rep["macro avg"]["f1-score"], 4),
        "macro_precision": round(rep["macro avg"]["precision"], 4),
        "macro_recall": round(rep["macro avg"]["recall"], 4),
        "accuracy": round(float(np.mean(np.array(y_true) == np.array(y_pred))), 4)
        if y_true
        else 0.0,
        "per_class": {
            lab: {k: round(rep[lab][k], 4) for k in ("precision", "recall", "f1-score", "support")}
            for lab in labels
        },
        "labels": labels,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist() if y_true else [],
    }


def tag_f1(y_true: list[str], y_pred: list[str]) -> float:
    """F1 of the positive class of a tag ("true"), the figure newsrooms quote for a tag."""
    tp = sum(t == "true" and p == "true" for t, p in zip(y_true, y_pred, strict=True))
    fp = sum(t == "false" and p == "true" for t, p in zip(y_true, y_pred, strict=True))
    fn = sum(t == "true" and p == "false" for t, p in zip(y_true, y_pred, strict=True))
    return round(2 * tp / (2 * tp + fp + fn), 4) if tp else 0.0


def tag_f1_interval(
    y_true: list[str], y_pred: list[str], n_boot: int = 2000, seed: int = 0
) -> list[float]:
    """95% bootstrap interval of a tag's F1: with 10 true stories one error moves F1 by
    about 0.05, so a per-language figure means little without its interval."""
    t, p = np.array(y_true) == "true", np.array(y_pred) == "true"
    if not len(t):
        return [0.0, 0.0]
    idx = np.random.default_rng(seed).integers(0, len(t), (n_boot, len(t)))
    tt, pp = t[idx], p[idx]
    tp = (tt & pp).sum(axis=1)
    f1 = np.where(tp > 0, 2 * tp / np.maximum(tt.sum(axis=1) + pp.sum(axis=1), 1), 0.0)
    return [round(float(v), 3) for v in np.percentile(f1, [2.5, 97.5])]


def calibration(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS
) -> dict[str, Any]:
    """Expected calibration error over equal-width confidence bins, and the bins themselves."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    bins = []
    ece = 0.0
    for b in range(n_bins):
        mask = index == b
        if not mask.any():
            continue
        conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
        ece += mask.mean() * abs(conf - acc)
        bins.append(
            {
                "lo": round(edges[b], 2),
                "n": int(mask.sum()),
                "confidence": round(conf, 4),
                "accuracy": round(acc, 4),
            }
        )
    return {"ece": round(float(ece), 4), "bins": bins}


def evaluate(
    model: WireClassifier,
    texts: Sequence[str],
    targets: np.ndarray,
    languages: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Metrics per head (and per language when given) on one labelled set."""
    heads = model.predict_heads(list(texts))
    metrics: dict[str, Any] = {"n_stories": len(texts)}
    for j, head in enumerate(HEADS):
        y_true = [label(v) for v in targets[:, j]]
        y_pred = [label(v) for v in heads[head].labels]
        labels = _labels(model, j, y_true)
        block = _f1_block(y_true, y_pred, labels)
        if head in ("humanitarian", "military"):
            block["f1"] = tag_f1(y_true, y_pred)
        correct = np.array(y_true) == np.array(y_pred)
        block["calibration"] = calibration(np.asarray(heads[head].scores, dtype=float), correct)
        metrics[head] = block
    if languages is not None:
        metrics["by_language"] = _by_language(model, heads, targets, list(languages))
    return metrics


def _by_language(
    model: WireClassifier, heads: Mapping[str, Any], targets: np.ndarray, languages: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for lang in sorted(set(languages)):
        rows = [i for i, x in enumerate(languages) if x == lang]
        out[lang] = {"n_stories": len(rows)}
        for j, head in enumerate(HEADS):
            y_true = [label(targets[i, j]) for i in rows]
            y_pred = [label(heads[head].labels[i]) for i in rows]
            present = [lab for lab in _labels(model, j, y_true) if lab in y_true or lab in y_pred]
            out[lang][head] = _f1_block(y_true, y_pred, present)["macro_f1"]
            if head in ("humanitarian", "military"):
                out[lang][f"{head}_f1"] = tag_f1(y_true, y_pred)
                out[lang][f"{head}_f1_ci95"] = tag_f1_interval(y_true, y_pred)
                out[lang][f"{head}_true"] = y_true.count("true")
    return out


def summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The figures a manifest keeps of one evaluated set."""
    out: dict[str, Any] = {"n_stories": metrics["n_stories"]}
    for head in HEADS:
        block = metrics[head]
        out[head] = {
            "macro_f1": block["macro_f1"],
            "accuracy": block["accuracy"],
            "ece": block["calibration"]["ece"],
        }
        if "f1" in block:
            out[head]["f1"] = block["f1"]
    if "by_language" in metrics:
        out["by_language"] = metrics["by_language"]
    return out


def write_report(
    sets: Mapping[str, Mapping[str, Any]], out_dir: Path, extra_md: str = ""
) -> list[Path]:
    """report.json, report.md, confusion PNGs per set and head, one reliability diagram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.json", out_dir / "report.md"]
    written[0].write_text(json.dumps(sets, indent=2, ensure_ascii=False) + "\n")
    lines = ["# Evaluation", ""]
    if extra_md:
        lines += [extra_md, ""]
    lines += [
        "| set | stories | " + " | ".join(HEADS) + " | humanitarian F1 | military F1 |",
        "|---|---|" + "---|" * (len(HEADS) + 2),
    ]
    for name, m in sets.items():
        lines.append(
            f"| {name} | {m['n_stories']} | "
            + " | ".join(f"{m[h]['macro_f1']:.3f}" for h in HEADS)
            + f" | {m['humanitarian']['f1']:.3f} | {m['military']['f1']:.3f} |"
        )
    lines += ["", "(macro-F1 per head; tag F1 is the F1 of the positive class)", ""]
    for name, m in sets.items():
        if "by_language" not in m:
            continue
        lines += [
            f"## {name}: macro-F1 by language",
            "",
            "| language | stories | " + " | ".join(HEADS) + " |",
            "|---|---|" + "---|" * len(HEADS),
        ]
        for lang, row in m["by_language"].items():
            lines.append(
                f"| {lang} | {row['n_stories']} | "
                + " | ".join(f"{row[h]:.3f}" for h in HEADS)
                + " |"
            )
        lines += [
            "",
            f"## {name}: tag F1 by language, with its 95% bootstrap interval",
            "",
            "| language | humanitarian F1 | interval | true | military F1 | interval | true |",
            "|---|---|---|---|---|---|---|",
        ]
        for lang, row in m["by_language"].items():
            cells = [
                f"{row[f'{t}_f1']:.3f} | {row[f'{t}_f1_ci95'][0]:.3f}–{row[f'{t}_f1_ci95'][1]:.3f} "
                f"| {row[f'{t}_true']}"
                for t in ("humanitarian", "military")
            ]
            lines.append(f"| {lang} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Calibration (expected calibration error of the chosen label's probability)",
        "",
        "| set | " + " | ".join(HEADS) + " |",
        "|---|" + "---|" * len(HEADS),
    ]
    for name, m in sets.items():
        lines.append(
            f"| {name} | " + " | ".join(f"{m[h]['calibration']['ece']:.3f}" for h in HEADS) + " |"
        )
    lines += ["", "![reliability](reliability.png)", ""]
    for name, m in sets.items():
        for head in HEADS:
            block = m[head]
            lines += [
                f"## {name} / {head}: macro-F1 {block['macro_f1']:.3f}, accuracy {block['accuracy']:.3f}",
                "",
                "| class | precision | recall | F1 | support |",
                "|---|---|---|---|---|",
            ]
            for lab, row in block["per_class"].items():
                lines.append(
                    f"| {lab} | {row['precision']:.3f} | {row['recall']:.3f} | "
                    f"{row['f1-score']:.3f} | {int(row['support'])} |"
                )
            lines.append("")
            written.append(
                _confusion_png(
                    plt,
                    block,
                    f"{head} ({name}, macro-F1 {block['macro_f1']:.2f})",
                    out_dir / f"confusion-{name}-{head}.png",
                )
            )
    written[1].write_text("\n".join(lines))
    written.append(_reliability_png(plt, sets, out_dir / "reliability.png"))
    return written


def _confusion_png(plt: Any, block: Mapping[str, Any], title: str, path: Path) -> Path:
    size = 4 + 0.45 * len(block["labels"])
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    cm = (
        np.array(block["confusion"])
        if block["confusion"]
        else np.zeros((len(block["labels"]),) * 2)
    )
    ax.imshow(cm, cmap="Blues")
    short = [lab.split(",")[0][:18] for lab in block["labels"]]
    ax.set_xticks(range(len(short)), short, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(short)), short, fontsize=8)
    for (r, c), v in np.ndenumerate(cm):
        if v:
            ax.text(
                c,
                r,
                str(int(v)),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if v > cm.max() / 2 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("labelled")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _reliability_png(plt: Any, sets: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    fig, axes = plt.subplots(1, len(HEADS), figsize=(4 * len(HEADS), 4), sharey=True)
    for ax, head in zip(axes, HEADS, strict=True):
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
        for name, m in sets.items():
            bins = m[head]["calibration"]["bins"]
            ax.plot(
                [b["confidence"] for b in bins],
                [b["accuracy"] for b in bins],
                marker="o",
                label=f"{name} (ECE {m[head]['calibration']['ece']:.3f})",
            )
        ax.set_title(head)
        ax.set_xlabel("predicted probability of the chosen label")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("fraction correct")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
