"""Topic creation: every topic with the configured partition count, idempotently."""

from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from wirestream.settings import Settings

log = logging.getLogger(__name__)


def admin_client(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.app_id}-admin",
        request_timeout_ms=15000,
        **settings.kafka_python_security(),
    )


def metadata_client(settings: Settings) -> KafkaConsumer:
    """Topic metadata through a consumer: kafka-python's admin client cannot parse
    the authorized-operations bits some brokers (Tansu among them) return."""
    return KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.app_id}-metadata",
        **settings.kafka_python_security(),
    )


def partition_counts(settings: Settings, topics: tuple[str, ...]) -> dict[str, int]:
    meta = metadata_client(settings)
    try:
        return {t: len(meta.partitions_for_topic(t) or ()) for t in topics}
    finally:
        meta.close()


def ensure_topics(settings: Settings, timeout: float = 30.0) -> dict[str, str]:
    """Create missing topics; return ``{topic: "created" | "exists"}``.

    An existing topic with a different partition count is reported, not
    altered: shrinking is impossible and growing reshuffles keys.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = admin_client(settings)
            break
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("broker not reachable yet (%s); retrying", exc)
            time.sleep(0.5)
    try:
        existing = partition_counts(settings, settings.all_topics)
        status: dict[str, str] = {}
        for name in settings.all_topics:
            if existing[name]:
                status[name] = "exists"
                continue
            try:
                admin.create_topics(
                    [NewTopic(name, settings.partitions, settings.replication_factor)],
                    timeout_ms=15000,
                )
                status[name] = "created"
            except TopicAlreadyExistsError:
                status[name] = "exists"
        for name, count in existing.items():
            if count and count != settings.partitions:
                status[name] = f"exists with {count} partitions (configured {settings.partitions})"
        return status
    finally:
        admin.close()
