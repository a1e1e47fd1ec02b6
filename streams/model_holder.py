"""The model a worker serves, and hot reload: swapped only between batches.

Where the model comes from is a ``ModelSource``: the registry's ``current``
pointer (the default) or a fixed directory (``WIRESTREAM_MODEL_DIR``). A worker
looks again when a promotion is announced on the control topic
(``WIRESTREAM_TOPIC_MODELS``) and every ``WIRESTREAM_MODEL_POLL_S`` in case it
missed one. A changed version is verified and loaded in a thread while the
current model keeps classifying; the agent swaps it in before its next batch,
and swaps it in on the event loop. ``process_batch`` is synchronous and takes
the model once, so a swap can only fall between two batches: each batch is
classified by exactly one version. A model that fails verification is refused,
logged and counted, and the worker keeps the one it has.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from wirestream.models.persistence import LoadedModel, ModelLoadError
from wirestream.models.source import ModelSource
from wirestream.settings import Settings

log = logging.getLogger("wirestream.models")


class ModelHolder:
    def __init__(
        self, loaded: LoadedModel, source: ModelSource, metrics: Any = None, health: Any = None
    ) -> None:
        self.current = loaded
        self.source = source
        self.metrics = metrics
        self.health = health
        self._refused: set[str] = set()
        self._lock = asyncio.Lock()

    def _swap(self, ready: LoadedModel) -> None:
        """Runs on the event loop, never inside a (synchronous) batch."""
        if ready.version == self.current.version:
            return
        previous, self.current = self.current, ready
        log.info("model changed: %s -> %s (from %s)", previous.version, ready.version, ready.path)
        if self.metrics is not None:
            self.metrics.set_model(ready.version, ready.created_at)
            self.metrics.model_reloads.inc()
        if self.health is not None:
            self.health.model_loaded(ready.version)

    async def check(self, why: str) -> None:
        """Look for a changed version; verify and load it off the event loop."""
        async with self._lock:
            try:
                version, _ = self.source.locate()
            except ModelLoadError as exc:
                self._refuse("?", exc)
                return
            if version == self.current.version or version in self._refused:
                return
            log.info("model %s is now current (%s); verifying it", version, why)
            try:
                loaded = await asyncio.to_thread(self.source.load)
            except ModelLoadError as exc:
                self._refuse(version, exc)
                return
            self._swap(loaded)

    def _refuse(self, version: str, exc: ModelLoadError) -> None:
        self._refused.add(version)
        if self.metrics is not None:
            self.metrics.model_load_failures.labels(reason=exc.reason).inc()
        log.error(
            "model %s refused (%s): %s; still serving %s",
            version,
            exc.reason,
            exc,
            self.current.version,
        )

    def forget_refusals(self) -> None:
        """A new announcement deserves a new look, even at a version refused before."""
        self._refused.clear()

    def attach(self, app: Any, settings: Settings) -> None:
        """Background tasks on the worker's loop: the control-topic listener and the poll."""

        @app.task
        async def poll_models() -> None:
            if settings.model_poll_s <= 0:
                return
            while not app.should_stop:
                await asyncio.sleep(settings.model_poll_s)
                await self.check("poll")

        @app.task
        async def listen_for_promotions() -> None:
            await _listen(app, settings, self)


async def _listen(app: Any, settings: Settings, holder: ModelHolder) -> None:
    """Every worker reads the whole control topic (no consumer group): announcements are triggers."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from wirestream.streams.aio import aiokafka_security

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.app_id}-models",
        enable_auto_commit=False,
        fetch_max_wait_ms=max(settings.fetch_max_wait_ms, 100),
        **aiokafka_security(settings),
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(settings.topic_models) or {0}
        tps = [TopicPartition(settings.topic_models, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        while not app.should_stop:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        event = json.loads(record.value or b"{}")
                    except ValueError:
                        continue
                    log.info("control topic: %s", str(event)[:200])
                    holder.forget_refusals()
                    await holder.check("announced on " + settings.topic_models)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("control-topic listener stopped; the poll still notices promotions")
    finally:
        await consumer.stop()
