"""The label contract and the label store, without Kafka."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from wirestream.label_store import LabelStore, export_jsonl
from wirestream.labels import HEADS, Label, encode_label, new_label, parse_label, schema
from wirestream.story import Invalid
from wirestream.taxonomy import TOPIC_ALIASES, TOPIC_CODES
from wirestream.training.corpus import check_files

GOOD = {
    "id": "s1",
    "labels": {"topic": "medtop:15000000", "stance": "neutral"},
    "labeller": "olena",
    "labelled_at": "2026-11-30T10:00:00+02:00",
}


def test_the_schema_file_names_exactly_the_taxonomy():
    topic_enum = set(schema()["properties"]["labels"]["properties"]["topic"]["enum"])
    assert topic_enum == set(TOPIC_CODES) | set(TOPIC_CODES.values()) | set(TOPIC_ALIASES)
    assert set(schema()["properties"]["labels"]["properties"]) == set(HEADS)


def test_a_valid_label_is_normalised():
    label = parse_label(json.dumps(GOOD).encode())
    assert isinstance(label, Label)
    assert label.labels == {"topic": "sport", "stance": "neutral"}
    assert label.labelled_at == "2026-11-30T08:00:00+00:00"
    again = parse_label(encode_label(label))
    assert again == label


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"labels": {}}, "labels"),
        ({"labels": {"topic": "gossip"}}, "labels/topic"),
        ({"labels": {"stance": "angry"}}, "labels/stance"),
        ({"labels": {"military": "yes"}}, "labels/military"),
        ({"labels": {"colour": "red"}}, "labels"),
        ({"labeller": ""}, "labeller"),
        ({"labelled_at": "yesterday"}, "labelled_at"),
        ({"labelled_at": "2026-11-30T10:00:00"}, "labelled_at"),
        ({"language": "de"}, "language"),
        ({"extra": 1}, "(the label)"),
        ({"id": 7}, "id"),
    ],
)
def test_invalid_labels_say_where_and_why(change, where):
    result = parse_label(json.dumps(GOOD | change).encode())
    assert isinstance(result, Invalid) and result.reason == "invalid_label"
    assert result.detail.startswith(where), result.detail


@pytest.mark.parametrize("raw", [None, b"", b"\xff", b"[1]", b"[" * 100, b'{"id": NaN}'])
def test_undecodable_labels_are_refused_not_raised(raw):
    assert isinstance(parse_label(raw), Invalid)


def test_new_label_refuses_what_the_schema_refuses():
    with pytest.raises(ValueError, match="labels"):
        new_label("s1", {}, "olena")
    label = new_label("s1", {"humanitarian": True}, "olena", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert label.labelled_at == "2026-01-01T00:00:00+00:00"


def _label(story_id: str, at: str, who: str = "olena", **labels) -> Label:
    result = parse_label(
        json.dumps({"id": story_id, "labels": labels, "labeller": who, "labelled_at": at}).encode()
    )
    assert isinstance(result, Label), result
    return result


def _classified(story_id: str, **pred) -> dict:
    base = {"topic": "politics", "stance": "neutral", "humanitarian": False, "military": False}
    return (
        {
            "id": story_id,
            "headline": f"Headline {story_id}",
            "body": "Body text.",
            "language": "en",
            "model_version": "m1",
        }
        | base
        | pred
    )


def test_latest_label_per_story_and_head_wins_whatever_the_arrival_order_and_history_is_kept(
    tmp_path,
):
    store = LabelStore(tmp_path / "l.sqlite3")
    with store.transaction():
        store.add_label(_label("s1", "2026-11-30T10:00:00Z", "b", topic="sport"), "t/0/2", 1.0)
        store.add_label(
            _label("s1", "2026-11-30T09:00:00Z", "a", topic="politics", stance="neutral"),
            "t/0/1",
            2.0,
        )
    assert store.current("s1") == {"topic": "sport", "stance": "neutral"}
    assert [(h["head"], h["value"], h["labeller"]) for h in store.history("s1")] == [
        ("topic", "sport", "b"),
        ("topic", "politics", "a"),
        ("stance", "neutral", "a"),
    ]


def test_a_redelivered_label_message_is_not_counted_twice(tmp_path):
    store = LabelStore(tmp_path / "l.sqlite3")
    label = _label("s1", "2026-11-30T10:00:00Z", topic="sport", stance="neutral")
    with store.transaction():
        first = store.add_label(label, "t/0/5", 1.0)
        again = store.add_label(label, "t/0/5", 2.0)
    assert (first.labels, first.duplicates) == (2, 0)
    assert (again.labels, again.duplicates) == (0, 2)
    assert store.stats()["events"] == 2


def test_a_label_before_its_story_is_pending_then_completed_and_scored(tmp_path):
    store = LabelStore(tmp_path / "l.sqlite3")
    with store.transaction():
        store.add_label(
            _label(
                "s1",
                "2026-11-30T10:00:00Z",
                topic="sport",
                stance="neutral",
                humanitarian=False,
                military=False,
            ),
            "t/0/1",
            1.0,
        )
    assert store.pending() == 1
    rows, skipped = store.export()
    assert rows == [] and skipped["pending"] == 1
    with store.transaction():
        stored = store.add_story(_classified("s1", topic="sport", stance="confrontational"), 2.0)
    assert stored.completed == 1 and store.pending() == 0
    assert dict(stored.agreements) == {
        "topic": True,
        "stance": False,
        "humanitarian": True,
        "military": True,
    }
    rows, _ = store.export()
    assert [r.id for r in rows] == ["s1"]


def test_export_is_in_the_corpus_schema_and_skips_partial_labels(tmp_path):
    store = LabelStore(tmp_path / "l.sqlite3")
    with store.transaction():
        store.add_story(_classified("s1"), 1.0)
        store.add_story(_classified("s2"), 1.0)
        store.add_label(
            _label(
                "s1",
                "2026-11-30T10:00:00Z",
                topic="sport",
                stance="neutral",
                humanitarian=False,
                military=True,
            ),
            "t/0/1",
            2.0,
        )
        store.add_label(_label("s2", "2026-11-30T10:00:00Z", topic="sport"), "t/0/2", 2.0)
    rows, skipped = store.export()
    assert skipped["partial"] == 1
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(export_jsonl(rows)) + "\n")
    report = check_files([path])
    assert (
        report.ok
        and [s.id for s in report.stories] == ["s1"]
        and report.stories[0].military is True
    )


def test_retention_forgets_old_classified_stories_but_not_labelled_text(tmp_path):
    store = LabelStore(tmp_path / "l.sqlite3")
    with store.transaction():
        store.add_story(_classified("old"), 1.0)
        store.add_story(_classified("kept"), 1.0)
        store.add_label(
            _label(
                "kept",
                "2026-11-30T10:00:00Z",
                topic="sport",
                stance="neutral",
                humanitarian=False,
                military=False,
            ),
            "t/0/1",
            2.0,
        )
        assert store.prune(retention_s=10, now=100.0) == 2
    rows, _ = store.export()
    assert [r.id for r in rows] == ["kept"]
    with store.transaction():  # a label for a forgotten story waits for its text
        store.add_label(_label("old", "2026-11-30T10:00:00Z", topic="sport"), "t/0/2", 101.0)
    assert store.pending() == 1
