"""The review console's pure parts: highlighting, record decoding, users, decisions, filters, figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from wirestream.console import highlight
from wirestream.console.feed import FeedFilter
from wirestream.console.figures import wilson
from wirestream.console.records import min_score, parse_record, summary
from wirestream.console.review import BadDecision, build_label, parse_decision
from wirestream.console.security import session_key
from wirestream.console.users import authenticate, entry, load_users, parse_entry
from wirestream.errors import UserError
from wirestream.labels import encode_label, schema
from wirestream.settings import Settings

RECORD = {
    "id": "s-1",
    "headline": "Shelling hits Kharkiv",
    "body": "Shelling hit the city.\n\nAid convoys were delayed.",
    "language": "en",
    "topic": "conflict, war and peace",
    "topic_code": "medtop:16000000",
    "topic_score": 0.41,
    "stance": "confrontational",
    "stance_score": 0.62,
    "humanitarian": False,
    "humanitarian_score": 0.2,
    "military": True,
    "military_score": 0.9,
    "focus": "military",
    "language_detected": True,
    "model_version": "m-1",
    "classified_at": "2026-11-30T10:00:00+00:00",
    "review_reasons": ["topic_score 0.41 < 0.50"],
    "explanation": {"topic": ["shelling"], "stance": ["aid convoys"], "military": ["kharkiv~"]},
}


# -- highlighting ------------------------------------------------------------------------
def _marked(segs):
    return [(text, heads) for text, heads in segs if heads]


def test_segments_join_back_to_the_exact_text():
    text = "Shelling hit Kharkiv.\n\nKharkivska aid convoys waited; SHELLING resumed."
    segs = highlight.segments(text, RECORD["explanation"])
    assert "".join(t for t, _ in segs) == text


def test_words_bigrams_and_prefixes_match_like_the_tokenizer():
    text = "Shelling hit Kharkivska oblast as aid convoys waited. Aid\n\nconvoys again."
    segs = _marked(highlight.segments(text, RECORD["explanation"]))
    assert ("Shelling", ["topic"]) in segs  # a word, case-insensitive
    assert ("Kharkivska", ["military"]) in segs  # a prefix "kharkiv~"
    assert ("aid convoys", ["stance"]) in segs  # a bigram, with the gap marked
    assert ("Aid", ["stance"]) in segs and ("convoys", ["stance"]) in segs  # not across paragraphs
    assert not any("hit" in t for t, _ in segs)


def test_markup_in_text_or_terms_stays_plain_text():
    """Segments are raw text: the page escapes them, so a term can never open markup."""
    text = "<script>alert(1)</script> shelling <b>x</b>"
    segs = highlight.segments(text, {"topic": ["<script>", "script", "shelling"]})
    assert "".join(t for t, _ in segs) == text
    assert ("script", ["topic"]) in _marked(segs)
    assert all("<mark" not in t for t, _ in segs)


def test_no_explanation_means_one_plain_segment():
    assert highlight.segments("Some text", {}) == [("Some text", [])]
    assert highlight.segments("", {"topic": ["x"]}) == []


# -- records from the topics ----------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"id": 5}',
        b'{"headline": "no id"}',
        b"{" * 50,
    ],
)
def test_unusable_messages_are_skipped_not_raised(raw):
    assert parse_record(raw, 1_000_000) is None


def test_fields_of_the_wrong_type_are_neutralised():
    raw = json.dumps(
        RECORD
        | {
            "topic_score": "0.9",
            "stance_score": 7,
            "humanitarian": "yes",
            "review_reasons": "not a list",
            "alert_rules": ["ok", 5, None],
            "explanation": {"topic": "shelling", "evil": ["x"], "stance": ["aid"]},
            "headline": ["a list"],
        }
    ).encode()
    rec = parse_record(raw, 1_000_000)
    assert rec is not None
    assert rec["topic_score"] is None and rec["stance_score"] == 1.0
    assert rec["humanitarian"] is False and rec["headline"] == ""
    assert rec["review_reasons"] == [] and rec["alert_rules"] == ["ok"]
    assert rec["explanation"] == {"stance": ["aid"]}


def test_summary_has_a_lede_and_the_weaker_score_but_no_body():
    rec = parse_record(json.dumps(RECORD).encode(), 1_000_000)
    brief = summary(rec)
    assert brief["lede"] == "Shelling hit the city." and "body" not in brief
    assert brief["min_score"] == min_score(rec) == 0.41


# -- users and keys ------------------------------------------------------------------------
def test_users_from_the_environment_and_a_file(tmp_path):
    anna = entry("anna", "editor", "password-1")
    vic = entry("vic", "viewer", "password-2")
    path = tmp_path / "users"
    path.write_text(f"# console users\n{vic}\n", encoding="utf-8")
    users = load_users(Settings(console_users=anna, console_users_file=path))
    assert {u.name: u.role for u in users.values()} == {"anna": "editor", "vic": "viewer"}
    assert authenticate(users, "anna", "password-1") == users["anna"]
    assert authenticate(users, "anna", "password-2") is None
    assert authenticate(users, "nobody", "password-1") is None
    assert users["anna"].can_label and not users["vic"].can_label


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        (Settings(), "WIRESTREAM_CONSOLE_USERS or WIRESTREAM_CONSOLE_USERS_FILE"),
        (Settings(console_users="anna:editor"), "WIRESTREAM_CONSOLE_USERS line 1"),
        (Settings(console_users="anna:boss:$argon2id$x"), "WIRESTREAM_CONSOLE_USERS line 1"),
        (Settings(console_users="anna:editor:plaintext"), "not an Argon2 hash"),
        (Settings(console_users_file="/nonexistent/users"), "WIRESTREAM_CONSOLE_USERS_FILE"),
    ],
)
def test_unusable_users_fail_with_one_line_naming_the_variable(settings, names):
    with pytest.raises(UserError, match=names) as info:
        load_users(settings)
    assert "\n" not in str(info.value)


def test_a_user_defined_twice_is_refused():
    line = entry("anna", "editor", "password-1")
    with pytest.raises(UserError, match="defined twice"):
        load_users(Settings(console_users=f"{line};{line}"))


def test_user_names_are_restricted():
    with pytest.raises(UserError, match="user name"):
        parse_entry("<b>:editor:$argon2id$v=19$x", "here")


def test_a_short_or_missing_secret_key_names_the_variable():
    for secret in ("", "short"):
        with pytest.raises(UserError, match="WIRESTREAM_CONSOLE_SECRET_KEY"):
            session_key(Settings(console_secret_key=secret))
    assert len(session_key(Settings(console_secret_key="k" * 40))) == 32


# -- decisions become contract labels ---------------------------------------------------------
def test_confirm_takes_the_models_labels():
    d = parse_decision({"action": "confirm"}, RECORD)
    assert d.action == "confirm"
    assert d.labels == {
        "topic": "conflict, war and peace",
        "stance": "confrontational",
        "humanitarian": False,
        "military": True,
    }


def test_a_correction_keeps_unchanged_heads_and_an_unchanged_correction_is_a_confirmation():
    d = parse_decision(
        {"action": "correct", "labels": {"stance": "neutral", "humanitarian": True}, "note": " n "},
        RECORD,
    )
    assert d.action == "correct" and d.note == "n"
    assert d.labels["stance"] == "neutral" and d.labels["humanitarian"] is True
    assert d.labels["topic"] == RECORD["topic"] and d.labels["military"] is True
    same = parse_decision({"action": "correct", "labels": {"stance": "confrontational"}}, RECORD)
    assert same.action == "confirm"


@pytest.mark.parametrize(
    "body",
    [
        {"action": "approve"},
        {"action": "correct", "labels": {"topic": "gossip"}},
        {"action": "correct", "labels": {"stance": "angry"}},
        {"action": "correct", "labels": {"military": "yes"}},
        {"action": "correct", "labels": {"colour": "red"}},
        {"action": "confirm", "note": 5},
        ["not", "an", "object"],
    ],
)
def test_bad_decisions_are_refused(body):
    with pytest.raises(BadDecision):
        parse_decision(body, RECORD)


def test_a_story_without_a_valid_model_label_must_be_corrected():
    broken = RECORD | {"topic": "unknown"}
    with pytest.raises(BadDecision, match="topic"):
        parse_decision({"action": "confirm"}, broken)
    fixed = parse_decision({"action": "correct", "labels": {"topic": "health"}}, broken)
    assert fixed.labels["topic"] == "health"


def test_the_label_validates_against_the_schema_and_carries_the_story():
    d = parse_decision({"action": "correct", "labels": {"stance": "neutral"}, "note": "n"}, RECORD)
    label = build_label(d, RECORD, "anna", datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    message = json.loads(encode_label(label))
    assert not list(
        Draft202012Validator(schema(), format_checker=FormatChecker()).iter_errors(message)
    )
    assert message["labeller"] == "anna" and message["model_version"] == "m-1"
    assert message["headline"] == RECORD["headline"] and message["language"] == "en"
    assert message["labelled_at"].startswith("2026-11-30T12:00:00")


def test_an_oversized_body_is_left_out_of_the_label_rather_than_failing_it():
    big = RECORD | {"body": "word " * 20000, "language": "de"}
    label = build_label(parse_decision({"action": "confirm"}, big), big, "anna")
    assert label.body is None and label.language is None


# -- feed filters and figures -------------------------------------------------------------
def test_feed_filter_ignores_unknown_values_and_searches_every_word():
    f = FeedFilter.from_query(
        {"topic": "gossip", "stance": "confrontational", "q": "  KHARKIV  city "}
    )
    assert f.topic == "" and f.stance == "confrontational" and f.q == "KHARKIV city"
    assert f.matches(RECORD)
    assert not f.matches(RECORD | {"body": "elsewhere"})
    assert not FeedFilter(language="uk").matches(RECORD)
    assert FeedFilter(model="m-1", focus="military").matches(RECORD)


def test_wilson_interval_contains_the_rate_and_narrows_with_n():
    low, high = wilson(8, 10)
    assert low < 0.8 < high
    low2, high2 = wilson(80, 100)
    assert high2 - low2 < high - low
    assert wilson(0, 0) == (0.0, 1.0)


# -- live events --------------------------------------------------------------------------
def test_a_page_that_falls_behind_is_dropped_and_others_keep_their_events():
    import asyncio

    from wirestream.console.hub import QUEUE_SIZE, Hub

    async def main() -> None:
        hub = Hub()
        with hub.subscribe("queue") as slow, hub.subscribe("feed") as feed:
            for i in range(QUEUE_SIZE + 1):
                hub.publish("queue", {"n": i})
            hub.publish("feed", {"id": "x"})
            assert slow.dropped and await slow.get() is None  # told to reload its view
            assert await feed.get() == ("feed", {"id": "x"})  # never saw the queue's traffic
            assert hub.subscribers == 1

    asyncio.run(main())
