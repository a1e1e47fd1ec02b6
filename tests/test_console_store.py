"""The console's SQLite state: queue, claims, the undo window, restarts, consumed labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wirestream.console.figures import compute
from wirestream.console.records import normalise
from wirestream.console.store import Conflict, Store
from wirestream.labels import new_label


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def record(story_id: str, score: float = 0.3, **extra) -> dict:
    base = {
        "id": story_id,
        "headline": f"Headline {story_id}",
        "body": "Body text.",
        "language": "en",
        "topic": "health",
        "topic_score": score,
        "stance": "neutral",
        "stance_score": 0.9,
        "humanitarian": False,
        "military": False,
        "model_version": "m-1",
        "classified_at": "2026-11-30T10:00:00+00:00",
        "review_reasons": ["low"],
    }
    out = normalise(base | extra)
    assert out is not None
    return out


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    s = Store(tmp_path / "console.sqlite3", clock)
    s.apply(
        [("review", record("a", 0.4)), ("review", record("b", 0.1)), ("review", record("c", 0.2))],
        {},
    )
    return s


def decide(store: Store, story_id: str, user: str, undo_s: float = 8.0, **kw) -> int:
    return store.decide(story_id, user, "confirm", {"topic": "health"}, None, b"{}", undo_s, **kw)


def ids(items) -> list[str]:
    return [i["id"] for i in items]


def test_queue_orders_oldest_first_or_least_confident_first(store: Store):
    assert ids(store.queue_page("oldest")) == ["a", "b", "c"]
    assert ids(store.queue_page("least")) == ["b", "c", "a"]
    assert ids(store.queue_page("oldest", offset=1, limit=1)) == ["b"]
    assert store.waiting() == 3


def test_a_replayed_review_record_does_not_queue_the_story_twice(store: Store):
    applied = store.apply([("review", record("a", 0.05))], {})
    assert applied.added == [] and store.waiting() == 3
    assert store.queue_page("least")[0]["id"] == "a"  # refreshed while it waits


def test_a_claim_keeps_other_editors_off_until_it_expires(store: Store, clock: Clock):
    assert store.claim("a", "anna", 300)[0]
    ok, holder, _ = store.claim("a", "ben", 300)
    assert (ok, holder) == (False, "anna")
    assert store.queue_page()[0]["claimed_by"] == "anna"
    with pytest.raises(Conflict, match="anna is reviewing"):
        decide(store, "a", "ben")
    clock.now += 301
    assert store.queue_page()[0]["claimed_by"] is None
    assert store.claim("a", "ben", 300)[0]


def test_one_open_story_per_editor_and_take_over(store: Store):
    store.claim("a", "anna", 300)
    ok, _, released = store.claim("b", "anna", 300)
    assert ok and released == ["a"]
    ok, holder, _ = store.claim("b", "ben", 300, force=True)
    assert ok and holder == "ben"


def test_undo_inside_the_window_returns_the_story_and_cancels_the_label(store: Store, clock: Clock):
    store.claim("a", "anna", 300)
    decide(store, "a", "anna")
    assert "a" not in ids(store.queue_page()) and store.queue_row("a")["status"] == "held"
    clock.now += 5
    result = store.undo("anna", 300)
    assert result["id"] == "a" and result["item"]["claimed_by"] == "anna"
    assert store.queue_row("a")["status"] == "waiting"
    clock.now += 10
    assert store.take_due() == []  # nothing is ever published for an undone decision
    with pytest.raises(Conflict, match="nothing to undo"):
        store.undo("anna", 300)


def test_after_the_window_the_label_is_published_and_undo_is_refused(store: Store, clock: Clock):
    decide(store, "a", "anna")
    decide(store, "b", "ben")
    clock.now += 8
    due = store.take_due()
    assert [r["story_id"] for r in due] == ["a", "b"]
    with pytest.raises(Conflict, match="too late"):
        store.undo("anna", 300)
    store.sent([r["action_id"] for r in due])
    assert store.queue_row("a")["status"] == "done" and store.queue_row("a")["decided_by"] == "anna"
    with pytest.raises(Conflict, match="too late"):
        store.undo("anna", 300)
    with pytest.raises(Conflict, match="already been decided"):
        decide(store, "a", "ben")


def test_undo_takes_back_the_latest_decision_first(store: Store):
    decide(store, "a", "anna")
    decide(store, "b", "anna")
    assert store.undo("anna", 300)["id"] == "b"
    assert store.undo("anna", 300)["id"] == "a"


def test_state_survives_a_restart_and_a_send_cut_short_is_sent_again(
    tmp_path: Path, store: Store, clock: Clock
):
    decide(store, "a", "anna")  # still in its undo window
    decide(store, "b", "anna")
    clock.now += 9
    decide(store, "c", "anna")
    taken = store.take_due()  # a and b are being sent ... and the console dies
    assert len(taken) == 2
    store.close()
    again = Store(tmp_path / "console.sqlite3", clock)
    assert again.waiting() == 0
    assert {r["story_id"] for r in again.take_due()} == {"a", "b"}  # at least once
    clock.now += 9
    assert [r["story_id"] for r in again.take_due()] == ["c"]  # published after the restart


def test_a_label_from_another_tool_takes_the_story_off_the_queue(store: Store):
    label = new_label("c", {"stance": "neutral"}, "desk-tool")
    applied = store.apply([("label", label)], {("wire.labels", 0): 5})
    assert applied.removed == [{"id": "c", "by": "desk-tool", "action": "label"}]
    assert "c" not in ids(store.queue_page())
    assert store.offsets() == {("wire.labels", 0): 5}
    assert store.labels_for("c")[0]["labeller"] == "desk-tool"
    replay = store.apply([("label", label)], {("wire.labels", 0): 6})
    assert replay.labels == 0  # the same label consumed twice is stored once


def test_a_failed_batch_stores_neither_records_nor_positions(store: Store):
    with pytest.raises(TypeError):
        store.apply([("review", record("d")), ("review", {"id": object()})], {("t", 0): 9})
    assert store.waiting() == 3 and store.offsets() == {}


def test_old_classified_records_are_pruned_but_the_queue_is_not(store: Store, clock: Clock):
    for i in range(30):
        clock.now += 1
        store.apply([("classified", record(f"x{i}"))], {})
    store.prune(10)
    assert len(store.recent("classified", 100)) == 10
    assert store.recent("classified", 1)[0]["id"] == "x29"
    assert store.waiting() == 3


def test_figures_count_labels_agreement_review_share_and_rules(tmp_path: Path, clock: Clock):
    today = datetime.now(UTC).date()
    at = {"classified_at": f"{today}T10:00:00+00:00"}
    store = Store(tmp_path / "figures.sqlite3", clock)
    store.apply([("review", record(i, **at)) for i in ("a", "b", "c")], {})
    store.apply(
        [("classified", record(i, **at)) for i in ("a", "b", "c", "d")]
        + [
            ("alert", record("d", alert_rules=["r1", "r2"], **at)),
            ("alert", record("a", alert_rules=["r1"], **at)),
        ],
        {},
    )
    agree = new_label("a", {"topic": "health", "stance": "neutral"}, "anna")
    disagree = new_label("b", {"topic": "sport"}, "ben")
    store.apply([("label", agree), ("label", disagree)], {})
    fig = compute(store, today=today)
    assert fig["labels_per_editor"] == {"anna": [0] * 13 + [1], "ben": [0] * 13 + [1]}
    by_head = {row["head"]: row for row in fig["agreement"]}
    assert (by_head["topic"]["agree"], by_head["topic"]["n"]) == (1, 2)
    assert (by_head["stance"]["agree"], by_head["stance"]["n"]) == (1, 1)
    assert by_head["military"]["n"] == 0
    assert fig["alerts_per_rule"] == [{"rule": "r1", "n": 2}, {"rule": "r2", "n": 1}]
    assert fig["review_share"]["review"][-1] == 3 and fig["review_share"]["classified"][-1] == 4
    assert fig["review_share"]["total_share"] == 0.75
    assert json.dumps(fig)  # the page embeds it as JSON
