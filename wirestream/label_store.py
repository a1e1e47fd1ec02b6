"""The durable label store: editors' labels and the text they were given on, in one SQLite file.

SQLite because the store must be transactional (a batch of labels lands whole
or not at all, so offsets can be committed after it), one file (backed up by
copying it, e.g. ``sqlite3 labels.sqlite3 ".backup copy.sqlite3"``) and needs
no server. One process writes it (``wirestream labeller``); ``labels export``,
``labels stats`` and ``retrain`` read it.

Tables: ``events`` is the history, every label per head as it arrived (who,
when, from which topic offset, so a redelivered message is not counted twice);
``labels`` holds the latest label per story and head (latest ``labelled_at``
wins, whatever order they arrive in); ``texts`` the story text a label applies
to; ``stories`` the recently classified stories (text and the model's
prediction) kept ``WIRESTREAM_STORY_RETENTION_H`` hours, to complete labels that
carry no text. A label whose story is not known yet is *pending* and is
completed when the story arrives; it is never dropped.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wirestream.labels import HEADS, Label

SCHEMA = """
CREATE TABLE IF NOT EXISTS stories (
    id TEXT PRIMARY KEY, headline TEXT NOT NULL, body TEXT NOT NULL, language TEXT,
    predicted TEXT NOT NULL, model_version TEXT, seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_seen ON stories (seen_at);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, head TEXT NOT NULL, value TEXT NOT NULL,
    labeller TEXT NOT NULL, labelled_at TEXT NOT NULL, model_version TEXT, note TEXT,
    source TEXT NOT NULL, received_at REAL NOT NULL, UNIQUE (source, head)
);
CREATE INDEX IF NOT EXISTS events_id ON events (id);
CREATE TABLE IF NOT EXISTS labels (
    id TEXT NOT NULL, head TEXT NOT NULL, value TEXT NOT NULL, labeller TEXT NOT NULL,
    labelled_at TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (id, head)
);
CREATE TABLE IF NOT EXISTS texts (
    id TEXT PRIMARY KEY, headline TEXT NOT NULL, body TEXT NOT NULL, language TEXT,
    predicted TEXT, model_version TEXT
);
CREATE TABLE IF NOT EXISTS agreement (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL, head TEXT NOT NULL, agree INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Stored:
    """What one batch changed, for the metrics."""

    labels: int = 0  # label heads newly recorded
    duplicates: int = 0  # heads of redelivered messages, already recorded
    completed: int = 0  # pending stories completed by a classified record
    agreements: tuple[tuple[str, bool], ...] = ()  # (head, editor agreed with the model)


@dataclass(frozen=True)
class ExportRow:
    id: str
    headline: str
    body: str
    language: str
    labels: dict[str, Any]
    labelled_at: str


class LabelStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    @classmethod
    def read_only(cls, path: Path) -> LabelStore:
        if not Path(path).is_file():
            raise FileNotFoundError(path)
        return cls(path)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- writing (the labeller) ---------------------------------------------------------
    def add_story(self, record: dict[str, Any], now: float) -> Stored:
        """A classified record; completes the pending labels of that story."""
        story_id = record["id"]
        predicted = json.dumps({h: record.get(h) for h in HEADS})
        self.db.execute(
            "INSERT INTO stories VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "predicted = excluded.predicted, model_version = excluded.model_version, seen_at = excluded.seen_at",
            (
                story_id,
                record["headline"],
                record["body"],
                record.get("language"),
                predicted,
                record.get("model_version"),
                now,
            ),
        )
        if not self._has_labels(story_id):
            return Stored()
        row = self.db.execute("SELECT predicted FROM texts WHERE id = ?", (story_id,)).fetchone()
        if row is None:  # a pending label is complete now
            self.db.execute(
                "INSERT INTO texts VALUES (?, ?, ?, ?, ?, ?)",
                (
                    story_id,
                    record["headline"],
                    record["body"],
                    record.get("language"),
                    predicted,
                    record.get("model_version"),
                ),
            )
        elif row[0] is None:  # the label brought its text; the prediction arrives now
            self.db.execute(
                "UPDATE texts SET predicted = ?, model_version = ? WHERE id = ?",
                (predicted, record.get("model_version"), story_id),
            )
        else:
            return Stored()
        return Stored(completed=int(row is None), agreements=self._score_agreement(story_id))

    def add_label(self, label: Label, source: str, now: float) -> Stored:
        """One validated label from ``source`` (``topic/partition/offset``): history, latest, text."""
        new = dup = 0
        for head, value in label.labels.items():
            cur = self.db.execute(
                "INSERT INTO events (id, head, value, labeller, labelled_at, model_version, note, source, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, head) DO NOTHING",
                (
                    label.id,
                    head,
                    json.dumps(value),
                    label.labeller,
                    label.labelled_at,
                    label.model_version,
                    label.note,
                    source,
                    now,
                ),
            )
            if cur.rowcount == 0:
                dup += 1
                continue
            new += 1
            seq = cur.lastrowid
            self.db.execute(
                "INSERT INTO labels VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id, head) DO UPDATE SET "
                "value = excluded.value, labeller = excluded.labeller, labelled_at = excluded.labelled_at, seq = excluded.seq "
                "WHERE excluded.labelled_at >= labels.labelled_at",
                (label.id, head, json.dumps(value), label.labeller, label.labelled_at, seq),
            )
        if new and not self._has_text(label.id):
            row = self.db.execute(
                "SELECT headline, body, language, predicted, model_version FROM stories WHERE id = ?",
                (label.id,),
            ).fetchone()
            if row is not None:
                self.db.execute("INSERT INTO texts VALUES (?, ?, ?, ?, ?, ?)", (label.id, *row))
            elif label.headline and label.body:
                self.db.execute(
                    "INSERT INTO texts VALUES (?, ?, ?, ?, NULL, ?)",
                    (label.id, label.headline, label.body, label.language, label.model_version),
                )
        agreements = self._score_agreement(label.id) if new else ()
        return Stored(labels=new, duplicates=dup, agreements=agreements)

    def _has_labels(self, story_id: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM labels WHERE id = ?", (story_id,)).fetchone() is not None
        )

    def _has_text(self, story_id: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM texts WHERE id = ?", (story_id,)).fetchone() is not None
        )

    def _score_agreement(self, story_id: str) -> tuple[tuple[str, bool], ...]:
        """Each label event compared with the model's prediction for that story, once."""
        row = self.db.execute("SELECT predicted FROM texts WHERE id = ?", (story_id,)).fetchone()
        if row is None or row[0] is None:
            return ()
        predicted = json.loads(row[0])
        scored = []
        for seq, head, value in self.db.execute(
            "SELECT e.seq, e.head, e.value FROM events e LEFT JOIN agreement a ON a.seq = e.seq "
            "WHERE e.id = ? AND a.seq IS NULL ORDER BY e.seq",
            (story_id,),
        ).fetchall():
            agree = json.loads(value) == predicted.get(head)
            self.db.execute(
                "INSERT INTO agreement VALUES (?, ?, ?, ?)", (seq, story_id, head, int(agree))
            )
            scored.append((head, agree))
        return tuple(scored)

    def prune(self, retention_s: float, now: float) -> int:
        """Forget classified stories older than the retention (labelled ones keep their text)."""
        return self.db.execute(
            "DELETE FROM stories WHERE seen_at < ?", (now - retention_s,)
        ).rowcount

    # -- reading (export, stats, retrain) -------------------------------------------------
    def pending(self) -> int:
        """Stories with labels but no text yet."""
        return self.db.execute(
            "SELECT COUNT(DISTINCT l.id) FROM labels l LEFT JOIN texts t ON t.id = l.id WHERE t.id IS NULL"
        ).fetchone()[0]

    def export(self, since: str | None = None) -> tuple[list[ExportRow], dict[str, int]]:
        """Labelled stories with text and all four heads; counts of what was left out and why."""
        rows: dict[str, dict[str, Any]] = {}
        with closing(
            self.db.execute("SELECT id, head, value, labelled_at FROM labels ORDER BY id")
        ) as cur:
            for story_id, head, value, labelled_at in cur:
                entry = rows.setdefault(story_id, {"labels": {}, "labelled_at": ""})
                entry["labels"][head] = json.loads(value)
                entry["labelled_at"] = max(entry["labelled_at"], labelled_at)
        texts = {
            r[0]: r[1:] for r in self.db.execute("SELECT id, headline, body, language FROM texts")
        }
        out, skipped = [], {"pending": 0, "partial": 0, "before_since": 0, "no_language": 0}
        for story_id, entry in rows.items():
            if since and entry["labelled_at"] < since:
                skipped["before_since"] += 1
            elif story_id not in texts:
                skipped["pending"] += 1
            elif set(entry["labels"]) != set(HEADS):
                skipped["partial"] += 1
            else:
                headline, body, language = texts[story_id]
                if language is None:
                    from wirestream.language import detect_language

                    language = detect_language(f"{headline}\n{body}")
                out.append(
                    ExportRow(
                        story_id, headline, body, language, entry["labels"], entry["labelled_at"]
                    )
                )
        return out, skipped

    def stats(self) -> dict[str, Any]:
        per_label = self.db.execute(
            "SELECT head, value, COUNT(*) FROM labels GROUP BY head, value ORDER BY head, value"
        ).fetchall()
        per_labeller = self.db.execute(
            "SELECT labeller, COUNT(*), COUNT(DISTINCT id) FROM events GROUP BY labeller ORDER BY 2 DESC"
        ).fetchall()
        agreement = self.db.execute(
            "SELECT head, SUM(agree), COUNT(*) FROM agreement GROUP BY head ORDER BY head"
        ).fetchall()
        return {
            "stories": self.db.execute("SELECT COUNT(DISTINCT id) FROM labels").fetchone()[0],
            "events": self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0],
            "pending": self.pending(),
            "per_label": [(h, json.loads(v), n) for h, v, n in per_label],
            "per_labeller": per_labeller,
            "agreement": {h: (int(a), int(n)) for h, a, n in agreement},
        }

    def history(self, story_id: str) -> list[dict[str, Any]]:
        cur = self.db.execute(
            "SELECT head, value, labeller, labelled_at, model_version, note, source FROM events WHERE id = ? ORDER BY seq",
            (story_id,),
        )
        names = [d[0] for d in cur.description]
        return [
            dict(zip(names, row, strict=True)) | {"value": json.loads(row[1])}
            for row in cur.fetchall()
        ]

    def current(self, story_id: str) -> dict[str, Any]:
        return {
            h: json.loads(v)
            for h, v in self.db.execute("SELECT head, value FROM labels WHERE id = ?", (story_id,))
        }


def export_jsonl(rows: Iterable[ExportRow]) -> Iterator[str]:
    """Rows in the corpus schema (``wirestream data check`` accepts them, ``train --data`` too)."""
    for row in rows:
        yield json.dumps(
            {
                "id": row.id,
                "headline": row.headline,
                "body": row.body,
                "language": row.language,
                "topic": row.labels["topic"],
                "topics_secondary": [],
                "stance": row.labels["stance"],
                "humanitarian": row.labels["humanitarian"],
                "military": row.labels["military"],
            },
            ensure_ascii=False,
        )


def now() -> float:
    return time.time()
