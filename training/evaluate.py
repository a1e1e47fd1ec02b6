"""Held-out evaluation: per-head precision/recall/F1 and confusion-matrix PNGs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from wirestream.models.estimator import HEADS, WireClassifier


def _label(value: object) -> str:
    return str(value).lower() if isinstance(value, bool | np.bool_) else str(value)


def evaluate(
    model: WireClassifier,
    texts: Sequence[str],
    targets: np.ndarray,
    languages: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Metrics per head on the given (held-out) stories, and per language when given."""
    predicted = model.predict(texts)
    metrics: dict[str, Any] = {"n_stories": len(texts)}
    if languages is not None:
        metrics["by_language"] = _by_language(model, predicted, targets, list(languages))
    for j, head in enumerate(HEADS):
        labels = [_label(c) for c in model.classes_[j]]
        y_true = [_label(v) for v in targets[:, j]]
        y_pred = [_label(v) for v in predicted[:, j]]
        rep = classification_report(
            y_true, y_pred, labels=labels, output_dict=True, zero_division=0
        )
        metrics[head] = {
            "macro_f1": round(rep["macro avg"]["f1-score"], 4),
            "macro_precision": round(rep["macro avg"]["precision"], 4),
            "macro_recall": round(rep["macro avg"]["recall"], 4),
            "accuracy": round(float(np.mean(np.array(y_true) == np.array(y_pred))), 4),
            "per_class": {
                lab: {
                    k: round(rep[lab][k], 4) for k in ("precision", "recall", "f1-score", "support")
                }
                for lab in labels
            },
            "labels": labels,
            "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        }
    return metrics


def _by_language(
    model: WireClassifier, predicted: np.ndarray, targets: np.ndarray, languages: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for lang in sorted(set(languages)):
        rows = [i for i, x in enumerate(languages) if x == lang]
        out[lang] = {"n_stories": len(rows)}
        for j, head in enumerate(HEADS):
            labels = [_label(c) for c in model.classes_[j]]
            y_true = [_label(targets[i, j]) for i in rows]
            y_pred = [_label(predicted[i, j]) for i in rows]
            present = [lab for lab in labels if lab in y_true or lab in y_pred]
            rep = classification_report(
                y_true, y_pred, labels=present, output_dict=True, zero_division=0
            )
            out[lang][head] = round(rep["macro avg"]["f1-score"], 4)
    return out


def write_report(metrics: dict[str, Any], out_dir: Path) -> list[Path]:
    """report.json, report.md and one confusion-matrix PNG per head."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.json", out_dir / "report.md"]
    written[0].write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    lines = [f"# Held-out evaluation ({metrics['n_stories']} stories)", ""]
    if "by_language" in metrics:
        lines += [
            "## macro-F1 by language",
            "",
            "| language | stories | " + " | ".join(HEADS) + " |",
            "|---|---|" + "---|" * len(HEADS),
        ]
        for lang, row in metrics["by_language"].items():
            lines.append(
                f"| {lang} | {row['n_stories']} | "
                + " | ".join(f"{row[h]:.3f}" for h in HEADS)
                + " |"
            )
        lines.append("")
    for head in HEADS:
        m = metrics[head]
        lines += [
            f"## {head}: macro-F1 {m['macro_f1']:.3f}, accuracy {m['accuracy']:.3f}",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for lab, row in m["per_class"].items():
            lines.append(
                f"| {lab} | {row['precision']:.3f} | {row['recall']:.3f} | "
                f"{row['f1-score']:.3f} | {int(row['support'])} |"
            )
        lines.append("")
        fig_size = 4 + 0.45 * len(m["labels"])
        fig, ax = plt.subplots(figsize=(fig_size, fig_size * 0.85))
        cm = np.array(m["confusion"])
        ax.imshow(cm, cmap="Blues")
        short = [lab.split(",")[0][:18] for lab in m["labels"]]
        ax.set_xticks(range(len(short)), short, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(short)), short, fontsize=8)
        for (r, c), v in np.ndenumerate(cm):
            if v:
                ax.text(
                    c,
                    r,
                    str(v),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v > cm.max() / 2 else "black",
                )
        ax.set_xlabel("predicted")
        ax.set_ylabel("labelled")
        ax.set_title(f"{head} (held-out, macro-F1 {m['macro_f1']:.2f})")
        fig.tight_layout()
        png = out_dir / f"confusion-{head}.png"
        fig.savefig(png, dpi=90)
        plt.close(fig)
        written.append(png)
    written[1].write_text("\n".join(lines))
    return written
