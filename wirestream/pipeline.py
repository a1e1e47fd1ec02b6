"""One batch of raw input messages in, every message it must produce out.

This is the whole path of a story, top to bottom, without Kafka:
validate -> classify (one call for the batch) -> route -> outgoing messages,
with dead-letter records for anything that cannot be processed. The Faust
agent in ``wirestream.streams.app`` only moves bytes in and out of it.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wirestream.classify import classify_batch
from wirestream.models.persistence import LoadedModel
from wirestream.routing import RoutingConfig, route
from wirestream.story import Invalid, Story, parse_story

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawMessage:
    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp: float | None = None  # seconds since the epoch, as produced


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class PipelineConfig:
    routing: RoutingConfig
    deadletter: str
    max_body_bytes: int


@dataclass
class BatchResult:
    outgoing: list[Outgoing] = field(default_factory=list)
    classified: list[dict[str, Any]] = field(default_factory=list)
    deadletters: list[dict[str, Any]] = field(default_factory=list)
    routed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    classify_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def deadletter_record(msg: RawMessage, reason: str, detail: str, now: float) -> dict[str, Any]:
    """Reason, where it came from, and the original bytes (base64 where not UTF-8 text)."""
    record: dict[str, Any] = {
        "reason": reason,
        "detail": detail,
        "source": {
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "timestamp": _iso(msg.timestamp) if msg.timestamp else None,
        },
        "failed_at": _iso(now),
    }
    for name, raw in (("payload", msg.value), ("key", msg.key)):
        if raw is None:
            record[name] = None
            continue
        try:
            record[name] = raw.decode("utf-8")
            record[f"{name}_encoding"] = "utf-8"
        except UnicodeDecodeError:
            record[name] = base64.b64encode(raw).decode("ascii")
            record[f"{name}_encoding"] = "base64"
    return record


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _produced_at(msg: RawMessage, story: Story) -> float | None:
    if msg.timestamp:
        return msg.timestamp
    if story.published_at:
        try:
            parsed = datetime.fromisoformat(story.published_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.timestamp() if parsed.tzinfo else None
    return None


def _classify_isolating_failures(
    loaded: LoadedModel, stories: list[Story]
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """Classify the batch in one call; if it fails, find the stories that fail alone."""
    try:
        return list(enumerate(classify_batch(loaded, stories))), []
    except Exception:
        log.exception("batch of %d failed to classify; retrying one by one", len(stories))
    ok: list[tuple[int, dict[str, Any]]] = []
    failed: list[tuple[int, str]] = []
    for i, story in enumerate(stories):
        try:
            ok.append((i, classify_batch(loaded, [story])[0]))
        except Exception as exc:
            failed.append((i, f"{type(exc).__name__}: {exc}"))
    return ok, failed


def process_batch(
    messages: Sequence[RawMessage],
    loaded: LoadedModel,
    cfg: PipelineConfig,
    clock: Callable[[], float] = time.time,
) -> BatchResult:
    result = BatchResult()
    valid: list[tuple[RawMessage, Story]] = []
    # 1. validate
    for msg in messages:
        parsed = parse_story(msg.value, cfg.max_body_bytes)
        if isinstance(parsed, Invalid):
            result.deadletters.append(deadletter_record(msg, parsed.reason, parsed.detail, clock()))
        else:
            valid.append((msg, parsed))
    # 2. classify, one model call for the whole batch
    started = time.perf_counter()
    ok, failed = _classify_isolating_failures(loaded, [story for _, story in valid])
    result.classify_seconds = time.perf_counter() - started
    for i, reason in failed:
        msg, story = valid[i]
        dead = deadletter_record(msg, "processing_error", reason, clock())
        result.deadletters.append(dead | {"story_id": story.id})
    # 3. route
    now = clock()
    for i, classification in ok:
        msg, story = valid[i]
        record = story.to_dict() | classification | {"classified_at": _iso(now)}
        key = story.id.encode("utf-8")
        for topic, payload in route(record, story.text, cfg.routing):
            result.routed.append((topic, payload))
            result.outgoing.append(Outgoing(topic, key, _encode(payload)))
        result.classified.append(record)
        produced = _produced_at(msg, story)
        if produced is not None:
            result.latencies.append(max(0.0, now - produced))
    for dead in result.deadletters:
        result.outgoing.append(Outgoing(cfg.deadletter, None, _encode(dead)))
    return result
