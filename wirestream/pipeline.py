"""One batch of raw input messages in, every message it must produce out.

This is the whole path of a story, top to bottom, without Kafka:
validate -> classify (one call for the batch) -> route -> encode, with a
dead-letter record for anything that cannot be processed. Every step is
isolated per message: whatever one message does (bad bytes, a model failure on
its text, a record that cannot be encoded), it is dead-lettered with the reason
and its original bytes, and the rest of the batch goes on. The Faust agent in
``wirestream.streams.app`` only moves bytes in and out of it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wirestream.classify import classify_batch
from wirestream.deadletter import Source, deadletter_record, iso
from wirestream.models.persistence import LoadedModel
from wirestream.routing import RoutingConfig, review_reasons, route
from wirestream.story import InputLimits, Invalid, Story, parse_story

log = logging.getLogger(__name__)

# The producer's request limit (WireApp sets producer_max_request_size to it),
# less room for the record's own framing.
MAX_REQUEST_BYTES = 1_048_576
MAX_RECORD_BYTES = MAX_REQUEST_BYTES - 4096


@dataclass(frozen=True)
class RawMessage:
    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp: float | None = None  # seconds since the epoch, as produced

    @property
    def source(self) -> Source:
        return Source(self.topic, self.partition, self.offset, self.timestamp)


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class PipelineConfig:
    routing: RoutingConfig
    deadletter: str
    limits: InputLimits = field(default_factory=InputLimits)
    deadletter_max_payload_bytes: int = 65536
    max_record_bytes: int = MAX_RECORD_BYTES


@dataclass
class BatchResult:
    outgoing: list[Outgoing] = field(default_factory=list)
    classified: list[dict[str, Any]] = field(default_factory=list)
    deadletters: list[dict[str, Any]] = field(default_factory=list)
    routed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    classify_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    model_version: str = ""


class RecordTooLarge(ValueError):
    pass


class ModelFailure(RuntimeError):
    """Every story of a batch failed to classify: the model is broken, not the input.
    Dead-lettering them all would empty the stream into the dead-letter topic; the
    worker stops instead, acknowledging nothing, so a restart (or a rollback) retries."""


def encode(obj: dict[str, Any], limit: int = MAX_RECORD_BYTES) -> bytes:
    """Strict JSON (no NaN, no lone surrogates) that fits one producer request."""
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    if len(data) > limit:
        raise RecordTooLarge(f"record is {len(data)} bytes, limit {limit}")
    return data


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


def _explain_reviewed(
    loaded: LoadedModel,
    valid: list[tuple[RawMessage, Story]],
    ok: list[tuple[int, dict[str, Any]]],
    cfg: PipelineConfig,
) -> dict[int, dict[str, list[str]]]:
    """The review console highlights why the model decided: only stories going to review."""
    wanted = [i for i, rec in ok if review_reasons(rec, cfg.routing.review_threshold)]
    if not wanted:
        return {}
    try:
        found = loaded.model.explain([valid[i][1].text for i in wanted])
    except Exception:  # an explanation is a courtesy, never a reason to lose a story
        log.exception("explaining %d stories for review failed", len(wanted))
        return {}
    return dict(zip(wanted, found, strict=True))


def process_batch(
    messages: Sequence[RawMessage],
    loaded: LoadedModel,
    cfg: PipelineConfig,
    clock: Callable[[], float] = time.time,
) -> BatchResult:
    result = BatchResult(model_version=loaded.version)

    def dead(msg: RawMessage, reason: str, detail: str, story_id: str | None = None) -> None:
        result.deadletters.append(
            deadletter_record(
                reason=reason,
                detail=detail,
                source=msg.source,
                payload=msg.value,
                key=msg.key,
                stage="worker",
                now=clock(),
                max_payload_bytes=cfg.deadletter_max_payload_bytes,
                story_id=story_id,
            )
        )

    # 1. validate, one message at a time
    valid: list[tuple[RawMessage, Story]] = []
    for msg in messages:
        try:
            parsed = parse_story(msg.value, cfg.limits)
        except Exception as exc:  # a validator bug must not take the batch with it
            log.exception("validation raised on %s[%d]@%d", msg.topic, msg.partition, msg.offset)
            dead(msg, "processing_error", f"validation failed: {type(exc).__name__}: {exc}")
            continue
        if isinstance(parsed, Invalid):
            dead(msg, parsed.reason, parsed.detail)
        else:
            valid.append((msg, parsed))

    # 2. classify, one model call for the whole batch
    started = time.perf_counter()
    ok, failed = _classify_isolating_failures(loaded, [story for _, story in valid])
    result.classify_seconds = time.perf_counter() - started
    if not ok and len(failed) >= 2:
        raise ModelFailure(
            f"all {len(failed)} stories of a batch failed to classify: {failed[0][1]}"
        )
    for i, reason in failed:
        msg, story = valid[i]
        dead(msg, "processing_error", reason, story_id=story.id)

    # 3. explanations for the stories editors will review, in one model call
    explanations = _explain_reviewed(loaded, valid, ok, cfg)

    # 4. route and encode, all of a story's outputs or none of them
    now = clock()
    for i, classification in ok:
        msg, story = valid[i]
        try:
            record = story.to_dict() | classification | {"classified_at": iso(now)}
            routes = route(record, story.text, cfg.routing, explanations.get(i))
            key = story.id.encode("utf-8")
            outgoing = [
                Outgoing(topic, key, encode(payload, cfg.max_record_bytes))
                for topic, payload in routes
            ]
        except RecordTooLarge as exc:
            dead(msg, "output_too_large", str(exc), story_id=story.id)
            continue
        except Exception as exc:
            log.exception("routing or encoding failed for story %r", story.id[:80])
            dead(msg, "processing_error", f"{type(exc).__name__}: {exc}", story_id=story.id)
            continue
        result.outgoing.extend(outgoing)
        result.routed.extend(routes)
        result.classified.append(record)
        produced = _produced_at(msg, story)
        if produced is not None:
            result.latencies.append(max(0.0, now - produced))

    # 5. dead letters last: they always fit (payloads are cut to a prefix)
    for record in result.deadletters:
        result.outgoing.append(Outgoing(cfg.deadletter, msg_key(record), encode(record)))
    return result


def msg_key(record: dict[str, Any]) -> bytes | None:
    story_id = record.get("story_id")
    return story_id.encode("utf-8") if isinstance(story_id, str) else None
