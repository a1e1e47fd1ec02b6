"""Feed and watch the stream with kafka-python: ``publish`` and ``tail``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import NoBrokersAvailable

from wirestream.errors import UserError
from wirestream.settings import Settings
from wirestream.streams.admin import broker_unreachable


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "client_id": f"{settings.app_id}-publish",
    }
    opts.update(settings.kafka_python_security())
    opts.update(overrides)
    try:
        return KafkaProducer(**opts)
    except NoBrokersAvailable as exc:
        raise broker_unreachable(settings, exc) from None


def story_key(line: bytes) -> bytes | None:
    """The story id as the key when the line is a JSON object with a string id."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict) and isinstance(obj.get("id"), str):
        return obj["id"].encode("utf-8")
    return None


def read_lines(path: str) -> Iterator[bytes]:
    """Raw lines, unparsed: malformed input is published as-is, for the worker to dead-letter."""
    if path != "-" and not Path(path).is_file():
        raise UserError(f"input file {path} does not exist")
    stream = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    with stream:
        for line in stream:
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line


def publish(
    settings: Settings,
    lines: Iterable[bytes],
    topic: str | None = None,
    progress: TextIO | None = sys.stderr,
    total: int | None = None,
) -> int:
    """Send every line, keyed by story id; returns the number acknowledged by the broker."""
    topic = topic or settings.topic_input
    prod = producer(settings)
    sent = 0
    failures: list[BaseException] = []
    started = time.monotonic()

    def _failed(exc: BaseException) -> None:
        failures.append(exc)

    try:
        for line in lines:
            prod.send(topic, key=story_key(line), value=line).add_errback(_failed)
            sent += 1
            if progress and sent % 500 == 0:
                _bar(progress, sent, total, started)
        prod.flush()
    finally:
        prod.close()
    if progress:
        _bar(progress, sent, total, started)
        progress.write("\n")
    if failures:
        raise RuntimeError(f"{len(failures)} of {sent} messages were not delivered: {failures[0]}")
    return sent


def _bar(out: TextIO, done: int, total: int | None, started: float) -> None:
    rate = done / max(time.monotonic() - started, 1e-6)
    if total:
        filled = int(30 * done / total)
        out.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} stories {rate:,.0f}/s")
    else:
        out.write(f"\r{done} stories {rate:,.0f}/s")
    out.flush()


def consumer(settings: Settings, topic: str, from_beginning: bool) -> KafkaConsumer:
    """Group-less consumer with every partition assigned (no offsets committed)."""
    try:
        cons = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            enable_auto_commit=False,
            client_id=f"{settings.app_id}-tail",
            fetch_max_wait_ms=100,
            **settings.kafka_python_security(),
        )
    except NoBrokersAvailable as exc:
        raise broker_unreachable(settings, exc) from None
    parts = cons.partitions_for_topic(topic)
    if not parts:
        cons.close()
        raise UserError(f"topic {topic!r} does not exist (run `wirestream topics create`)")
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    cons.assign(tps)
    if from_beginning:
        cons.seek_to_beginning(*tps)
    else:
        cons.seek_to_end(*tps)
    return cons


def format_record(topic: str, value: bytes) -> str:
    """One readable line per message, whatever the topic (raw when the shape is unexpected)."""
    try:
        return _format(topic, value)
    except Exception:
        return f"{topic}  {value[:160]!r}"


def _format(topic: str, value: bytes) -> str:
    try:
        rec = json.loads(value)
    except ValueError:
        return f"{topic}  <{len(value)} bytes, not JSON>"
    if not isinstance(rec, dict):
        return f"{topic}  {value[:120]!r}"
    if "reason" in rec and "source" in rec:
        src = rec["source"]
        return (
            f"{topic}  DEAD  {rec['reason']:<20} {src['topic']}[{src['partition']}]@{src['offset']}"
            f"  {rec.get('detail', '')[:70]}"
        )
    if "topic" in rec and "stance" in rec:
        extra = ""
        if "alert_rules" in rec:
            extra = "  rules=" + ",".join(rec["alert_rules"])
        if "review_reasons" in rec:
            extra = "  review: " + "; ".join(rec["review_reasons"])
        head = rec.get("headline", "")[:60]
        return (
            f"{topic}  {rec['id'][:18]:<18} {rec['topic'][:24]:<24} {rec['stance']:<15} "
            f"{rec['focus']:<12} {rec['language']}  {head}{extra}"
        )
    return f"{topic}  {json.dumps(rec, ensure_ascii=False)[:160]}"


def tail(
    settings: Settings,
    topic: str,
    as_json: bool,
    from_beginning: bool,
    max_messages: int | None,
    idle_timeout: float | None,
    out: TextIO = sys.stdout,
) -> int:
    cons = consumer(settings, topic, from_beginning)
    seen = 0
    last = time.monotonic()
    try:
        while max_messages is None or seen < max_messages:
            batch = cons.poll(timeout_ms=500)
            if not batch:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    break
                continue
            last = time.monotonic()
            records = [r for part in batch.values() for r in part]
            if max_messages is not None:
                records = records[: max_messages - seen]
            for r in records:
                if r.value is None:
                    out.write(f"{topic}  <tombstone, key {r.key!r}>\n")
                elif as_json:
                    out.write(r.value.decode("utf-8", errors="replace") + "\n")
                else:
                    out.write(format_record(topic, r.value) + "\n")
            seen += len(records)
            out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        cons.close()
    return seen
