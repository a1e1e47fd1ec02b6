"""``make run``: embedded broker, one worker, sample stories, live output. Ctrl-C stops it all."""

from __future__ import annotations

import json
import random
import signal
import sys
import threading
import time
from collections import Counter

from kafka import KafkaConsumer, TopicPartition

from wirestream.models.persistence import read_manifest
from wirestream.settings import DEFAULT_CORPUS, Settings
from wirestream.streams.admin import ensure_topics
from wirestream.streams.broker import EmbeddedBroker
from wirestream.streams.publish import format_record, publish
from wirestream.streams.worker_process import WorkerProcess
from wirestream.training.corpus import load_corpus


def sample_messages(settings: Settings, count: int) -> list[bytes]:
    """Held-out corpus stories (never fitted on), plus three malformed messages."""
    held = set(read_manifest(settings.model_dir).get("held_out_ids", []))
    corpus = load_corpus([DEFAULT_CORPUS])
    stories = [s for s in corpus if s.id in held] or corpus
    random.Random(7).shuffle(stories)
    messages = [
        json.dumps(
            {"id": f"demo-{s.id}", "headline": s.headline, "body": s.body, "source": "demo"},
            ensure_ascii=False,
        ).encode()
        for s in stories[:count]
    ]
    bad = [
        b'{"id": "demo-broken", "headline": "Truncated',
        b"\xff\xfenot utf-8",
        json.dumps({"id": "demo-empty", "headline": "No body", "body": ""}).encode(),
    ]
    for i, msg in enumerate(bad):
        messages.insert((i + 1) * len(messages) // 4, msg)
    return messages


def run_demo(port: int = 0, count: int = 60, duration: float | None = None) -> int:
    base = Settings.from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(port=port or None) as broker:
        settings = base.replace(broker=f"kafka://{broker.bootstrap}")
        print(f"== embedded broker on {broker.bootstrap}")
        ensure_topics(settings)
        print(
            f"== topics ready ({settings.partitions} partitions): {', '.join(settings.all_topics)}"
        )
        worker = WorkerProcess(settings, echo_prefix="  [worker] ")
        try:
            if not worker.wait_ready(90):
                print("== worker did not become ready; see its log above", file=sys.stderr)
                return 1
            print(f"== worker up; metrics at http://127.0.0.1:{settings.metrics_port}/metrics")
            messages = sample_messages(settings, count)
            publish(settings, messages, total=len(messages))
            print(
                f"== published {len(messages)} messages (3 deliberately malformed) to "
                f"{settings.topic_input}; watching the output topics (Ctrl-C to stop)"
            )
            _watch(settings, stop, duration)
        except KeyboardInterrupt:
            pass
        finally:
            print("\n== stopping worker")
            worker.stop(signal.SIGTERM, timeout=30)
            print("== stopping broker")
    print("== done")
    return 0


def _watch(settings: Settings, stop: threading.Event, duration: float | None) -> None:
    cons = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    tps = [
        TopicPartition(t, p)
        for t in settings.output_topics
        for p in sorted(cons.partitions_for_topic(t) or ())
    ]
    cons.assign(tps)
    cons.seek_to_beginning(*tps)
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + duration if duration else None
    shown: Counter[str] = Counter()
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            for tp, records in cons.poll(timeout_ms=500).items():
                for r in records:
                    counts[tp.topic] += 1
                    if tp.topic in (
                        settings.topic_classified,
                        settings.topic_deadletter,
                        settings.topic_alerts,
                    ):
                        print(format_record(tp.topic, r.value))
            if counts != shown:
                shown = counts.copy()
                print(
                    "-- routed so far: "
                    + ", ".join(f"{t}={counts[t]}" for t in settings.output_topics)
                )
    finally:
        cons.close()
        print("-- routed in all: " + ", ".join(f"{t}={counts[t]}" for t in settings.output_topics))
