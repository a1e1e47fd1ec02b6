"""The learning loop on the real broker: labels in through the topic, hot reload, refusal, rollback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
from kafka import KafkaProducer

from tests.kafka_fixtures import TopicReader
from tests.test_stream_integration import story_lines
from wirestream.deadletter import original_payload
from wirestream.label_store import LabelStore
from wirestream.models.registry import Registry
from wirestream.models.signing import load_private
from wirestream.settings import DEFAULT_CORPUS, Settings
from wirestream.streams.publish import publish
from wirestream.streams.worker_process import ServiceProcess
from wirestream.training.train import train

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="session")
def second_model_dir(tmp_path_factory, keys) -> Path:
    """Another signed model (other parameters, so another version) to promote."""
    out = tmp_path_factory.mktemp("model2") / "m"
    train(
        [DEFAULT_CORPUS],
        out,
        signing_key=load_private(keys[0]),
        params={"C": 0.3},
        progress=lambda _m: None,
    )
    return out


def _label(story_id: str, at: str, who: str = "olena", **labels) -> bytes:
    return json.dumps(
        {"id": story_id, "labels": labels, "labeller": who, "labelled_at": at}
    ).encode()


def _labeller(settings: Settings) -> ServiceProcess:
    return ServiceProcess(["labeller"], settings, "wirestream labeller ready")


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _metric(port: int, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0  # no such sample (yet)


def test_labels_flow_in_validated_stored_deduplicated_survive_restart_and_wait_for_their_story(
    stream_settings, start_worker, reader_factory, corpus
):
    s = stream_settings
    labeller = _labeller(s)
    try:
        assert labeller.wait_ready(90), labeller.output[-2000:]
        early = json.loads(story_lines(corpus, 1, "early")[0])["id"]
        producer = KafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all")
        labels = [
            (
                b"s1",
                _label(
                    "s1",
                    "2026-11-30T10:00:00Z",
                    "b",
                    topic="sport",
                    stance="neutral",
                    humanitarian=False,
                    military=False,
                ),
            ),
            (
                b"s1",
                _label("s1", "2026-11-30T09:00:00Z", "a", topic="politics"),
            ),  # older: history, not current
            (
                b"bad1",
                b'{"id": "bad1", "labels": {"stance": "furious"}, "labeller": "x", "labelled_at": "2026-11-30T10:00:00Z"}',
            ),
            (b"bad2", b"\xff not json"),
            (b"bad3", None),
            (
                early.encode(),
                _label(
                    early,
                    "2026-11-30T10:00:00Z",
                    topic="weather",
                    stance="neutral",
                    humanitarian=False,
                    military=False,
                ),
            ),
        ]
        for key, value in labels:
            producer.send(s.topic_labels, key=key, value=value)
        producer.flush()
        store_path = s.label_store_path
        _wait(
            lambda: store_path.is_file() and LabelStore(store_path).stats()["events"] >= 9,
            60,
            "labels in the store",
        )
        store = LabelStore(store_path)
        assert store.current("s1") == {
            "topic": "sport",
            "stance": "neutral",
            "humanitarian": False,
            "military": False,
        }
        assert [h["labeller"] for h in store.history("s1")] == ["b"] * 4 + ["a"]
        assert store.pending() == 2  # s1 and the early label: no text yet
        store.close()
        reader = reader_factory(s, [s.topic_deadletter])
        assert reader.poll_until(lambda r: len(r[s.topic_deadletter]) >= 3, timeout=30)
        dead = {d["source"]["offset"]: d for d in reader.values(s.topic_deadletter)}
        assert sorted(d["reason"] for d in dead.values()) == [
            "empty_payload",
            "invalid_label",
            "not_utf8",
        ]
        assert all(d["stage"] == "labeller" for d in dead.values())
        assert (
            "labels/stance"
            in next(d for d in dead.values() if d["reason"] == "invalid_label")["detail"]
        )
        assert b"\xff not json" in [original_payload(d) for d in dead.values()]
        assert (
            _metric(
                s.labeller_metrics_port, "wirestream_labels_invalid_total", reason="invalid_label"
            )
            == 1
        )

        # restart: the store survives, redelivered messages are not counted twice
        assert LabelStore(store_path).stats()["events"] == 9  # s1: 4 heads + 1 older, early: 4
        assert labeller.stop(signal.SIGTERM, timeout=60) == 0
        producer.send(
            s.topic_labels,
            key=b"s1",
            value=_label("s1", "2026-11-30T11:00:00Z", "c", stance="conciliatory"),
        )
        producer.flush()
        labeller = _labeller(s)
        assert labeller.wait_ready(90)
        _wait(
            lambda: LabelStore(store_path).stats()["events"] == 10,
            60,
            "the new label after the restart",
        )
        assert LabelStore(store_path).current("s1")["stance"] == "conciliatory"

        # the story of the early label arrives through the worker: the label is completed
        start_worker(s)
        publish(s, story_lines(corpus, 1, "early"), progress=None)
        _wait(lambda: LabelStore(store_path).pending() == 1, 90, "the early label to be completed")
        rows, _ = LabelStore(store_path).export()
        assert [r.id for r in rows] == [early]
        assert _metric(s.labeller_metrics_port, "wirestream_labels_pending") == 1
        producer.close()
    finally:
        labeller.stop(signal.SIGKILL)


def _registry_settings(s: Settings, model_dir: Path, trust) -> tuple[Settings, Registry, str]:
    registry = Registry(s.data_dir / "registry")
    version = registry.add(model_dir)
    registry.promote(version, trust, by="test")
    return s.replace(model_dir=None, model_poll_s=1.0), registry, version


def _cli(s: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")} | s.to_env()
    return subprocess.run(
        [sys.executable, "-m", "wirestream.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_running_worker_changes_model_mid_stream_without_losing_a_story(
    stream_settings, model_dir, second_model_dir, trust, start_worker, corpus
):
    s, registry, first = _registry_settings(
        stream_settings.replace(batch_size=32), model_dir, trust
    )
    second = registry.add(second_model_dir)
    assert first != second
    start_worker(s.replace(model_poll_s=3600))  # only the announcement can tell it
    lines = [line for rep in range(4) for line in story_lines(corpus, 1000, f"hr{rep}")]
    sent = {json.loads(x)["id"] for x in lines}
    publish(s, lines, progress=None)
    reader = TopicReader(s, [s.topic_classified])
    assert reader.poll_until(lambda r: len(r[s.topic_classified]) >= 300, timeout=60)
    promoted = _cli(s, "models", "promote", second)
    assert promoted.returncode == 0, promoted.stderr
    assert reader.poll_until(lambda r: set(reader.ids(s.topic_classified)) >= sent, timeout=180)
    records = [
        (r.partition, r.offset, json.loads(r.value)) for r in reader.records[s.topic_classified]
    ]
    reader.close()
    versions = {rec["model_version"] for _, _, rec in records if rec["id"] in sent}
    assert versions == {first, second}, "the change should happen mid-stream"
    by_batch = defaultdict(set)  # one classified_at per batch: one version per batch
    for _, _, rec in records:
        by_batch[rec["classified_at"]].add(rec["model_version"])
    assert all(len(v) == 1 for v in by_batch.values())
    for partition in {p for p, _, _ in records}:  # per partition the order is old, then new
        seq = [rec["model_version"] for p, _, rec in sorted(records) if p == partition]
        assert seq == sorted(seq, key=[first, second].index)
    assert _metric(s.metrics_port, "wirestream_model_reloads_total") == 1
    assert _metric(s.metrics_port, "wirestream_model_info", version=second) == 1


def test_a_tampered_model_is_refused_the_workers_keep_classifying_and_rollback_returns_them(
    stream_settings, model_dir, second_model_dir, trust, corpus, start_worker
):
    s, registry, first = _registry_settings(stream_settings, model_dir, trust)
    second = registry.add(second_model_dir)
    assert _cli(s, "models", "promote", second).returncode == 0
    other = s.replace(metrics_port=_free())
    start_worker(s)
    start_worker(other)
    ports = [s.metrics_port, other.metrics_port]
    # an attacker with write access to the registry: a changed model and the pointer to it
    evil = registry.versions / "evil-1"
    shutil.copytree(registry.path_of(second), evil)
    manifest = json.loads((evil / "manifest.json").read_text())
    manifest["model_version"] = "evil-1"
    (evil / "manifest.json").write_text(json.dumps(manifest))
    pointer = json.loads((registry.root / "current.json").read_text())
    (registry.root / "current.json").write_text(json.dumps(pointer | {"version": "evil-1"}))
    _wait(
        lambda: all(
            _metric(p, "wirestream_model_load_failures_total", reason="bad_signature") >= 1
            for p in ports
        ),
        30,
        "the refusal",
    )
    publish(s, story_lines(corpus, 50, "after-evil"), progress=None)
    reader = TopicReader(s, [s.topic_classified])
    assert reader.poll_until(
        lambda r: (
            len([x for x in reader.values(s.topic_classified) if x["id"].startswith("after-evil")])
            >= 50
        ),
        timeout=60,
    )
    assert {
        x["model_version"]
        for x in reader.values(s.topic_classified)
        if x["id"].startswith("after-evil")
    } == {second}
    # the operator puts the pointer back and rolls back: every worker returns to the first model
    (registry.root / "current.json").write_text(json.dumps(pointer))
    rolled = _cli(s, "models", "rollback")
    assert rolled.returncode == 0 and f"current model: {first}" in rolled.stdout, rolled.stderr
    _wait(
        lambda: all(_metric(p, "wirestream_model_info", version=first) == 1 for p in ports),
        30,
        "the rollback",
    )
    publish(s, story_lines(corpus, 20, "after-rollback"), progress=None)
    assert reader.poll_until(
        lambda r: (
            len(
                [
                    x
                    for x in reader.values(s.topic_classified)
                    if x["id"].startswith("after-rollback")
                ]
            )
            >= 20
        ),
        timeout=60,
    )
    assert {
        x["model_version"]
        for x in reader.values(s.topic_classified)
        if x["id"].startswith("after-rollback")
    } == {first}
    reader.close()


def _free() -> int:
    from wirestream.streams.broker import free_port

    return free_port()
