"""``wirestream labeller``: editors' labels from ``wire.labels`` into the durable label store.

Its own process, not an agent in the worker: the store is one SQLite file with
one writer, while workers scale out to one per partition; and label intake must
not compete with classification for the worker's CPU. It reads ``wire.labels``
and ``wire.classified`` in its own consumer group, validates each label against
the label contract (invalid ones go to the dead-letter topic with the reason
and original bytes), completes labels with the story text from the message or
from the recently classified stories, and writes each polled batch in one
transaction; offsets are committed only after that transaction (at-least-once,
and a redelivered label is recognised by its topic offset).
"""

from __future__ import annotations

import json
import logging
import signal
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from wirestream.deadletter import Source, deadletter_record
from wirestream.label_store import LabelStore
from wirestream.labels import HEADS, parse_label
from wirestream.settings import Settings
from wirestream.story import REASONS, Invalid, decode_json_object
from wirestream.streams.admin import check_topics, group_consumer
from wirestream.streams.health import Health, serve
from wirestream.streams.logs import configure_logging
from wirestream.streams.publish import producer as publish_producer

log = logging.getLogger("wirestream.labeller")

LABEL_REASONS = ("invalid_label", *REASONS[:7])


class LabellerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.registry = registry
        self.received = Counter(
            "wirestream_labels_received", "Label messages read from the labels topic", registry=r
        )
        self.stored = Counter(
            "wirestream_labels_stored",
            "Label heads newly recorded in the store",
            ["head"],
            registry=r,
        )
        self.duplicates = Counter(
            "wirestream_labels_duplicate",
            "Label heads redelivered and already recorded",
            registry=r,
        )
        self.invalid = Counter(
            "wirestream_labels_invalid",
            "Label messages dead-lettered, by reason",
            ["reason"],
            registry=r,
        )
        self.pending = Gauge(
            "wirestream_labels_pending", "Labelled stories whose text is not known yet", registry=r
        )
        self.agreement = Counter(
            "wirestream_label_agreement",
            "Editors' labels compared with the model's prediction, per head",
            ["head", "agree"],
            registry=r,
        )
        self.stories = Counter(
            "wirestream_labeller_stories_seen",
            "Classified records read to complete labels",
            registry=r,
        )
        for head in HEADS:
            self.stored.labels(head=head)
            for agree in ("true", "false"):
                self.agreement.labels(head=head, agree=agree)
        for reason in LABEL_REASONS:
            self.invalid.labels(reason=reason)


class Labeller:
    def __init__(
        self, settings: Settings, store: LabelStore, producer: Any, metrics: LabellerMetrics
    ) -> None:
        self.settings = settings
        self.store = store
        self.producer = producer
        self.metrics = metrics
        self.last_prune = 0.0

    def handle(self, records: list[Any]) -> None:
        """One polled batch in one transaction; dead letters are sent (and acknowledged) first."""
        now = time.time()
        dead: list[dict[str, Any]] = []
        with self.store.transaction():
            for record in records:
                if record.topic == self.settings.topic_labels:
                    self._label(record, now, dead)
                else:
                    self._story(record, now)
            if now - self.last_prune > 60:
                self.store.prune(self.settings.story_retention_h * 3600, now)
                self.last_prune = now
            for d in dead:  # inside the transaction: if the dead letter fails, nothing is stored
                self.producer.send(
                    self.settings.topic_deadletter, json.dumps(d, ensure_ascii=False).encode()
                ).get(timeout=30)
        self.metrics.pending.set(self.store.pending())

    def _label(self, record: Any, now: float, dead: list[dict[str, Any]]) -> None:
        self.metrics.received.inc()
        parsed = parse_label(record.value)
        if isinstance(parsed, Invalid):
            self.metrics.invalid.labels(reason=parsed.reason).inc()
            log.warning(
                "label at %s[%d]@%d refused: %s: %s",
                record.topic,
                record.partition,
                record.offset,
                parsed.reason,
                parsed.detail,
            )
            dead.append(
                deadletter_record(
                    reason=parsed.reason,
                    detail=parsed.detail,
                    source=Source(
                        record.topic,
                        record.partition,
                        record.offset,
                        record.timestamp / 1000 if record.timestamp else None,
                    ),
                    payload=record.value,
                    key=record.key,
                    stage="labeller",
                    now=now,
                    max_payload_bytes=self.settings.deadletter_max_payload_bytes,
                )
            )
            return
        stored = self.store.add_label(
            parsed, f"{record.topic}/{record.partition}/{record.offset}", now
        )
        if stored.labels:
            for head in parsed.labels:
                self.metrics.stored.labels(head=head).inc()
        if stored.duplicates:
            self.metrics.duplicates.inc(stored.duplicates)
        self._agreements(stored.agreements)

    def _story(self, record: Any, now: float) -> None:
        obj = decode_json_object(
            record.value, self.settings.max_message_bytes * 2, self.settings.max_json_depth
        )
        if isinstance(obj, Invalid) or not all(
            isinstance(obj.get(k), str) for k in ("id", "headline", "body")
        ):
            return  # not ours to judge: the worker wrote it
        self.metrics.stories.inc()
        stored = self.store.add_story(obj, now)
        if stored.completed:
            log.info("story %s arrived: its pending labels are complete", obj["id"][:80])
        self._agreements(stored.agreements)

    def _agreements(self, pairs: tuple[tuple[str, bool], ...]) -> None:
        for head, agree in pairs:
            self.metrics.agreement.labels(head=head, agree=str(agree).lower()).inc()


def run_labeller(settings: Settings, idle_timeout: float | None = None) -> int:
    configure_logging(settings)
    check_topics(
        settings, (settings.topic_labels, settings.topic_classified, settings.topic_deadletter)
    )
    metrics = LabellerMetrics(CollectorRegistry())
    health = Health()
    serve(metrics.registry, settings.metrics_host, settings.labeller_metrics_port, health)
    store = LabelStore(settings.label_store_path)
    health.model_loaded("n/a")
    consumer = group_consumer(settings, "labeller", max_poll_records=500)
    producer = publish_producer(settings, client_id=f"{settings.app_id}-labeller")
    labeller = Labeller(settings, store, producer, metrics)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer.subscribe([settings.topic_labels, settings.topic_classified])
    metrics.pending.set(store.pending())
    log.info(
        "wirestream labeller started: %s + %s -> %s",
        settings.topic_labels,
        settings.topic_classified,
        settings.label_store_path,
    )
    last = time.monotonic()
    try:
        while not stopping:
            batch = consumer.poll(timeout_ms=500)
            if consumer.assignment() and not health.assigned:
                health.partitions_assigned(len(consumer.assignment()))
                log.info(
                    "wirestream labeller ready: partitions assigned (%d)",
                    len(consumer.assignment()),
                )
            if not batch:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    break
                continue
            last = time.monotonic()
            records = [r for part in batch.values() for r in part]
            labeller.handle(records)
            consumer.commit()  # only after the store's transaction committed
            health.batch_done(len(records))
    finally:
        producer.close()
        consumer.close(autocommit=False)
        store.close()
    return 0
