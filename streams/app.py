"""The Faust application: input topic -> batch -> pipeline -> output topics.

The agent moves bytes only; what happens to a story is decided by
``wirestream.pipeline.process_batch``. The story's path, in order:

1. events are taken as they come: a batch is whatever is already waiting when
   the previous batch is done, up to ``WIRESTREAM_BATCH_SIZE`` (adaptive
   batching: one story at low load, full batches under a backlog, no timer);
2. ``process_batch`` validates, classifies and routes, dead-lettering any
   message that fails at any step;
3. every output is sent and awaited until the broker has it, retrying with
   backoff (``streams/delivery.py``);
4. only then are the events acknowledged, so Faust may commit past them.

Step 2 runs in a thread, so while batch N+1 is classified the event loop keeps
delivering batch N (one delivery in flight at most, started in batch order, so
outputs and acknowledgements keep their order). A worker waiting for the
broker's acknowledgements is otherwise a worker not classifying.

If step 3 cannot finish, the worker exits with code 3 without acknowledging:
a restart re-reads the batch (at-least-once; consumers de-duplicate on the
story id key). Nothing is skipped, and an exception never lets Faust restart
the agent and move on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import sys
import time
from typing import Any, NoReturn

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

from wirestream.alerts import AlertRule
from wirestream.pipeline import (
    MAX_REQUEST_BYTES,
    Outgoing,
    PipelineConfig,
    RawMessage,
    process_batch,
)
from wirestream.routing import RoutingConfig
from wirestream.settings import Settings
from wirestream.story import InputLimits
from wirestream.streams.delivery import DeliveryFailed, deliver
from wirestream.streams.faust_transport import wire_app_class
from wirestream.streams.health import Health
from wirestream.streams.metrics import WorkerMetrics
from wirestream.streams.model_holder import ModelHolder

log = logging.getLogger("wirestream.worker")

EXIT_UNDELIVERED = 3


def pipeline_config(settings: Settings, rules: list[AlertRule]) -> PipelineConfig:
    return PipelineConfig(
        routing=RoutingConfig(
            classified=settings.topic_classified,
            humanitarian=settings.topic_humanitarian,
            military=settings.topic_military,
            alerts=settings.topic_alerts,
            review=settings.topic_review,
            review_threshold=settings.review_threshold,
            rules=rules,
        ),
        deadletter=settings.topic_deadletter,
        limits=InputLimits.from_settings(settings),
        deadletter_max_payload_bytes=settings.deadletter_max_payload_bytes,
    )


def faust_credentials(settings: Settings) -> Any:
    protocol = settings.broker_security_protocol
    context = None
    if "SSL" in protocol:
        context = ssl.create_default_context(cafile=settings.broker_ssl_cafile or None)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.broker_sasl_username,
            password=settings.broker_sasl_password,
            mechanism=settings.broker_sasl_mechanism,
            ssl_context=context,
        )
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return None


def faust_app(settings: Settings, metrics: WorkerMetrics | None = None) -> faust.App:
    """A Faust app with the project's transport settings; topics are never declared by Faust."""
    app_class = wire_app_class(settings.fetch_max_wait_ms)
    app = app_class(
        settings.app_id,
        broker=settings.faust_broker,
        broker_credentials=faust_credentials(settings),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=False,  # `wirestream topics create` is the deliberate step
        topic_disable_leader=True,
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_request_timeout=max(
            settings.broker_request_timeout_s, settings.broker_session_timeout_s
        ),
        broker_heartbeat_interval=min(3.0, settings.broker_session_timeout_s / 3),
        broker_commit_interval=settings.commit_interval_s,
        consumer_auto_offset_reset="earliest",
        consumer_max_fetch_size=max(1_048_576, 2 * settings.max_message_bytes),
        producer_acks=-1,
        producer_max_request_size=MAX_REQUEST_BYTES,
        producer_request_timeout=settings.broker_request_timeout_s,
        processing_guarantee="at_least_once",
        web_enabled=False,
        datadir=str(settings.data_dir / "faust" / settings.app_id),
    )
    if metrics is not None:
        app.monitor = PrometheusMonitor(
            metrics=FaustMetrics.create(metrics.registry, "wirestream_faust")
        )
    return app


def fatal(message: str, code: int) -> NoReturn:
    """Stop the process now, acknowledging nothing more: a restart re-reads what was pending."""
    log.critical("%s; exiting with code %d without acknowledging the batch", message, code)
    print(f"wirestream worker: {message}", file=sys.stderr, flush=True)
    logging.shutdown()
    os._exit(code)


