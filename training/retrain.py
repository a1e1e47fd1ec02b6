"""Gated retraining: a candidate on the corpus plus the newsroom's labels, promoted only if no worse.

Both the candidate and the serving model are measured on the same held-out
data: the corpus held-out split and a fixed held-out share of newsroom labels
(chosen by story id, never trained on). The candidate is promoted only when no
head's macro-F1 drops by more than ``WIRESTREAM_RETRAIN_TOLERANCE`` on either
part; otherwise it stays in the registry as rejected, with the reason. A lock
file keeps two runs from overlapping; everything they write is atomic.
"""

from __future__ import annotations

import fcntl
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wirestream.label_store import ExportRow, LabelStore
from wirestream.models.estimator import HEADS
from wirestream.models.persistence import LoadedModel, TrustPolicy, load_model
from wirestream.models.registry import Registry
from wirestream.training.corpus import LabelledStory, load_corpus
from wirestream.training.evaluate import evaluate
from wirestream.training.split import held_out_split, share
from wirestream.training.train import targets_of, train

NEWSROOM_SALT = "wirestream-newsroom-heldout-v1:"
EXIT_PROMOTED, EXIT_REJECTED, EXIT_LOCKED = 0, 4, 5


class RetrainLocked(RuntimeError):
    """Another retrain holds the lock."""


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str]
    candidate: str
    serving: str | None


def newsroom_stories(rows: list[ExportRow]) -> list[LabelledStory]:
    return [
        LabelledStory(
            id=r.id,
            headline=r.headline,
            body=r.body,
            language=r.language,
            topic=r.labels["topic"],
            stance=r.labels["stance"],
            humanitarian=bool(r.labels["humanitarian"]),
            military=bool(r.labels["military"]),
        )
        for r in rows
    ]


def split_newsroom(
    stories: list[LabelledStory], fraction: float
) -> tuple[list[LabelledStory], list[LabelledStory]]:
    """(fit, held_out): the held-out share is fixed by story id, so it never drifts into training."""
    held = [s for s in stories if share(s.id, NEWSROOM_SALT) < fraction]
    chosen = {s.id for s in held}
    return [s for s in stories if s.id not in chosen], held


@contextmanager
def retrain_lock(registry: Registry) -> Iterator[None]:
    registry.root.mkdir(parents=True, exist_ok=True)
    with (registry.root / ".retrain.lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetrainLocked(
                f"another retrain holds {registry.root / '.retrain.lock'}"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _measure(model: Any, stories: list[LabelledStory]) -> dict[str, Any] | None:
    if not stories:
        return None
    return evaluate(
        model, [s.text for s in stories], targets_of(stories), [s.language for s in stories]
    )


def compare(
    parts: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]], tolerance: float
) -> tuple[list[str], str]:
    """Gate reasons (empty: promote) and the comparison report in markdown."""
    reasons: list[str] = []
    lines = ["| part | head | serving | candidate | change |", "|---|---|---|---|---|"]
    for part, (serving, candidate) in parts.items():
        if candidate is None:
            lines.append(f"| {part} | (no stories) | | | |")
            continue
        for head in HEADS:
            new = candidate[head]["macro_f1"]
            old = serving[head]["macro_f1"] if serving else None
            change = f"{new - old:+.3f}" if old is not None else "n/a"
            lines.append(
                f"| {part} | {head} | {old if old is not None else '-'} | {new:.3f} | {change} |"
            )
            if old is not None and new < old - tolerance:
                reasons.append(
                    f"{part}: {head} macro-F1 {old:.3f} -> {new:.3f} (more than {tolerance:.3f} lower)"
                )
    lines += [
        "",
        "### Per language (macro-F1, serving -> candidate)",
        "",
        "| part | language | " + " | ".join(HEADS) + " |",
        "|---|---|" + "---|" * len(HEADS),
    ]
    for part, (serving, candidate) in parts.items():
        if candidate is None or serving is None:
            continue
        for lang, row in candidate["by_language"].items():
            old = serving["by_language"].get(lang, {})
            lines.append(
                f"| {part} | {lang} ({row['n_stories']}) | "
                + " | ".join(f"{old.get(h, 0):.3f} -> {row[h]:.3f}" for h in HEADS)
                + " |"
            )
    lines += [
        "",
        "### What changed in the confusion matrices (largest moves, labelled -> predicted)",
        "",
    ]
    for part, (serving, candidate) in parts.items():
        if candidate is None or serving is None:
            continue
        for head in HEADS:
            moves = _confusion_moves(serving[head], candidate[head])
            if moves:
                lines.append(f"- {part} / {head}: " + "; ".join(moves))
    return reasons, "\n".join(lines)


