"""Records from the output topics, made safe to store and show.

Anything can arrive on a topic (tombstones, non-JSON, objects of the wrong
shape), so a record is decoded with the story decoder's bounds and every field
the console uses is type-checked and length-capped here, once. What comes out
is a plain dict of known fields; the rest of the console never sees raw input.
Values are still untrusted *text*: escaping is the templates' and the page's job.
"""

from __future__ import annotations

import math
from typing import Any

from wirestream.labels import HEADS
from wirestream.story import Invalid, decode_json_object
from wirestream.taxonomy import LANGUAGES, STANCES, TOPIC_CODES

MAX_DEPTH = 16
TEXT_FIELDS = {
    "headline": 4096,
    "body": 4 * 1024 * 1024,
    "language": 16,
    "source": 2048,
    "published_at": 64,
    "url": 2048,
    "topic": 200,
    "topic_code": 64,
    "stance": 64,
    "focus": 64,
    "model_version": 200,
    "classified_at": 64,
}
SCORE_FIELDS = ("topic_score", "stance_score", "humanitarian_score", "military_score")
BOOL_FIELDS = ("humanitarian", "military", "language_detected")
MAX_LIST = 32
MAX_TERM = 200
LEDE_CHARS = 280


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return min(1.0, max(0.0, number)) if math.isfinite(number) else None


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v[:MAX_TERM] for v in value[:MAX_LIST] if isinstance(v, str) and v]


def _explanation(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {}
    return {head: _strings(value.get(head)) for head in HEADS if _strings(value.get(head))}


def normalise(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The console's view of one decoded record, or None when it has no usable id."""
    story_id = obj.get("id")
    if not isinstance(story_id, str) or not story_id or len(story_id) > 256:
        return None
    out: dict[str, Any] = {"id": story_id}
    for name, limit in TEXT_FIELDS.items():
        out[name] = _text(obj.get(name), limit)
    for name in SCORE_FIELDS:
        out[name] = _score(obj.get(name))
    for name in BOOL_FIELDS:
        out[name] = obj.get(name) is True
    out["review_reasons"] = _strings(obj.get("review_reasons"))
    out["alert_rules"] = _strings(obj.get("alert_rules"))
    out["explanation"] = _explanation(obj.get("explanation"))
    return out


def parse_record(raw: bytes | None, max_bytes: int) -> dict[str, Any] | None:
    """Bytes from an output topic to a normalised record, or None (tombstone, not JSON, no id)."""
    obj = decode_json_object(raw, max_bytes, MAX_DEPTH)
    if isinstance(obj, Invalid):
        return None
    return normalise(obj)


def min_score(record: dict[str, Any]) -> float:
    """The confidence the queue sorts by: the weaker of the two heads that send stories to review."""
    scores = [s for s in (record.get("topic_score"), record.get("stance_score")) if s is not None]
    return min(scores) if scores else 0.0


def lede(body: str, limit: int = LEDE_CHARS) -> str:
    """The first paragraph, cut at a word boundary: what an editor scans in a list."""
    first = body.strip().split("\n\n", 1)[0].strip()
    if len(first) <= limit:
        return first
    cut = first[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def predicted(record: dict[str, Any]) -> dict[str, Any]:
    """The model's labels in the label contract's terms (None for a head the record lacks)."""
    topic = record.get("topic") if record.get("topic") in TOPIC_CODES else None
    stance = record.get("stance") if record.get("stance") in STANCES else None
    return {
        "topic": topic,
        "stance": stance,
        "humanitarian": bool(record.get("humanitarian")),
        "military": bool(record.get("military")),
    }


def label_language(record: dict[str, Any]) -> str | None:
    language = record.get("language")
    return language if language in LANGUAGES else None


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """What a list row needs: no body, so a page of ten thousand stays small."""
    keep = (
        "id",
        "headline",
        "language",
        "source",
        "published_at",
        "topic",
        "topic_score",
        "stance",
        "stance_score",
        "humanitarian",
        "military",
        "focus",
        "model_version",
        "classified_at",
        "review_reasons",
        "alert_rules",
    )
    out = {k: record.get(k) for k in keep}
    out["lede"] = lede(record.get("body") or "")
    out["min_score"] = min_score(record)
    return out
