"""Gated retraining and the model registry: promoted when labels help, rejected when they hurt."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from wirestream.label_store import LabelStore
from wirestream.labels import parse_label
from wirestream.models.persistence import ModelLoadError
from wirestream.models.registry import Registry, RegistryError
from wirestream.models.signing import load_private
from wirestream.settings import DEFAULT_CORPUS
from wirestream.taxonomy import STANCES, TOPICS
from wirestream.training.corpus import load_corpus
from wirestream.training.retrain import RetrainLocked, retrain, retrain_lock
from wirestream.training.split import is_held_out
from wirestream.training.train import train


def _write(stories, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for s in stories:
            fh.write(
                json.dumps(
                    {
                        "id": s.id,
                        "headline": s.headline,
                        "body": s.body,
                        "language": s.language,
                        "topic": s.topic,
                        "topics_secondary": list(s.topics_secondary),
                        "stance": s.stance,
                        "humanitarian": s.humanitarian,
                        "military": s.military,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    return path


def _label_all(store: LabelStore, stories, at: str, who: str, source: str, **override) -> None:
    with store.transaction():
        for i, s in enumerate(stories):
            labels = {
                "topic": s.topic,
                "stance": s.stance,
                "humanitarian": s.humanitarian,
                "military": s.military,
            } | override
            msg = {
                "id": s.id,
                "labels": labels,
                "labeller": who,
                "labelled_at": at,
                "headline": s.headline,
                "body": s.body,
                "language": s.language,
            }
            label = parse_label(json.dumps(msg).encode())
            store.add_label(label, f"{source}/0/{i}", 1.0)


@pytest.fixture(scope="module")
def loop(tmp_path_factory, keys, trust):
    """A corpus whose sport stories on the fit side became newsroom stories, first mislabelled
    by an editor as lifestyle, and a serving model that learned that mistake."""
    root = tmp_path_factory.mktemp("loop")
    corpus = load_corpus([DEFAULT_CORPUS])
    moved = [
        dataclasses.replace(s, id=f"nr-{s.id}")
        for s in corpus
        if s.topic == "sport" and not is_held_out(s.id)
    ]
    kept = [s for s in corpus if not (s.topic == "sport" and not is_held_out(s.id))]
    corpus_dir = root / "corpus"
    _write(kept, corpus_dir / "kept.jsonl")
    store = LabelStore(root / "labels.sqlite3")
    _label_all(store, moved, "2026-11-01T09:00:00Z", "careless", "t", topic="lifestyle and leisure")
    registry = Registry(root / "registry")
    from wirestream.training.retrain import newsroom_stories, split_newsroom

    rows, _ = store.export()
    fit, _held = split_newsroom(newsroom_stories(rows), 0.2)
    serving = root / "serving"
    train(
        [corpus_dir],
        serving,
        signing_key=load_private(keys[0]),
        extra_stories=fit,
        progress=lambda m: None,
    )
    version = registry.add(serving)
    registry.promote(version, trust, by="test: a model that learned an editor's mistake")
    store.close()
    return {
        "root": root,
        "corpus": corpus_dir,
        "store": root / "labels.sqlite3",
        "registry": registry,
        "moved": moved,
        "first": version,
    }


def _retrain(loop, keys, trust, **kw):
    return retrain(
        corpus_paths=[loop["corpus"]],
        wire_heldout=[],
        store_path=loop["store"],
        registry=loop["registry"],
        trust=trust,
        signing_key=load_private(keys[0]),
        tolerance=0.02,
        holdout=0.2,
        progress=lambda m: None,
        **kw,
    )


def test_labels_that_fix_a_mislabelled_class_are_promoted_then_scrambled_labels_are_rejected(
    loop, keys, trust
):
    registry: Registry = loop["registry"]
    store = LabelStore(loop["store"])
    _label_all(
        store, loop["moved"], "2026-11-20T09:00:00Z", "careful", "fix"
    )  # corrections: latest wins
    store.close()
    fixed = _retrain(loop, keys, trust)
    assert fixed.promote, fixed.reasons
    assert registry.current_version() == fixed.candidate != loop["first"]
    report = (registry.path_of(fixed.candidate) / "comparison.md").read_text()
    assert "PROMOTED" in report and "newsroom held-out" in report and "sport" in report
    comparison = json.loads((registry.path_of(fixed.candidate) / "comparison.json").read_text())
    old, new = comparison["parts"]["newsroom held-out"]
    assert new["topic"] > old["topic"] + 0.02, (
        "the fix should show on the newsroom's held-out labels"
    )

    rng = random.Random(3)
    store = LabelStore(loop["store"])
    noise = [
        dataclasses.replace(s, id=f"nz-{s.id}")
        for s in load_corpus([loop["corpus"]])
        if not is_held_out(s.id)
    ]
    with store.transaction():
        for i, s in enumerate(noise):
            labels = {
                "topic": rng.choice(TOPICS),
                "stance": rng.choice(STANCES),
                "humanitarian": rng.random() < 0.5,
                "military": rng.random() < 0.5,
            }
            msg = {
                "id": s.id,
                "labels": labels,
                "labeller": "vandal",
                "labelled_at": "2026-11-25T09:00:00Z",
                "headline": s.headline,
                "body": s.body,
                "language": s.language,
            }
            store.add_label(parse_label(json.dumps(msg).encode()), f"nz/0/{i}", 2.0)
    store.close()
    scrambled = _retrain(loop, keys, trust)
    assert not scrambled.promote
    assert any("corpus held-out" in r for r in scrambled.reasons), scrambled.reasons
    assert registry.current_version() == fixed.candidate, "the serving model stays"
    assert registry.status(scrambled.candidate)["status"] == "rejected"
    assert "REJECTED" in (registry.path_of(scrambled.candidate) / "comparison.md").read_text()


def test_two_retrains_at_once_cannot_both_run(loop, keys, trust):
    with retrain_lock(loop["registry"]), pytest.raises(RetrainLocked):
        _retrain(loop, keys, trust)


def test_registry_promote_verifies_and_rollback_returns_to_the_previous(tmp_path, model_dir, trust):
    registry = Registry(tmp_path / "reg")
    a = registry.add(model_dir)
    registry.promote(a, trust, by="t")
    tampered = tmp_path / "tampered"
    import shutil

    shutil.copytree(model_dir, tampered)
    manifest = json.loads((tampered / "manifest.json").read_text())
    manifest["model_version"] = "tampered-1"
    (tampered / "manifest.json").write_text(json.dumps(manifest))
    b = registry.add(tampered)
    with pytest.raises(ModelLoadError, match="signature"):
        registry.promote(b, trust, by="t")
    assert registry.current_version() == a
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback(trust, by="t")
    with pytest.raises(RegistryError):
        registry.path_of("../etc")


def test_cli_exit_codes_for_promoted_rejected_and_locked(loop, keys, tmp_path):
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
        | {
            "WIRESTREAM_REGISTRY_DIR": str(loop["registry"].root),
            "WIRESTREAM_LABEL_STORE": str(loop["store"]),
            "WIRESTREAM_MODEL_SIGNING_KEY": str(keys[0]),
            "WIRESTREAM_MODEL_PUBLIC_KEYS": str(keys[1]),
            "WIRESTREAM_BROKER": "kafka://127.0.0.1:1",  # no broker: the announcement is skipped, said so
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "wirestream.cli",
        "retrain",
        "--data",
        str(loop["corpus"]),
        "--wire-heldout",
    ]
    with retrain_lock(loop["registry"]):
        locked = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert locked.returncode == 5 and "another retrain holds" in locked.stderr
    rejected = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rejected.returncode == 4, rejected.stderr[-2000:]
    assert rejected.stdout.startswith("rejected ")
    listing = subprocess.run(
        [sys.executable, "-m", "wirestream.cli", "models", "list"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert "rejected" in listing.stdout and "*" in listing.stdout
    missing = subprocess.run(
        cmd,
        env=env | {"WIRESTREAM_LABEL_STORE": str(tmp_path / "none.sqlite3")},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "no label store" in missing.stderr
