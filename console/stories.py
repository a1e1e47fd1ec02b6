"""One story as the pages show it: its records merged, highlighted, with its queue state."""

from __future__ import annotations

from typing import Any

from wirestream.console.highlight import segments
from wirestream.console.records import lede, predicted
from wirestream.console.store import Store


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def merge(*records: dict[str, Any] | None) -> dict[str, Any]:
    """Classified, alert and review records of one story as one (later non-empty values win)."""
    out: dict[str, Any] = {}
    for record in records:
        for key, value in (record or {}).items():
            if key not in out or not _empty(value):
                out[key] = value
    return out


def detail(store: Store, story_id: str) -> dict[str, Any] | None:
    """Everything the story pane and the story page show, or None for an unknown id."""
    row = store.queue_row(story_id)
    classified = store.record("classified", story_id)
    alert = store.record("alert", story_id)
    if row is None and classified is None and alert is None:
        return None
    record = merge(classified, alert, row["record"] if row else None)
    explanation = record.get("explanation") or {}
    queue = None
    if row is not None:
        queue = {
            "status": row["status"],
            "claimed_by": row["claimed_by"],
            "decided_by": row["decided_by"],
            "decided_at": row["decided_at"],
            "action": row["action"],
            "labels": row["labels"],
            "note": row["note"],
        }
    tags = [head for head in ("humanitarian", "military") if record.get(head)]
    return {
        "id": story_id,
        "record": record,
        # the heads whose terms are highlighted at first: the two that send stories to
        # review, and a tag only when the model set it (terms against a tag are noise)
        "heads_shown": ["topic", "stance", *tags],
        "lede": lede(record.get("body") or ""),
        "predicted": predicted(record),
        "segments": {
            "headline": segments(record.get("headline") or "", explanation),
            "body": segments(record.get("body") or "", explanation),
        },
        "queue": queue,
        "labels": store.labels_for(story_id),
    }
