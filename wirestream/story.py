"""The input record and its validation: every reason a story can be refused.

Validation is a pure function from raw bytes to either a ``Story`` or an
``Invalid`` carrying a machine-readable reason, so the stream can dead-letter
bad input without ever raising.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from wirestream.taxonomy import LANGUAGES

REQUIRED_TEXT_FIELDS = ("id", "headline", "body")
OPTIONAL_TEXT_FIELDS = ("language", "source", "published_at", "url")

# Dead-letter reasons; the metric label set is exactly this tuple.
REASONS = (
    "empty_payload",
    "not_utf8",
    "invalid_json",
    "not_an_object",
    "missing_field",
    "empty_field",
    "wrong_type",
    "body_too_large",
    "unsupported_language",
    "processing_error",
)


@dataclass(frozen=True)
class Story:
    id: str
    headline: str
    body: str
    language: str | None = None
    source: str | None = None
    published_at: str | None = None
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return story_text(self.headline, self.body)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(id=self.id, headline=self.headline, body=self.body)
        for name in OPTIONAL_TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class Invalid:
    reason: str
    detail: str


def story_text(headline: str, body: str) -> str:
    """The one text every model head sees: headline, then body."""
    return f"{headline.strip()}\n{body.strip()}"


def parse_story(raw: bytes | str | None, max_body_bytes: int) -> Story | Invalid:
    """Decode and validate one input message."""
    if raw is None or not raw:
        return Invalid("empty_payload", "message has no value")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Invalid("not_utf8", f"payload is not UTF-8: {exc.reason} at byte {exc.start}")
    else:
        text = raw
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return Invalid("invalid_json", f"payload is not JSON: {exc}")
    if not isinstance(obj, dict):
        return Invalid("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    return story_from_dict(obj, max_body_bytes)


def story_from_dict(obj: dict[str, Any], max_body_bytes: int) -> Story | Invalid:
    for name in REQUIRED_TEXT_FIELDS:
        if name not in obj or obj[name] is None:
            return Invalid("missing_field", f"required field {name!r} is missing")
        if not isinstance(obj[name], str):
            kind = type(obj[name]).__name__
            return Invalid("wrong_type", f"field {name!r} must be a string, got {kind}")
        if not obj[name].strip():
            return Invalid("empty_field", f"required field {name!r} is empty")
    for name in OPTIONAL_TEXT_FIELDS:
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            kind = type(value).__name__
            return Invalid("wrong_type", f"field {name!r} must be a string, got {kind}")
    body_size = len(obj["body"].encode("utf-8"))
    if body_size > max_body_bytes:
        return Invalid("body_too_large", f"body is {body_size} bytes, limit {max_body_bytes}")
    language = obj.get("language") or None
    if language is not None and language not in LANGUAGES:
        return Invalid(
            "unsupported_language", f"language {language!r} is not one of {', '.join(LANGUAGES)}"
        )
    known = set(REQUIRED_TEXT_FIELDS) | set(OPTIONAL_TEXT_FIELDS)
    return Story(
        id=obj["id"],
        headline=obj["headline"],
        body=obj["body"],
        language=language,
        source=obj.get("source"),
        published_at=obj.get("published_at"),
        url=obj.get("url"),
        extra={k: v for k, v in obj.items() if k not in known},
    )
