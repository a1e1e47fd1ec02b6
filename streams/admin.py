"""Topics: created deliberately by ``wirestream topics create``, checked by every process.

On a real cluster topics are an operator's decision (partitions, replication,
retention), so processes only check that theirs exist and say how to create
them. ``WIRESTREAM_CREATE_TOPICS=true`` lets a process create what is missing
itself: the embedded broker, the demo and the tests use it for zero set-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, NoBrokersAvailable, TopicAlreadyExistsError

from wirestream.errors import UserError
from wirestream.settings import Settings

log = logging.getLogger(__name__)


def broker_unreachable(settings: Settings, exc: BaseException | None = None) -> UserError:
    why = f" ({type(exc).__name__})" if exc else ""
    return UserError(
        f"no Kafka broker answers at {', '.join(settings.bootstrap_servers)}{why}; "
        "check WIRESTREAM_BROKER and that the broker is running"
    )


def admin_client(settings: Settings) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.app_id}-admin",
            request_timeout_ms=15000,
            **settings.kafka_python_security(),
        )
    except NoBrokersAvailable as exc:
        raise broker_unreachable(settings, exc) from None


def metadata_client(settings: Settings) -> KafkaConsumer:
    """Topic metadata through a consumer: kafka-python's admin client cannot parse
    the authorized-operations bits some brokers (Tansu among them) return."""
    try:
        return KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.app_id}-metadata",
            enable_auto_commit=False,
            **settings.kafka_python_security(),
        )
    except NoBrokersAvailable as exc:
        raise broker_unreachable(settings, exc) from None


def group_consumer(settings: Settings, role: str, max_poll_records: int) -> KafkaConsumer:
    """A consumer in the group ``<app id>-<role>`` that commits only by hand (the
    labeller and the notifier commit after their work is done)."""
    try:
        return KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=f"{settings.app_id}-{role}",
            client_id=f"{settings.app_id}-{role}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(settings.broker_session_timeout_s * 1000),
            max_poll_records=max_poll_records,
            fetch_max_wait_ms=max(settings.fetch_max_wait_ms, 100),
            **settings.kafka_python_security(),
        )
    except NoBrokersAvailable as exc:
        raise broker_unreachable(settings, exc) from None


def partition_counts(settings: Settings, topics: Iterable[str]) -> dict[str, int]:
    meta = metadata_client(settings)
    try:
        return {t: len(meta.partitions_for_topic(t) or ()) for t in topics}
    finally:
        meta.close()


def wanted_partitions(settings: Settings, topic: str) -> int:
    """The control topic has one partition (every worker reads all of it); the rest are configured."""
    return 1 if topic == settings.topic_models else settings.partitions


def ensure_topics(settings: Settings, timeout: float = 30.0) -> dict[str, str]:
    """Create missing topics; return ``{topic: "created" | "exists" | problem}``.

    An existing topic with a different partition count is reported, not
    altered: shrinking is impossible and growing reshuffles keys.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = admin_client(settings)
            break
        except (KafkaError, OSError, UserError) as exc:
            if time.monotonic() > deadline:
                raise broker_unreachable(settings) from exc
            log.debug("broker not reachable yet (%s); retrying", exc)
            time.sleep(0.5)
    try:
        existing = partition_counts(settings, settings.all_topics)
        status: dict[str, str] = {}
        for name in settings.all_topics:
            want = wanted_partitions(settings, name)
            if existing[name]:
                status[name] = "exists"
                if existing[name] != want:
                    status[name] = f"exists with {existing[name]} partitions (configured {want})"
                continue
            try:
                admin.create_topics(
                    [NewTopic(name, want, settings.replication_factor)], timeout_ms=15000
                )
                status[name] = "created"
            except TopicAlreadyExistsError:
                status[name] = "exists"
        return status
    finally:
        admin.close()


def check_topics(settings: Settings, topics: Iterable[str]) -> None:
    """Make sure ``topics`` exist (creating them if WIRESTREAM_CREATE_TOPICS=true), or explain."""
    topics = tuple(topics)
    if settings.create_topics:
        status = ensure_topics(settings)
        created = [t for t in topics if status.get(t) == "created"]
        if created:
            log.info("created topics: %s", ", ".join(created))
        problems = {
            t: s for t, s in status.items() if t in topics and s not in ("created", "exists")
        }
        if problems:
            raise UserError("; ".join(f"topic {t} {s}" for t, s in problems.items()))
        return
    counts = partition_counts(settings, topics)
    missing = [t for t, n in counts.items() if n == 0]
    if missing:
        raise UserError(
            f"topics missing on {', '.join(settings.bootstrap_servers)}: {', '.join(missing)}; "
            "create them with `wirestream topics create` (or set WIRESTREAM_CREATE_TOPICS=true)"
        )
