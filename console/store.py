"""The console's state in one SQLite file: queue, claims, outbox, stories, labels, counts.

Consumed records and the consumer's positions are written in one transaction,
so after any restart the console resumes exactly where its state ends (nothing
counted twice, nothing missed); the Kafka group commit is only for lag
monitoring. Queue rows move ``waiting -> held -> done``: *held* is a decision
inside its undo window, whose label waits in the outbox; *done* means the label
was published (or another tool's label for the story arrived on wire.labels).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wirestream.console.records import min_score, predicted, summary
from wirestream.labels import Label

SCHEMA = """
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition));
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL,
    summary TEXT NOT NULL,
    min_score REAL NOT NULL,
    arrived_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'waiting',
    claimed_by TEXT, claimed_until REAL,
    decided_by TEXT, decided_at REAL, action TEXT, labels TEXT, note TEXT);
CREATE INDEX IF NOT EXISTS queue_oldest ON queue (status, seq);
CREATE INDEX IF NOT EXISTS queue_least ON queue (status, min_score, seq);
CREATE INDEX IF NOT EXISTS queue_claims ON queue (claimed_by);
CREATE TABLE IF NOT EXISTS outbox (
    action_id INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
    payload BLOB NOT NULL, created_at REAL NOT NULL, due_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', sent_at REAL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, due_at);
CREATE INDEX IF NOT EXISTS outbox_user ON outbox (user, action_id);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, id TEXT NOT NULL, record TEXT NOT NULL, seen_at REAL NOT NULL,
    PRIMARY KEY (kind, id));
CREATE INDEX IF NOT EXISTS records_recent ON records (kind, seen_at);
CREATE TABLE IF NOT EXISTS labels (
    story_id TEXT NOT NULL, labeller TEXT NOT NULL, labelled_at TEXT NOT NULL,
    day TEXT NOT NULL, labels TEXT NOT NULL, note TEXT, model_version TEXT, predicted TEXT,
    PRIMARY KEY (story_id, labeller, labelled_at));
CREATE INDEX IF NOT EXISTS labels_day ON labels (day);
CREATE TABLE IF NOT EXISTS counts (
    day TEXT NOT NULL, metric TEXT NOT NULL, key TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (day, metric, key));
"""

KINDS = ("review", "classified", "alert", "label")
ORDERS = ("oldest", "least")


class Conflict(Exception):
    """The story is not in a state for this action; the message says why, for the editor."""


@dataclass
class Applied:
    """What one consumed batch changed, for the live views."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    classified: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    labels: int = 0


def day_of(text: str | None, fallback: float) -> str:
    """The UTC day of an ISO time, or of ``fallback`` when the text is not one."""
    if text:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                return moment.astimezone(UTC).date().isoformat()
        except ValueError:
            pass
    return datetime.fromtimestamp(fallback, UTC).date().isoformat()


