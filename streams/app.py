"""The Faust application: input topic -> batch -> pipeline -> output topics.

The agent moves bytes only; what happens to a story is decided by
``wirestream.pipeline.process_batch``. Outputs are awaited until the broker
has them before the batch is acknowledged, so a crash re-delivers rather than
loses (at-least-once; consumers de-duplicate on the story id key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

from wirestream.alerts import AlertRule
from wirestream.models.persistence import LoadedModel
from wirestream.pipeline import PipelineConfig, RawMessage, process_batch
from wirestream.routing import RoutingConfig
from wirestream.settings import Settings
from wirestream.streams.metrics import WorkerMetrics

log = logging.getLogger("wirestream.worker")


@dataclass
class ModelHolder:
    """Indirection so a running worker can swap models without restarting."""

    current: LoadedModel


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
        max_body_bytes=settings.max_body_bytes,
    )


def faust_credentials(settings: Settings) -> Any:
    protocol = settings.broker_security_protocol.upper()
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


def create_app(
    settings: Settings, model: ModelHolder, rules: list[AlertRule], metrics: WorkerMetrics
) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=settings.faust_broker,
        broker_credentials=faust_credentials(settings),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.broker_session_timeout_s,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        processing_guarantee="at_least_once",
        web_enabled=False,
        datadir=str(settings.data_dir / settings.app_id),
    )
    app.monitor = PrometheusMonitor(
        metrics=FaustMetrics.create(metrics.registry, "wirestream_faust")
    )
    cfg = pipeline_config(settings, rules)
    source = app.topic(
        settings.topic_input, key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    outputs = {
        name: app.topic(name, key_type=bytes, value_type=bytes, partitions=settings.partitions)
        for name in settings.output_topics
    }

    @app.agent(source, concurrency=1)  # >1 can commit past unfinished events (faust #606)
    async def classify_stories(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
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
            result = process_batch(messages, model.current, cfg)
            pending = [
                await outputs[out.topic].send(key=out.key, value=out.value, force=True)
                for out in result.outgoing
            ]
            await asyncio.gather(*pending)  # delivered before take_events acks the batch
            metrics.observe_batch(len(events), result)
            _record_lag(app, metrics, messages)

    @app.on_partitions_revoked.connect
    async def forget_lag(app: faust.App, revoked: set[Any], **_: Any) -> None:
        """A partition another worker now owns must not keep reporting our stale lag."""
        for tp in revoked:
            with contextlib.suppress(KeyError):
                metrics.lag.remove(tp.topic, str(tp.partition))

    @app.task
    async def announce() -> None:
        log.info(
            "wirestream worker ready: %s -> %s (model %s, %d alert rules)",
            settings.topic_input,
            ", ".join(settings.output_topics),
            model.current.version,
            len(rules),
        )

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
