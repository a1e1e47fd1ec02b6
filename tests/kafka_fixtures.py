"""Fixtures that run the real embedded broker and real worker processes over TCP."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from wirestream.settings import Settings
from wirestream.streams.admin import ensure_topics
from wirestream.streams.broker import EmbeddedBroker, free_port
from wirestream.streams.worker_process import WorkerProcess


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


TOPIC_FIELDS = (
    "topic_input",
    "topic_classified",
    "topic_humanitarian",
    "topic_military",
    "topic_alerts",
    "topic_review",
    "topic_deadletter",
    "topic_labels",
    "topic_models",
)


@pytest.fixture
def stream_settings(
    broker: EmbeddedBroker, model_dir: Path, keys: tuple[Path, Path], tmp_path: Path
) -> Settings:
    """Settings with topics, consumer groups and data directory of their own, so tests never
    share state; the model is the session's signed test model, trusted by its public key."""
    settings = isolated_settings(
        broker.bootstrap,
        "test",
        tmp_path,
        model_dir,
        keys,
        labeller_metrics_port=free_port(),
        console_port=free_port(),
    )
    ensure_topics(settings)
    return settings


PROBE_PREFIX = "probe-"


def wait_processing(settings: Settings, timeout: float = 60) -> None:
    """Readiness that means something: a probe story goes in and its record comes out."""
    from wirestream.streams.publish import publish

    probe = f"{PROBE_PREFIX}{uuid.uuid4().hex[:8]}"
    story = {"id": probe, "headline": "Readiness probe", "body": "A probe story for the tests."}
    publish(settings, [json.dumps(story).encode()], progress=None)
    reader = TopicReader(settings, [settings.topic_classified])
    try:
        seen = reader.poll_until(
            lambda r: any(json.loads(x.value)["id"] == probe for x in r[settings.topic_classified]),
            timeout,
        )
    finally:
        reader.close()
    assert seen, f"probe {probe} was not classified within {timeout}s"


@pytest.fixture
def start_worker() -> Iterator[Callable[..., WorkerProcess]]:
    """A real worker process, ready = partitions assigned and (``probe=True``) a story processed."""
    started: list[WorkerProcess] = []

    def _start(settings: Settings, probe: bool = False, **kw: Any) -> WorkerProcess:
        w = WorkerProcess(settings, **kw)
        started.append(w)
        if not w.wait_ready(90):
            w.stop(signal.SIGKILL)
            raise AssertionError(f"worker not ready in 90s:\n{w.output[-4000:]}")
        if probe:
            wait_processing(settings)
        return w

    yield _start
    for w in started:
        w.stop(signal.SIGKILL)


def committed_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """The worker group's committed offset per partition of ``topic`` (0 when none)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    try:
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        return {p: consumer.committed(TopicPartition(topic, p)) or 0 for p in parts}
    finally:
        consumer.close(autocommit=False)


class TopicReader:
    """Group-less reader of several topics from offset 0: counts what really arrived."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            receive_message_max_bytes=100_000_000,
        )
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(self.consumer.partitions_for_topic(t) or ())
        ]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.records: dict[str, list[Any]] = defaultdict(list)

    def poll_until(self, done: Callable[[dict[str, list[Any]]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for tp, recs in self.consumer.poll(timeout_ms=300).items():
                self.records[tp.topic].extend(recs)
            if done(self.records):
                return True
        return done(self.records)

    def values(self, topic: str) -> list[dict[str, Any]]:
        """Decoded records, without the readiness probes."""
        out = [json.loads(r.value) for r in self.records[topic]]
        return [r for r in out if not str(r.get("id", "")).startswith(PROBE_PREFIX)]

    def ids(self, topic: str) -> list[str]:
        return [r["id"] for r in self.values(topic)]

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def reader_factory() -> Iterator[Callable[[Settings, list[str]], TopicReader]]:
    readers: list[TopicReader] = []

    def _make(settings: Settings, topics: list[str]) -> TopicReader:
        r = TopicReader(settings, topics)
        readers.append(r)
        return r

    yield _make
    for r in readers:
        r.close()


def isolated_settings(
    bootstrap: str,
    kind: str,
    tmp_path: Path,
    model_dir: Path,
    keys: tuple[Path, Path],
    **changes: Any,
) -> Settings:
    """Topics, consumer group and data directory of a test's own (prefixed ``ws-<kind>-`` and
    ``<k><tag>.``), so tests never share state; the session's signed test model, trusted by
    its public key."""
    tag = uuid.uuid4().hex[:8]
    base = Settings.from_env(env={})
    return base.replace(
        broker=f"kafka://{bootstrap}",
        app_id=f"ws-{kind}-{tag}",
        model_dir=model_dir,
        model_public_keys=str(keys[1]),
        data_dir=tmp_path / "data",
        metrics_port=free_port(),
        **{f: f"{kind[0]}{tag}.{getattr(base, f)}" for f in TOPIC_FIELDS},
    ).replace(**changes)


def own_settings(
    port: int, tmp_path: Path, model_dir: Path, keys: tuple[Path, Path], **changes: Any
) -> Settings:
    """Settings for a broker of a test's own, on ``port``: it creates its topics, and timeouts
    are short because the broker is paused, restarted or faulted."""
    return isolated_settings(
        f"127.0.0.1:{port}",
        "own",
        tmp_path,
        model_dir,
        keys,
        **{
            "create_topics": True,
            "broker_request_timeout_s": 5,
            "broker_session_timeout_s": 6,
            "commit_interval_s": 0.5,
            **changes,
        },
    )


@pytest.fixture
def proxied_broker(
    tmp_path: Path, model_dir: Path, keys: tuple[Path, Path]
) -> Iterator[tuple[Any, EmbeddedBroker, Settings]]:
    """A broker of the test's own behind the fault proxy: every client talks through it."""
    from tests.faults import KafkaFaultProxy

    proxy_port, broker_port = free_port(), free_port()
    proxy = KafkaFaultProxy(proxy_port, broker_port).start()
    broker = EmbeddedBroker(port=broker_port, advertised_port=proxy_port).start()
    settings = own_settings(proxy_port, tmp_path, model_dir, keys)
    ensure_topics(settings)
    try:
        yield proxy, broker, settings
    finally:
        broker.stop()
        proxy.stop()
