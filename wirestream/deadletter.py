"""The one dead-letter record format, shared by the worker, the labeller and the notifier.

A dead-letter record says why a message was refused, where it came from, and
carries its original bytes, so nothing is ever lost. The record itself must fit
the producer's size limit whatever arrived: payloads longer than the limit keep
a prefix, and every record states the full size and SHA-256 of the original.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_DETAIL_CHARS = 1000
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class Source:
    """Where a refused message was read."""

    topic: str
    partition: int
    offset: int
    timestamp: float | None = None  # seconds since the epoch, as produced


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _bytes_field(raw: bytes, limit: int) -> dict[str, Any]:
    """The bytes as UTF-8 text when they are text, else base64; cut to ``limit`` bytes."""
    kept = raw[:limit]
    try:
        text = kept.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = None
        if len(kept) < len(raw) and exc.reason == "unexpected end of data":
            # the cut split a multi-byte character: keep whole characters only
            kept = kept[: exc.start]
            text = kept.decode("utf-8")
    if text is not None:
        return {"data": text, "encoding": "utf-8", "kept": len(kept)}
    return {"data": base64.b64encode(kept).decode("ascii"), "encoding": "base64", "kept": len(kept)}


def deadletter_record(
    *,
    reason: str,
    detail: str,
    source: Source,
    payload: bytes | None,
    key: bytes | None,
    stage: str,
    now: float,
    max_payload_bytes: int,
    story_id: str | None = None,
) -> dict[str, Any]:
    """Reason, origin and the original bytes (a prefix of them when they are too large)."""
    record: dict[str, Any] = {
        "reason": reason,
        "detail": detail[:MAX_DETAIL_CHARS].encode("utf-8", "replace").decode("utf-8"),
        "stage": stage,
        "source": {
            "topic": source.topic,
            "partition": source.partition,
            "offset": source.offset,
            "timestamp": iso(source.timestamp) if source.timestamp else None,
        },
        "failed_at": iso(now),
    }
    if story_id is not None:
        record["story_id"] = story_id[:MAX_KEY_BYTES]
    if payload is None:
        record |= {"payload": None, "payload_size": 0}
    else:
        kept = _bytes_field(payload, max_payload_bytes)
        record |= {
            "payload": kept["data"],
            "payload_encoding": kept["encoding"],
            "payload_size": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "payload_truncated": kept["kept"] < len(payload),
        }
    if key is None:
        record["key"] = None
    else:
        kept = _bytes_field(key, MAX_KEY_BYTES)
        record |= {"key": kept["data"], "key_encoding": kept["encoding"]}
        if kept["kept"] < len(key):
            record["key_truncated"] = True
    return record


def original_payload(record: dict[str, Any]) -> bytes | None:
    """The payload bytes a dead-letter record kept (all of them unless ``payload_truncated``)."""
    if record.get("payload") is None:
        return None
    if record.get("payload_encoding") == "base64":
        return base64.b64decode(record["payload"])
    return str(record["payload"]).encode("utf-8")