def _cells(block: dict[str, Any]) -> dict[tuple[str, str], int]:
    labels = block["labels"]
    return {
        (t, p): n
        for t, row in zip(labels, block["confusion"], strict=False)
        for p, n in zip(labels, row, strict=False)
    }


def _confusion_moves(old: dict[str, Any], new: dict[str, Any], top: int = 4) -> list[str]:
    """The cells of the confusion matrix that changed most, by label (the two models may know
    different classes, in a different order)."""
    before, after = _cells(old), _cells(new)
    moves = [
        (abs(after.get(k, 0) - before.get(k, 0)), k, before.get(k, 0), after.get(k, 0))
        for k in set(before) | set(after)
    ]
    moves = sorted((m for m in moves if m[0]), reverse=True)[:top]
    return [f"{t} -> {p}: {a} -> {b}" for _, (t, p), a, b in moves]


def retrain(
    *,
    corpus_paths: list[Path],
    wire_heldout: list[Path],
    store_path: Path,
    registry: Registry,
    trust: TrustPolicy,
    signing_key: Any,
    tolerance: float,
    holdout: float,
    by: str = "wirestream retrain",
    announce: Callable[[str], None] | None = None,
    progress: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
) -> Decision:
    with retrain_lock(registry):
        store = LabelStore.read_only(store_path)
        try:
            rows, skipped = store.export()
        finally:
            store.close()
        newsroom = newsroom_stories(rows)
        news_fit, news_held = split_newsroom(newsroom, holdout)
        progress(
            f"newsroom labels: {len(newsroom)} complete stories ({len(news_fit)} to fit, {len(news_held)} held out); "
            f"left out: {skipped['pending']} pending, {skipped['partial']} with some heads unlabelled"
        )
        serving: LoadedModel | None = None
        if registry.current_version() is not None:
            serving = load_model(registry.current_dir(), trust)
        with tempfile.TemporaryDirectory(dir=registry.root) as tmp:
            train(
                corpus_paths,
                Path(tmp) / "candidate",
                signing_key=signing_key,
                wire_heldout=wire_heldout,
                extra_stories=news_fit,
                extra_held_out=news_held,
                progress=progress,
                manifest_extra={"trained_by": by, "newsroom_held_out": len(news_held)},
            )
            version = registry.add(Path(tmp) / "candidate")
        candidate = load_model(registry.path_of(version), trust)
        corpus = load_corpus(corpus_paths)
        corpus_held = [corpus[i] for i in held_out_split(corpus)[1]]
        parts = {
            "corpus held-out": (
                _measure(serving.model, corpus_held) if serving else None,
                _measure(candidate.model, corpus_held),
            ),
            "newsroom held-out": (
                _measure(serving.model, news_held) if serving else None,
                _measure(candidate.model, news_held),
            ),
        }
        reasons, table = compare(parts, tolerance)
        decision = Decision(not reasons, reasons, version, serving.version if serving else None)
        verdict = "PROMOTED" if decision.promote else "REJECTED: " + "; ".join(reasons)
        report = (
            f"# Retrain {version}\n\nServing model: {decision.serving or '(none)'}; tolerance {tolerance:.3f}; "
            f"newsroom labels {len(news_fit)} fitted, {len(news_held)} held out.\n\n**{verdict}**\n\n{table}\n"
        )
        path = registry.path_of(version)
        (path / "comparison.md").write_text(report, encoding="utf-8")
        (path / "comparison.json").write_text(
            json.dumps(
                {
                    "decision": decision.__dict__,
                    "parts": {k: [_brief(v) for v in pair] for k, pair in parts.items()},
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        if decision.promote:
            registry.promote(
                version, trust, by=by, reason="gated retrain: no head worse than the tolerance"
            )
            if announce is not None:
                announce(version)
        else:
            registry.reject(version, "; ".join(reasons), by=by)
        progress(report)
        return decision


def _brief(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    if metrics is None:
        return None
    return {h: metrics[h]["macro_f1"] for h in HEADS} | {
        "by_language": metrics["by_language"],
        "n_stories": metrics["n_stories"],
    }
