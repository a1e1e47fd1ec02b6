"""Editors' decisions: from a key press to a label in the outbox, and back by undo.

A decision is checked here against the taxonomy, turned into a label by the
label contract's own ``new_label`` (never hand-built JSON), and held in the
outbox for the undo window; the live views hear about every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wirestream.console.hub import Hub
from wirestream.console.records import label_language, predicted
from wirestream.console.store import Conflict, Store
from wirestream.labels import HEADS, Label, encode_label, new_label
from wirestream.settings import Settings
from wirestream.taxonomy import STANCES, canonical_topic

ACTIONS = ("confirm", "correct")
MAX_NOTE = 2000
MAX_LABEL_HEADLINE = 1024
MAX_LABEL_BODY = 65536


class BadDecision(ValueError):
    """The request does not describe a valid decision; the message says what is wrong."""


@dataclass(frozen=True)
class Decision:
    story_id: str
    action: str
    labels: dict[str, Any]
    note: str | None


def _head_value(head: str, value: Any) -> Any:
    if head == "topic":
        if not isinstance(value, str):
            raise BadDecision("topic must be one of the 17 IPTC names")
        try:
            return canonical_topic(value)
        except ValueError as exc:
            raise BadDecision(str(exc)) from None
    if head == "stance":
        if value not in STANCES:
            raise BadDecision(f"stance must be one of {', '.join(STANCES)}")
        return value
    if not isinstance(value, bool):
        raise BadDecision(f"{head} must be true or false")
    return value


def parse_decision(body: Any, record: dict[str, Any]) -> Decision:
    """A client's decision checked against the story: every head ends up with a valid value.

    ``confirm`` takes the model's labels; ``correct`` takes the heads given and
    the model's for the rest (the editor saw them and let them stand). A
    correction equal to the model's labels is a confirmation.
    """
    if not isinstance(body, dict):
        raise BadDecision("expected a JSON object")
    action = body.get("action")
    if action not in ACTIONS:
        raise BadDecision(f"action must be one of {', '.join(ACTIONS)}")
    model = predicted(record)
    given = body.get("labels") or {}
    if not isinstance(given, dict) or any(k not in HEADS for k in given):
        raise BadDecision(f"labels may only name the heads {', '.join(HEADS)}")
    labels = dict(model)
    if action == "correct":
        labels |= {head: _head_value(head, value) for head, value in given.items()}
    missing = [head for head, value in labels.items() if value is None]
    if missing:
        raise BadDecision(
            f"the model gave no valid {' or '.join(missing)} for this story: correct it"
        )
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise BadDecision("note must be text")
    note = (note or "").strip()[:MAX_NOTE] or None
    final = "confirm" if labels == model else "correct"
    return Decision(str(record["id"]), final, labels, note)


def build_label(
    decision: Decision, record: dict[str, Any], user: str, now: datetime | None = None
) -> Label:
    """The label this decision publishes, with the story text when it fits the contract."""
    headline = record.get("headline") or None
    body = record.get("body") or None
    return new_label(
        decision.story_id,
        decision.labels,
        user,
        model_version=record.get("model_version") or None,
        headline=headline if headline and len(headline) <= MAX_LABEL_HEADLINE else None,
        body=body if body and len(body) <= MAX_LABEL_BODY else None,
        language=label_language(record),
        note=decision.note,
        now=now or datetime.now(UTC),
    )


class Reviews:
    """The queue's state changes, each told to the live views."""

    def __init__(self, store: Store, hub: Hub, settings: Settings) -> None:
        self.store = store
        self.hub = hub
        self.settings = settings

    def claim(self, story_id: str, user: str, force: bool = False) -> dict[str, Any]:
        ok, holder, released = self.store.claim(
            story_id, user, self.settings.console_claim_s, force=force
        )
        for other in released:
            self.hub.publish("queue", {"type": "released", "id": other})
        if ok:
            self.hub.publish("queue", {"type": "claimed", "id": story_id, "by": user})
        return {"claimed": ok, "by": holder}

    def release(self, user: str) -> None:
        for other in self.store.release(user):
            self.hub.publish("queue", {"type": "released", "id": other})

    def decide(self, user: str, body: Any, force: bool = False) -> dict[str, Any]:
        story_id = body.get("id") if isinstance(body, dict) else None
        row = self.store.queue_row(story_id) if isinstance(story_id, str) else None
        if row is None:
            raise Conflict("this story is not in the review queue")
        decision = parse_decision(body, row["record"])
        label = build_label(decision, row["record"], user)
        undo_s = self.settings.console_undo_s
        action_id = self.store.decide(
            decision.story_id,
            user,
            decision.action,
            decision.labels,
            decision.note,
            encode_label(label),
            undo_s,
            force=force,
        )
        self.hub.publish(
            "queue",
            {"type": "removed", "id": decision.story_id, "by": user, "action": decision.action},
        )
        return {
            "action_id": action_id,
            "action": decision.action,
            "labels": decision.labels,
            "undo_s": undo_s,
            "waiting": self.store.waiting(),
        }

    def undo(self, user: str) -> dict[str, Any]:
        result = self.store.undo(user, self.settings.console_claim_s)
        self.hub.publish("queue", {"type": "returned", "item": result["item"]})
        return result | {"waiting": self.store.waiting()}
