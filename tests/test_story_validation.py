import json

import pytest

from wirestream.story import REASONS, Invalid, Story, parse_story

GOOD = {"id": "s-1", "headline": "Council approves budget", "body": "The council voted 31-4."}


def _raw(obj) -> bytes:
    return json.dumps(obj).encode()


def test_valid_story_round_trips_optional_fields():
    story = parse_story(_raw(GOOD | {"language": "en", "source": "desk", "url": "http://x"}), 1000)
    assert isinstance(story, Story)
    assert story.to_dict()["source"] == "desk"
    assert story.text.startswith("Council approves budget\n")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe\x00garbage", "not_utf8"),
        (b"{not json", "invalid_json"),
        (b"[1, 2, 3]", "not_an_object"),
        (_raw({"id": "x", "headline": "h"}), "missing_field"),
        (_raw(GOOD | {"body": "   "}), "empty_field"),
        (_raw(GOOD | {"id": 42}), "wrong_type"),
        (_raw(GOOD | {"language": 7}), "wrong_type"),
        (_raw(GOOD | {"body": "x" * 2001}), "body_too_large"),
        (_raw(GOOD | {"language": "de"}), "unsupported_language"),
    ],
)
def test_each_kind_of_bad_input_has_its_reason(payload, reason):
    result = parse_story(payload, 2000)
    assert isinstance(result, Invalid)
    assert result.reason == reason
    assert result.reason in REASONS
    assert result.detail


def test_body_limit_counts_utf8_bytes_not_characters():
    body = "ї" * 600  # 1200 bytes
    assert isinstance(parse_story(_raw(GOOD | {"body": body}), 1000), Invalid)
    assert isinstance(parse_story(_raw(GOOD | {"body": body}), 1200), Story)
