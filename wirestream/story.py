"""The input record and its validation: every reason a story can be refused.

Validation is a pure function from raw bytes to either a ``Story`` or an
``Invalid`` carrying a machine-readable reason. It cannot be crashed by its
input: size is checked before decoding, JSON nesting and every field are
bounded, NaN/Infinity and lone surrogates are refused, so the stream can
dead-letter bad input without ever raising.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from wirestream.taxonomy import LANGUAGES

REQUIRED_TEXT_FIELDS = ("id", "headline", "body")
OPTIONAL_TEXT_FIELDS = ("language", "source", "published_at", "url")
KNOWN_FIELDS = frozenset(REQUIRED_TEXT_FIELDS + OPTIONAL_TEXT_FIELDS)
EXTRA_KEY = "input_extra"  # unknown input fields travel under this one key, never at top level

# Dead-letter reasons; the metric label set is exactly this tuple.
REASONS = (
    "empty_payload",
    "message_too_large",
    "not_utf8",
    "invalid_json",
    "too_deep",
    "invalid_unicode",
    "not_an_object",
    "missing_field",
    "empty_field",
    "wrong_type",
    "field_too_large",
    "body_too_large",
    "unsupported_language",
    "processing_error",
    "output_too_large",
)


@dataclass(frozen=True)
class InputLimits:
    """Bounds on one input message; defaults mirror ``Settings``."""

    max_message_bytes: int = 262144
    max_body_bytes: int = 65536
    max_headline_bytes: int = 1024
    max_id_bytes: int = 256
    max_field_bytes: int = 2048
    max_extra_bytes: int = 4096
    max_json_depth: int = 16

    @classmethod
    def from_settings(cls, settings: Any) -> InputLimits:
        """The ``WIRESTREAM_MAX_*`` settings of the same names."""
        return cls(**{f: getattr(settings, f) for f in cls.__dataclass_fields__})


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
        """The input fields an output record carries: known fields, extras namespaced."""
        out: dict[str, Any] = {"id": self.id, "headline": self.headline, "body": self.body}
        for name in OPTIONAL_TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.extra:
            out[EXTRA_KEY] = self.extra
        return out


@dataclass(frozen=True)
class Invalid:
    reason: str
    detail: str


def story_text(headline: str, body: str) -> str:
    """The one text every model head sees: headline, then body."""
    return f"{headline.strip()}\n{body.strip()}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (strict parsers reject it)")


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses NaN and Infinity instead of producing them."""
    return json.loads(text, parse_constant=_refuse_constant)


def check_tree(obj: Any, max_depth: int) -> Invalid | None:
    """Depth bound and well-formed text (no lone surrogates) anywhere in a JSON value."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                return Invalid("too_deep", f"JSON nesting deeper than {max_depth} levels")
            children = node.items() if isinstance(node, dict) else enumerate(node)
            for k, v in children:
                if isinstance(k, str) and not _is_text(k):
                    return Invalid("invalid_unicode", "a key holds a lone surrogate")
                stack.append((v, depth + 1))
        elif isinstance(node, str) and not _is_text(node):
            return Invalid("invalid_unicode", "a string holds a lone surrogate (\\ud800-\\udfff)")
    return None


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_json_object(raw: bytes | str | None, max_bytes: int, max_depth: int) -> Any:
    """Bytes to a bounded, strict JSON value, or ``Invalid`` saying why not."""
    if raw is None or not raw:
        return Invalid("empty_payload", "message has no value (empty or a tombstone)")
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return Invalid("message_too_large", f"message is {size} bytes, limit {max_bytes}")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Invalid("not_utf8", f"payload is not UTF-8: {exc.reason} at byte {exc.start}")
    else:
        text = raw
    try:
        obj = loads_strict(text)
    except RecursionError:
        return Invalid("too_deep", f"JSON nesting deeper than {max_depth} levels")
    except ValueError as exc:
        return Invalid("invalid_json", f"payload is not JSON: {exc}")
    problem = check_tree(obj, max_depth)
    if problem is not None:
        return problem
    if not isinstance(obj, dict):
        return Invalid("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def parse_story(raw: bytes | str | None, limits: InputLimits | None = None) -> Story | Invalid:
    """Decode and validate one input message."""
    limits = limits or InputLimits()
    obj = decode_json_object(raw, limits.max_message_bytes, limits.max_json_depth)
    if isinstance(obj, Invalid):
        return obj
    return story_from_dict(obj, limits)


def _size(value: str) -> int:
    return len(value.encode("utf-8"))


def story_from_dict(obj: dict[str, Any], limits: InputLimits | None = None) -> Story | Invalid:
    limits = limits or InputLimits()
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
    body_size = _size(obj["body"])
    if body_size > limits.max_body_bytes:
        return Invalid(
            "body_too_large", f"body is {body_size} bytes, limit {limits.max_body_bytes}"
        )
    bounds = {"id": limits.max_id_bytes, "headline": limits.max_headline_bytes}
    bounds |= {name: limits.max_field_bytes for name in OPTIONAL_TEXT_FIELDS}
    for name, limit in bounds.items():
        value = obj.get(name)
        if isinstance(value, str) and _size(value) > limit:
            return Invalid(
                "field_too_large", f"field {name!r} is {_size(value)} bytes, limit {limit}"
            )
    language = obj.get("language") or None
    if language is not None and language not in LANGUAGES:
        return Invalid(
            "unsupported_language",
            f"language {language[:20]!r} is not one of {', '.join(LANGUAGES)}",
        )
    extra = {k: v for k, v in obj.items() if k not in KNOWN_FIELDS}
    if extra:
        extra_size = _size(json.dumps(extra, ensure_ascii=False))
        if extra_size > limits.max_extra_bytes:
            return Invalid(
                "field_too_large",
                f"extra fields {sorted(extra)[:5]} take {extra_size} bytes, "
                f"limit {limits.max_extra_bytes} (WIRESTREAM_MAX_EXTRA_BYTES)",
            )
    return Story(
        id=obj["id"],
        headline=obj["headline"],
        body=obj["body"],
        language=language,
        source=obj.get("source"),
        published_at=obj.get("published_at"),
        url=obj.get("url"),
        extra=extra,
    )
