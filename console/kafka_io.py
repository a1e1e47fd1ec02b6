"""The console's two Kafka clients, each a background task (aiokafka).

``Ingestor`` reads review, alerts, classified and labels through the group
``<app_id>-console`` (never the worker's), decodes every message defensively
and stores each batch with its positions in one SQLite transaction; on
assignment it resumes from those positions, so SQLite is the source of truth
and the group commit only serves lag monitoring. ``Publisher`` sends the
outbox's due labels to ``wire.labels`` with ``acks=all``, keyed by story id.
Both retry a lost broker forever with a capped back-off: the web pages keep
working from SQLite meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from wirestream.console.hub import Hub
from wirestream.console.records import parse_record
from wirestream.console.store import Applied, Store
from wirestream.labels import Label, parse_label
from wirestream.settings import Settings
from wirestream.streams.aio import aiokafka_security

log = logging.getLogger("wirestream.console")

MAX_RECORD_BYTES = 1_048_576  # the worker's producer request limit
BATCH = 500
PRUNE_EVERY_S = 60.0


async def _sleep(stopping: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


def group_id(settings: Settings) -> str:
    return f"{settings.app_id}-console"


async def forever(name: str, body: Callable[[], Awaitable[None]], stopping: asyncio.Event) -> None:
    """Run ``body`` until stopping; after a failure, log it and start again (back-off to 30 s)."""
    delay = 1.0
    while not stopping.is_set():
        started = time.monotonic()
        try:
            await body()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if time.monotonic() - started > 60:
                delay = 1.0
            log.warning(
                "%s stopped (%s: %s); starting again in %.0f s",
                name,
                type(exc).__name__,
                exc,
                delay,
            )
            await _sleep(stopping, delay)
            delay = min(delay * 2, 30.0)


class _Resume(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.ingestor.assigned = set()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        consumer = self.ingestor.consumer
        assert consumer is not None
        stored = self.ingestor.store.offsets()
        fresh = []
        for tp in assigned:
            position = stored.get((tp.topic, tp.partition))
            if position is None:
                fresh.append(tp)
            else:
                consumer.seek(tp, position)
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        self.ingestor.assigned = set(assigned)
        total = sum(len(consumer.partitions_for_topic(t) or ()) for t in self.ingestor.kinds)
        if len(assigned) < total:
            log.warning(
                "this console has %d of %d partitions: another console shares the group %s "
                "and each sees part of the queue; run one console per WIRESTREAM_APP_ID",
                len(assigned),
                total,
                group_id(self.ingestor.settings),
            )
        else:
            log.info("console consuming %d partitions", len(assigned))


class Ingestor:
    def __init__(self, settings: Settings, store: Store, hub: Hub) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.kinds = {
            settings.topic_review: "review",
            settings.topic_alerts: "alert",
            settings.topic_classified: "classified",
            settings.topic_labels: "label",
        }
        self.consumer: AIOKafkaConsumer | None = None
        self.assigned: set[TopicPartition] = set()
        self.consumed = 0
        self.skipped = 0
        self.last_batch_at: float | None = None

    def decode(self, topic: str, value: bytes | None) -> tuple[str, Any] | None:
        """One message as (kind, payload), or None for anything unusable (counted, skipped)."""
        kind = self.kinds[topic]
        payload: dict[str, Any] | Label | None
        if kind == "label":
            parsed = parse_label(value)
            payload = parsed if isinstance(parsed, Label) else None
        else:
            payload = parse_record(value, MAX_RECORD_BYTES)
        if payload is None:
            self.skipped += 1
            return None
        return kind, payload

    async def run(self, stopping: asyncio.Event) -> None:
        await forever("console consumer", lambda: self._consume(stopping), stopping)

    async def _consume(self, stopping: asyncio.Event) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            group_id=group_id(s),
            client_id=group_id(s),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(s.broker_session_timeout_s * 1000),
            heartbeat_interval_ms=max(100, int(s.broker_session_timeout_s * 1000 / 3)),
            request_timeout_ms=int(s.broker_request_timeout_s * 1000),
            fetch_max_wait_ms=250,
            max_partition_fetch_bytes=MAX_RECORD_BYTES * 2,
            **aiokafka_security(s),
        )
        self.consumer.subscribe(list(self.kinds), listener=_Resume(self))
        await self.consumer.start()
        pruned_at = time.monotonic()
        try:
            while not stopping.is_set():
                batches = await self.consumer.getmany(timeout_ms=500, max_records=BATCH)
                if batches:
                    self._store(batches)
                    await self._commit(batches)
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    self.store.prune(s.console_story_keep)
                    pruned_at = time.monotonic()
        finally:
            self.assigned = set()
            await self.consumer.stop()

    def _store(self, batches: dict[TopicPartition, list[Any]]) -> None:
        items = []
        offsets = {}
        for tp, messages in batches.items():
            for message in messages:
                item = self.decode(tp.topic, message.value)
                if item is not None:
                    items.append(item)
            offsets[(tp.topic, tp.partition)] = messages[-1].offset + 1
            self.consumed += len(messages)
        applied = self.store.apply(items, offsets)
        self.last_batch_at = time.time()
        self._announce(applied)

    def _announce(self, applied: Applied) -> None:
        if applied.added:
            self.hub.publish("queue", {"type": "added", "items": applied.added})
        for gone in applied.removed:
            self.hub.publish("queue", {"type": "removed"} | gone)
        if applied.added or applied.removed:
            self.hub.publish("queue", {"type": "count", "waiting": self.store.waiting()})
        for record in applied.alerts:
            self.hub.publish("alert", record)
        for record in applied.classified:
            self.hub.publish("feed", record)  # whole: the feed's text search reads the body

    async def _commit(self, batches: dict[TopicPartition, list[Any]]) -> None:
        assert self.consumer is not None
        try:
            await self.consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in batches.items()})
        except Exception as exc:  # only lag monitoring depends on it; SQLite holds the truth
            log.debug("group commit failed (%s); positions are kept in SQLite", exc)


class Publisher:
    """Sends labels whose undo window has passed; a failed send stays in the outbox."""

    def __init__(self, settings: Settings, store: Store, hub: Hub, tick_s: float = 0.25) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.tick_s = tick_s
        self.published = 0
        self.connected = False

    async def run(self, stopping: asyncio.Event) -> None:
        await forever("label publisher", lambda: self._publish(stopping), stopping)

    async def _publish(self, stopping: asyncio.Event) -> None:
        s = self.settings
        producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers,
            client_id=f"{s.app_id}-console-labels",
            acks="all",
            request_timeout_ms=int(s.broker_request_timeout_s * 1000),
            **aiokafka_security(s),
        )
        await producer.start()
        self.connected = True
        try:
            while not stopping.is_set():
                await self._send_due(producer)
                await _sleep(stopping, self.tick_s)
            await self._send_due(producer)  # what fell due while stopping
        finally:
            self.connected = False
            await producer.stop()

    async def _send_due(self, producer: AIOKafkaProducer) -> None:
        rows = self.store.take_due()
        for i, row in enumerate(rows):
            try:
                await producer.send_and_wait(
                    self.settings.topic_labels,
                    key=row["story_id"].encode("utf-8"),
                    value=bytes(row["payload"]),
                )
            except Exception:
                self.store.retry_later([r["action_id"] for r in rows[i:]], 2.0)
                raise
            self.store.sent([row["action_id"]])
            self.published += 1
            self.hub.publish(
                "queue", {"type": "published", "id": row["story_id"], "by": row["user"]}
            )