def create_app(
    settings: Settings,
    model: ModelHolder,
    rules: list[AlertRule],
    metrics: WorkerMetrics,
    health: Health,
) -> faust.App:
    app = faust_app(settings, metrics)
    cfg = pipeline_config(settings, rules)
    source = app.topic(settings.topic_input, key_type=bytes, value_type=bytes)

    async def send(out: Outgoing) -> Any:
        return await app.producer.send(out.topic, out.key, out.value, None, None, None)

    def on_retry(failed: int, exc: BaseException) -> None:
        metrics.send_retries.inc(failed)

    async def classify(events: list[Any]) -> tuple[list[RawMessage], Any]:
        """Step 2, off the event loop; the model is taken once, so one version per batch."""
        messages = [
            RawMessage(
                value=e.message.value,
                key=e.message.key,
                topic=e.message.topic,
                partition=e.message.partition,
                offset=e.message.offset,
                timestamp=e.message.timestamp,
            )
            for e in events
        ]
        current = model.current
        try:
            result = await asyncio.to_thread(process_batch, messages, current, cfg)
        except Exception as exc:  # process_batch isolates per message; this is a bug
            log.exception("a batch of %d raised in process_batch", len(messages))
            fatal(f"processing a batch failed: {type(exc).__name__}: {exc}", EXIT_UNDELIVERED)
        return messages, result

    async def deliver_and_ack(
        manual: Any, events: list[Any], messages: list[RawMessage], result: Any
    ) -> None:
        """Steps 3 and 4: delivered, then acknowledged; or the process stops."""
        try:
            await deliver(
                result.outgoing,
                send,
                max_attempts=settings.send_max_attempts,
                backoff_s=settings.send_backoff_s,
                on_retry=on_retry,
            )
        except DeliveryFailed as exc:
            metrics.send_failures.inc()
            fatal(str(exc), EXIT_UNDELIVERED)
        except Exception as exc:  # never move on past an undelivered batch
            log.exception("delivering a batch of %d raised", len(events))
            fatal(f"delivering a batch failed: {type(exc).__name__}: {exc}", EXIT_UNDELIVERED)
        for e in events:
            await manual.ack(e)
        metrics.observe_batch(len(events), result)
        health.batch_done(len(result.classified))
        _record_lag(app, metrics, messages)

    @app.agent(source, concurrency=1)  # >1 can commit past unfinished events (faust #606)
    async def classify_stories(stream: faust.StreamT) -> None:
        manual = stream.noack()
        waiting = manual.channel.queue  # events already fetched and not yet taken
        batch: list[Any] = []
        in_flight: asyncio.Task[None] | None = None
        try:
            async for event in manual.events():
                batch.append(event)
                if len(batch) < settings.batch_size and not waiting.empty():
                    continue
                messages, result = await classify(batch)
                if in_flight is not None:
                    await in_flight  # batch N is delivered and acknowledged before N+1 starts
                in_flight = asyncio.create_task(deliver_and_ack(manual, batch, messages, result))
                batch = []
        finally:
            if in_flight is not None and not in_flight.done():
                await asyncio.shield(in_flight)

    @app.on_partitions_assigned.connect
    async def on_assigned(app: faust.App, assigned: set[Any], **_: Any) -> None:
        mine = sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)
        first = not health.assigned
        health.partitions_assigned(len(assigned))
        if first:
            log.info(
                "wirestream worker ready: partitions assigned [%s]; %s -> %s (model %s, %d alert rules)",
                ", ".join(mine) or "none: more workers than partitions",
                settings.topic_input,
                ", ".join(settings.output_topics),
                model.current.version,
                len(rules),
            )
        else:
            log.info("partitions reassigned: [%s]", ", ".join(mine) or "none")

    @app.on_partitions_revoked.connect
    async def forget_lag(app: faust.App, revoked: set[Any], **_: Any) -> None:
        """A partition another worker now owns must not keep reporting our stale lag."""
        for tp in revoked:
            with contextlib.suppress(KeyError):
                metrics.lag.remove(tp.topic, str(tp.partition))

    app.wirestream_started = time.monotonic()  # type: ignore[attr-defined]
    return app


def _record_lag(app: faust.App, metrics: WorkerMetrics, messages: list[RawMessage]) -> None:
    """High watermark from fetch responses minus the next offset we will read."""
    last: dict[tuple[str, int], int] = {}
    for m in messages:
        last[(m.topic, m.partition)] = max(m.offset, last.get((m.topic, m.partition), -1))
    for (topic, partition), offset in last.items():
        try:
            highwater = app.consumer.highwater(faust.types.TP(topic, partition))
        except Exception:  # not every driver/broker exposes it
            continue
        if highwater is not None:
            metrics.lag.labels(topic=topic, partition=str(partition)).set(
                max(0, highwater - offset - 1)
            )