class Store:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.clock = clock
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        # a crash between "sending" and "sent" leaves rows to send again (at least once)
        self.db.execute("UPDATE outbox SET state='pending' WHERE state='sending'")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- consumption ---------------------------------------------------------------------
    def offsets(self) -> dict[tuple[str, int], int]:
        rows = self.db.execute("SELECT topic, partition, next_offset FROM offsets")
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    def apply(
        self,
        items: Sequence[tuple[str, Any]],
        offsets: Mapping[tuple[str, int], int],
    ) -> Applied:
        """Store one consumed batch and the positions after it, atomically."""
        now = self.clock()
        out = Applied()
        with self._tx() as db:
            for kind, payload in items:
                if kind == "review":
                    self._review(db, payload, now, out)
                elif kind == "label":
                    self._label(db, payload, now, out)
                elif kind in ("classified", "alert"):
                    db.execute(
                        "INSERT INTO records (kind, id, record, seen_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (kind, id) DO UPDATE SET record=excluded.record, "
                        "seen_at=excluded.seen_at",
                        (kind, payload["id"], json.dumps(payload, ensure_ascii=False), now),
                    )
                    day = day_of(payload.get("classified_at"), now)
                    if kind == "classified":
                        self._count(db, day, "classified", "")
                        self._count(db, day, "model", payload.get("model_version") or "")
                        out.classified.append(payload)
                    else:
                        for rule in payload.get("alert_rules") or ["(none)"]:
                            self._count(db, day, "alert_rule", rule)
                        out.alerts.append(payload)
            for (topic, partition), position in offsets.items():
                db.execute(
                    "INSERT INTO offsets VALUES (?, ?, ?) ON CONFLICT (topic, partition) "
                    "DO UPDATE SET next_offset=excluded.next_offset",
                    (topic, partition, position),
                )
        return out

    def _count(self, db: sqlite3.Connection, day: str, metric: str, key: str) -> None:
        db.execute(
            "INSERT INTO counts VALUES (?, ?, ?, 1) ON CONFLICT (day, metric, key) "
            "DO UPDATE SET n = n + 1",
            (day, metric, key),
        )

    def _review(
        self, db: sqlite3.Connection, record: dict[str, Any], now: float, out: Applied
    ) -> None:
        self._count(db, day_of(record.get("classified_at"), now), "review", "")
        text = json.dumps(record, ensure_ascii=False)
        brief = summary(record)
        cur = db.execute(
            "INSERT INTO queue (id, record, summary, min_score, arrived_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (record["id"], text, json.dumps(brief, ensure_ascii=False), min_score(record), now),
        )
        if cur.rowcount:
            brief["seq"] = cur.lastrowid
            out.added.append(brief)
        else:  # the same story again (a replay or a new model): refresh it while it waits
            db.execute(
                "UPDATE queue SET record=?, summary=?, min_score=? WHERE id=? AND status='waiting'",
                (text, json.dumps(brief, ensure_ascii=False), min_score(record), record["id"]),
            )

    def _label(self, db: sqlite3.Connection, label: Label, now: float, out: Applied) -> None:
        row = db.execute("SELECT record FROM queue WHERE id=?", (label.id,)).fetchone()
        if row is None:
            row = db.execute(
                "SELECT record FROM records WHERE kind='classified' AND id=?", (label.id,)
            ).fetchone()
        guess = predicted(json.loads(row["record"])) if row else None
        cur = db.execute(
            "INSERT INTO labels VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                label.id,
                label.labeller,
                label.labelled_at,
                label.labelled_at[:10],
                json.dumps(label.labels, ensure_ascii=False),
                label.note,
                label.model_version,
                json.dumps(guess) if guess else None,
            ),
        )
        out.labels += cur.rowcount
        done = db.execute(
            "UPDATE queue SET status='done', decided_by=?, decided_at=?, action='label', "
            "labels=?, claimed_by=NULL, claimed_until=NULL WHERE id=? AND status='waiting'",
            (label.labeller, now, json.dumps(label.labels), label.id),
        )
        if done.rowcount:
            out.removed.append({"id": label.id, "by": label.labeller, "action": "label"})

    def prune(self, keep: int) -> None:
        """Keep the newest ``keep`` classified and alert records (the queue is never pruned)."""
        with self._tx() as db:
            self._prune(db, keep)

    def _prune(self, db: sqlite3.Connection, keep: int) -> None:
        for kind in ("classified", "alert"):
            row = db.execute(
                "SELECT seen_at FROM records WHERE kind=? ORDER BY seen_at DESC LIMIT 1 OFFSET ?",
                (kind, keep),
            ).fetchone()
            if row is not None:
                db.execute("DELETE FROM records WHERE kind=? AND seen_at<=?", (kind, row[0]))

    # -- reading -------------------------------------------------------------------------
    def waiting(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM queue WHERE status='waiting'").fetchone()[0]

    def queue_page(
        self, order: str = "oldest", offset: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Waiting stories in ``order`` (``oldest`` or ``least`` confident), with live claims."""
        by = "seq" if order == "oldest" else "min_score, seq"
        rows = self.db.execute(
            f"SELECT seq, summary, claimed_by, claimed_until FROM queue "
            f"WHERE status='waiting' ORDER BY {by} LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [self._item(r) for r in rows]

    def _item(self, row: sqlite3.Row) -> dict[str, Any]:
        item = json.loads(row["summary"])
        item["seq"] = row["seq"]
        live = row["claimed_by"] and (row["claimed_until"] or 0) > self.clock()
        item["claimed_by"] = row["claimed_by"] if live else None
        return item

    def queue_row(self, story_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM queue WHERE id=?", (story_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["record"] = json.loads(row["record"])
        out["labels"] = json.loads(row["labels"]) if row["labels"] else None
        if not (row["claimed_by"] and (row["claimed_until"] or 0) > self.clock()):
            out["claimed_by"] = None
        return out

    def record(self, kind: str, story_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT record FROM records WHERE kind=? AND id=?", (kind, story_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def recent(self, kind: str, limit: int) -> list[dict[str, Any]]:
        """The newest records of a kind, newest first (for the live views after a restart)."""
        rows = self.db.execute(
            "SELECT record FROM records WHERE kind=? ORDER BY seen_at DESC LIMIT ?", (kind, limit)
        )
        return [json.loads(r[0]) for r in rows]

    def labels_for(self, story_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT labeller, labelled_at, labels, note FROM labels WHERE story_id=? "
            "ORDER BY labelled_at",
            (story_id,),
        )
        return [dict(r) | {"labels": json.loads(r["labels"])} for r in rows]

    def model_versions(self) -> list[str]:
        rows = self.db.execute(
            "SELECT key FROM counts WHERE metric='model' AND key!='' "
            "GROUP BY key ORDER BY MAX(day) DESC, key DESC"
        )
        return [r[0] for r in rows]

    def pending_actions(self) -> int:
        return self.db.execute(
            "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')"
        ).fetchone()[0]

    # -- claims --------------------------------------------------------------------------
    def claim(
        self, story_id: str, user: str, seconds: float, force: bool = False
    ) -> tuple[bool, str | None, list[str]]:
        """Claim a waiting story for ``user`` (releasing their other claim).

        Returns (claimed, holder, released ids): when someone else holds a live
        claim and ``force`` is not set, nothing changes and ``holder`` names them.
        """
        now = self.clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT status, claimed_by, claimed_until FROM queue WHERE id=?", (story_id,)
            ).fetchone()
            if row is None or row["status"] != "waiting":
                raise Conflict("this story is no longer waiting for review")
            holder = row["claimed_by"]
            if holder and holder != user and row["claimed_until"] > now and not force:
                return False, holder, []
            released = self._release(db, user, keep=story_id)
            db.execute(
                "UPDATE queue SET claimed_by=?, claimed_until=? WHERE id=?",
                (user, now + seconds, story_id),
            )
        return True, user, released

    def release(self, user: str) -> list[str]:
        with self._tx() as db:
            return self._release(db, user)

    def _release(self, db: sqlite3.Connection, user: str, keep: str | None = None) -> list[str]:
        rows = db.execute(
            "SELECT id FROM queue WHERE claimed_by=? AND id IS NOT ?", (user, keep)
        ).fetchall()
        db.execute(
            "UPDATE queue SET claimed_by=NULL, claimed_until=NULL WHERE claimed_by=? AND id IS NOT ?",
            (user, keep),
        )
        return [r[0] for r in rows]

    # -- decisions and the outbox ----------------------------------------------------------
    def decide(
        self,
        story_id: str,
        user: str,
        action: str,
        labels: dict[str, Any],
        note: str | None,
        payload: bytes,
        undo_s: float,
        force: bool = False,
    ) -> int:
        """Hold the story and queue its label for publishing after the undo window."""
        now = self.clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT status, claimed_by, claimed_until FROM queue WHERE id=?", (story_id,)
            ).fetchone()
            if row is None:
                raise Conflict("this story is not in the review queue")
            if row["status"] != "waiting":
                raise Conflict("this story has already been decided")
            holder = row["claimed_by"]
            if holder and holder != user and row["claimed_until"] > now and not force:
                raise Conflict(f"{holder} is reviewing this story")
            db.execute(
                "UPDATE queue SET status='held', decided_by=?, decided_at=?, action=?, labels=?, "
                "note=?, claimed_by=NULL, claimed_until=NULL WHERE id=?",
                (user, now, action, json.dumps(labels), note, story_id),
            )
            cur = db.execute(
                "INSERT INTO outbox (story_id, user, action, payload, created_at, due_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (story_id, user, action, payload, now, now + undo_s),
            )
            return int(cur.lastrowid or 0)

    def undo(self, user: str, claim_s: float) -> dict[str, Any]:
        """Cancel the user's latest action if its label is still in the undo window."""
        now = self.clock()
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM outbox WHERE user=? AND state!='cancelled' "
                "ORDER BY action_id DESC LIMIT 1",
                (user,),
            ).fetchone()
            if row is None:
                raise Conflict("nothing to undo")
            if row["state"] != "pending":
                raise Conflict("too late to undo: that label has been published")
            db.execute("UPDATE outbox SET state='cancelled' WHERE action_id=?", (row["action_id"],))
            self._release(db, user)
            db.execute(
                "UPDATE queue SET status='waiting', decided_by=NULL, decided_at=NULL, action=NULL, "
                "labels=NULL, note=NULL, claimed_by=?, claimed_until=? WHERE id=?",
                (user, now + claim_s, row["story_id"]),
            )
            item = db.execute(
                "SELECT seq, summary, claimed_by, claimed_until FROM queue WHERE id=?",
                (row["story_id"],),
            ).fetchone()
        return {"id": row["story_id"], "action": row["action"], "item": self._item(item)}

    def take_due(self, limit: int = 100) -> list[sqlite3.Row]:
        """Outbox rows whose undo window has passed, marked as being sent (undo can no longer win)."""
        now = self.clock()
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM outbox WHERE state='pending' AND due_at<=? ORDER BY action_id LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE outbox SET state='sending' WHERE action_id=?",
                [(r["action_id"],) for r in rows],
            )
        return rows

    def sent(self, action_ids: Sequence[int]) -> None:
        now = self.clock()
        with self._tx() as db:
            for action_id in action_ids:
                db.execute(
                    "UPDATE outbox SET state='sent', sent_at=? WHERE action_id=?", (now, action_id)
                )
                db.execute(
                    "UPDATE queue SET status='done' WHERE status='held' AND id="
                    "(SELECT story_id FROM outbox WHERE action_id=?)",
                    (action_id,),
                )

    def retry_later(self, action_ids: Sequence[int], delay: float) -> None:
        now = self.clock()
        with self._tx() as db:
            db.executemany(
                "UPDATE outbox SET state='pending', due_at=? WHERE action_id=?",
                [(now + delay, a) for a in action_ids],
            )

    def last_action(self, user: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT action_id, story_id, action, state, due_at, sent_at FROM outbox "
            "WHERE user=? AND state!='cancelled' ORDER BY action_id DESC LIMIT 1",
            (user,),
        ).fetchone()
        return dict(row) if row else None
