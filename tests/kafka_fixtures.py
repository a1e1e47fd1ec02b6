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


@pytest.fixture
def stream_settings(broker: EmbeddedBroker, model_dir: Path, tmp_path: Path) -> Settings:
    """Settings with topics and consumer group of their own, so tests never share state."""
    tag = uuid.uuid4().hex[:8]
    base = Settings.from_env(env={})
    settings = base.replace(
        broker=f"kafka://{broker.bootstrap}",
        app_id=f"ws-test-{tag}",
        model_dir=model_dir,
        data_dir=tmp_path / "faust",
        metrics_port=free_port(),
        batch_within_s=0.2,
        **{
            f: f"t{tag}.{getattr(base, f)}"
            for f in (
                "topic_input",
                "topic_classified",
                "topic_humanitarian",
                "topic_military",
                "topic_alerts",
                "topic_review",
                "topic_deadletter",
            )
        },
    )
    ensure_topics(settings)
    return settings


@pytest.fixture
def start_worker() -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def _start(settings: Settings, **kw: Any) -> WorkerProcess:
        w = WorkerProcess(settings, **kw)
        started.append(w)
        if not w.wait_ready(90):
            w.stop(signal.SIGKILL)
            raise AssertionError(f"worker not ready in 90s:\n{w.output[-4000:]}")
        return w

    yield _start
    for w in started:
        w.stop(signal.SIGKILL)


class TopicReader:
    """Group-less reader of several topics from offset 0: counts what really arrived."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
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
        return [json.loads(r.value) for r in self.records[topic]]

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
