"""``make run``: embedded broker, one worker, sample stories, live output. Ctrl-C stops it all.

What it shows is the stories: the classified records, alerts and dead letters
as they arrive. The worker's own log goes to ``var/demo/worker.log`` (or to the
screen with ``--verbose``).
"""

from __future__ import annotations

import json
import random
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from wirestream.settings import DEFAULT_CORPUS, Settings
from wirestream.streams.admin import ensure_topics
from wirestream.streams.broker import EmbeddedBroker
from wirestream.streams.publish import format_record, publish
from wirestream.streams.worker_process import WorkerProcess
from wirestream.training.corpus import load_corpus
from wirestream.training.split import is_held_out


def sample_messages(count: int) -> list[bytes]:
    """Held-out corpus stories (never fitted on: the split is fixed by id), plus malformed input."""
    corpus = load_corpus([DEFAULT_CORPUS])
    stories = [s for s in corpus if is_held_out(s.id)]
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
        b"[" * 2000,
    ]
    for i, msg in enumerate(bad):
        messages.insert((i + 1) * len(messages) // (len(bad) + 1), msg)
    return messages


def run_demo(
    port: int = 0, count: int = 60, duration: float | None = None, verbose: bool = False
) -> int:
    base = Settings.from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log_path = base.data_dir / "demo" / "worker.log"
    with EmbeddedBroker(port=port or None) as broker:
        settings = base.replace(broker=f"kafka://{broker.bootstrap}")
        print(f"== embedded broker on {broker.bootstrap}")
        ensure_topics(settings)
        print(
            f"== topics ready ({settings.partitions} partitions): {', '.join(settings.all_topics)}"
        )
        worker = WorkerProcess(
            settings,
            echo_prefix="  [worker] " if verbose else None,
            log_path=None if verbose else log_path,
        )
        try:
            if not worker.wait_ready(90):
                print(worker.output[-3000:], file=sys.stderr)
                print("== the worker did not become ready (its log is above)", file=sys.stderr)
                return 1
            version = next(
                (ln.split("(model ")[1].split(",")[0] for ln in worker.lines if "(model " in ln),
                "?",
            )
            print(
                f"== worker ready with model {version}; metrics at http://{settings.metrics_host}:{settings.metrics_port}/metrics"
            )
            if not verbose:
                print(
                    f"   (its log: {_shown(log_path)}; `wirestream demo --verbose` shows it here)"
                )
            messages = sample_messages(count)
            publish(settings, messages, total=len(messages))
            print(
                f"== published {len(messages)} messages ({len(messages) - count} deliberately malformed) "
                f"to {settings.topic_input}; watching the output topics (Ctrl-C to stop)"
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


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _watch(settings: Settings, stop: threading.Event, duration: float | None) -> None:
    cons = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
    )
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
