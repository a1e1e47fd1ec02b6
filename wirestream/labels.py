"""The label contract: editors' labels on ``wire.labels``, validated by one JSON Schema.

``wirestream/data/label.schema.json`` is the contract the review console, any
newsroom tool, the labeller, the tests and the README all use. Parsing is pure
and cannot be crashed by its input (it shares the story decoder's bounds);
a label that fails gets an ``Invalid`` with the schema's own words, for the
dead-letter topic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from wirestream.story import Invalid, decode_json_object
from wirestream.taxonomy import TOPIC_CODES, canonical_topic

HEADS = ("topic", "stance", "humanitarian", "military")
OPTIONAL = ("model_version", "headline", "body", "language", "note")
MAX_LABEL_BYTES = 131072
MAX_LABEL_DEPTH = 8


@cache
def schema() -> dict[str, Any]:
    text = resources.files("wirestream").joinpath("data/label.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema(), format_checker=FormatChecker())


@dataclass(frozen=True)
class Label:
    """One validated label; ``labels`` holds canonical values (topic by IPTC name)."""

    id: str
    labels: dict[str, Any]
    labeller: str
    labelled_at: str  # ISO 8601, normalised to UTC
    model_version: str | None = None
    headline: str | None = None
    body: str | None = None
    language: str | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_message(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "labels": dict(self.labels),
            "labeller": self.labeller,
            "labelled_at": self.labelled_at,
        }
        for name in OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def _utc(text: str) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("labelled_at needs a time-zone offset")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _topic(value: str) -> str:
    codes = {code: name for name, code in TOPIC_CODES.items()}
    return codes.get(value) or canonical_topic(value)


def validate_label(obj: Any) -> Label | Invalid:
    """A decoded JSON value against the schema; canonical values when it passes."""
    errors = sorted(_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(the label)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Invalid("invalid_label", f"{where}: {first.message[:300]}{more}")
    try:
        labelled_at = _utc(obj["labelled_at"])
    except ValueError as exc:
        return Invalid("invalid_label", f"labelled_at: {exc}")
    labels = dict(obj["labels"])
    if "topic" in labels:
        labels["topic"] = _topic(labels["topic"])
    return Label(
        id=obj["id"],
        labels=labels,
        labeller=obj["labeller"],
        labelled_at=labelled_at,
        **{name: obj.get(name) for name in OPTIONAL},
    )


def parse_label(raw: bytes | str | None) -> Label | Invalid:
    """Bytes from ``wire.labels`` to a ``Label``, or ``Invalid`` saying why not."""
    obj = decode_json_object(raw, MAX_LABEL_BYTES, MAX_LABEL_DEPTH)
    if isinstance(obj, Invalid):
        return obj
    return validate_label(obj)


def new_label(
    story_id: str,
    labels: dict[str, Any],
    labeller: str,
    *,
    model_version: str | None = None,
    headline: str | None = None,
    body: str | None = None,
    language: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> Label:
    """Build a label for publishing (the console uses this); raises ValueError when invalid."""
    message: dict[str, Any] = {
        "id": story_id,
        "labels": labels,
        "labeller": labeller,
        "labelled_at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
    }
    for name, value in (
        ("model_version", model_version),
        ("headline", headline),
        ("body", body),
        ("language", language),
        ("note", note),
    ):
        if value is not None:
            message[name] = value
    result = validate_label(message)
    if isinstance(result, Invalid):
        raise ValueError(result.detail)
    return result


def encode_label(label: Label) -> bytes:
    return json.dumps(label.to_message(), ensure_ascii=False, separators=(",", ":")).encode()
