"""Validation of one input message: every way it can be wrong has a reason, nothing raises."""

import json
import random

import pytest

from wirestream.story import EXTRA_KEY, REASONS, InputLimits, Invalid, Story, parse_story

GOOD = {"id": "s-1", "headline": "Council approves budget", "body": "The council voted 31-4."}
LIMITS = InputLimits(max_body_bytes=2000)


def _raw(obj) -> bytes:
    return json.dumps(obj).encode()


def test_valid_story_round_trips_optional_fields():
    story = parse_story(
        _raw(GOOD | {"language": "en", "source": "desk", "url": "http://x"}), LIMITS
    )
    assert isinstance(story, Story)
    assert story.to_dict()["source"] == "desk"
    assert story.text.startswith("Council approves budget\n")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "empty_payload"),
        (b"", "empty_payload"),
        (b"x" * 262145, "message_too_large"),
        (b"\xff\xfe\x00garbage", "not_utf8"),
        (b"{not json", "invalid_json"),
        (b'{"id": "a", "headline": "h", "body": "b", "score": NaN}', "invalid_json"),
        (b'{"id": "a", "headline": "h", "body": "b", "score": Infinity}', "invalid_json"),
        (b"[" * 2000 + b"]" * 2000, "too_deep"),
        (b"[" * 200000, "too_deep"),
        (
            _raw(
                GOOD
                | {
                    "meta": {
                        "a": {
                            "b": {
                                "c": {
                                    "d": {
                                        "e": {
                                            "f": {
                                                "g": {
                                                    "h": {
                                                        "i": {
                                                            "j": {
                                                                "k": {
                                                                    "l": {
                                                                        "m": {"n": {"o": {"p": 1}}}
                                                                    }
                                                                }
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            ),
            "too_deep",
        ),
        (b'{"id": "a", "headline": "\\ud800", "body": "b"}', "invalid_unicode"),
        (b'{"id": "a", "headline": "h", "body": "b", "\\udfff": 1}', "invalid_unicode"),
        (b"[1, 2, 3]", "not_an_object"),
        (_raw({"id": "x", "headline": "h"}), "missing_field"),
        (_raw(GOOD | {"body": "   "}), "empty_field"),
        (_raw(GOOD | {"id": 42}), "wrong_type"),
        (_raw(GOOD | {"language": 7}), "wrong_type"),
        (_raw(GOOD | {"body": "x" * 2001}), "body_too_large"),
        (_raw(GOOD | {"id": "i" * 257}), "field_too_large"),
        (_raw(GOOD | {"headline": "h" * 1025}), "field_too_large"),
        (_raw(GOOD | {"url": "u" * 2049}), "field_too_large"),
        (_raw(GOOD | {"notes": "n" * 5000}), "field_too_large"),
        (_raw(GOOD | {"language": "de"}), "unsupported_language"),
    ],
)
def test_each_kind_of_bad_input_has_its_reason(payload, reason):
    result = parse_story(payload, LIMITS)
    assert isinstance(result, Invalid)
    assert result.reason == reason
    assert result.reason in REASONS
    assert result.detail


def test_body_limit_counts_utf8_bytes_not_characters():
    body = "ї" * 600  # 1200 bytes
    assert isinstance(
        parse_story(_raw(GOOD | {"body": body}), InputLimits(max_body_bytes=1000)), Invalid
    )
    assert isinstance(
        parse_story(_raw(GOOD | {"body": body}), InputLimits(max_body_bytes=1200)), Story
    )


def test_extra_fields_never_reach_the_top_level_of_an_output():
    """A story naming output fields cannot spoof them: extras travel under one key."""
    spoof = GOOD | {"alert_rules": ["fake"], "topic": "sport", "model_version": "evil", "tags": [1]}
    story = parse_story(_raw(spoof), LIMITS)
    assert isinstance(story, Story)
    out = story.to_dict()
    assert set(out) == {"id", "headline", "body", EXTRA_KEY}
    assert out[EXTRA_KEY] == {
        "alert_rules": ["fake"],
        "topic": "sport",
        "model_version": "evil",
        "tags": [1],
    }


def test_random_bytes_and_mutations_never_raise():
    """A seeded fuzz: whatever arrives, the answer is a Story or an Invalid with a known reason."""
    rng = random.Random(20261130)
    seeds = [_raw(GOOD), _raw(GOOD | {"language": "uk", "extra": {"a": [1, 2, {"b": None}]}})]
    for _ in range(3000):
        base = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(base) + 1)
            if op < 0.4 and base:
                base[min(pos, len(base) - 1)] = rng.randrange(256)
            elif op < 0.7:
                base[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
            elif base:
                del base[pos : pos + rng.randint(1, 6)]
        result = parse_story(bytes(base), LIMITS)
        assert isinstance(result, Story) or result.reason in REASONS
