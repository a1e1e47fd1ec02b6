"""``wirestream notify``: post each alert to a Slack-compatible webhook, once, never dropping one.

The loop that polls Kafka never waits for the webhook: delivery runs in a
worker thread while the polling thread keeps the group membership alive
(partitions paused meanwhile), so retries can never outlast
``max_poll_interval`` and trigger a rebalance behind our back. An alert's
offset is committed only after the webhook accepted it (or it was
dead-lettered). When partitions are revoked, the alert in flight is finished
and committed *before* they are given up, so the next owner starts after it:
one post per alert across rebalances and restarts. When the retry budget runs
out the notifier exits with code 3 without committing, and a restart delivers
the alert. Input that is not an alert (a tombstone, bytes that are not JSON)
and alerts the webhook rejects outright (4xx) go to the dead-letter topic in
the worker's record format.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from wirestream.deadletter import Source, deadletter_record
from wirestream.errors import UserError
from wirestream.settings import Settings
from wirestream.story import Invalid, decode_json_object
from wirestream.streams.admin import check_topics, group_consumer
from wirestream.streams.logs import configure_logging
from wirestream.streams.publish import producer as publish_producer

log = logging.getLogger("wirestream.notify")

EXIT_UNDELIVERED = 3
STANCE_EMOJI = {
    "confrontational": ":red_circle:",
    "conciliatory": ":large_green_circle:",
    "neutral": ":white_circle:",
}


class DeliveryFailed(RuntimeError):
    """Transient failures outlasted the retry budget; nothing was committed."""


class Transient(RuntimeError):
    """A failure worth retrying: network, timeout, 5xx, 408, 429."""


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    permanent_error: str | None = None


def mrkdwn(text: Any) -> str:
    """Escape Slack's control characters: wire copy must not ping a channel or forge a link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(alert: dict[str, Any], console_url: str = "") -> dict[str, Any]:
    """Slack incoming-webhook body: ``text`` for any client, ``blocks`` for Slack; all escaped."""
    rules = ", ".join(mrkdwn(r) for r in alert.get("alert_rules", []) if isinstance(r, str))
    headline = mrkdwn(alert.get("headline", "(no headline)"))
    summary = (
        f"{STANCE_EMOJI.get(str(alert.get('stance', '')), '')} *{headline}*\n"
        f"{mrkdwn(alert.get('topic', '?'))} · {mrkdwn(alert.get('stance', '?'))} · "
        f"focus {mrkdwn(alert.get('focus', '?'))} · {mrkdwn(alert.get('language', '?'))} · rules: {rules}"
    )
    context = f"story {mrkdwn(alert.get('id'))} · model {mrkdwn(alert.get('model_version', '?'))}"
    if alert.get("url"):
        context += f" · {mrkdwn(alert['url'])}"
    if console_url and alert.get("id"):
        link = f"{console_url.rstrip('/')}/stories/{quote(str(alert['id']), safe='')}"
        context += f" · <{link}|open in the review console>"
    return {
        "text": f"wirestream alert [{rules}]: {headline}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def post_with_retries(
    client: httpx.Client,
    url: str,
    body: dict[str, Any],
    *,
    max_attempts: int,
    backoff_s: float,
    budget_s: float,
    sleep: Any = time.sleep,
) -> Outcome:
    """POST until accepted; 4xx other than 408/429 is a permanent rejection."""
    attempts = 0

    def attempt() -> Outcome:
        nonlocal attempts
        attempts += 1
        try:
            response = client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise Transient(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code < 300:
            return Outcome(True, attempts)
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            return Outcome(
                False, attempts, f"webhook rejected the alert: HTTP {response.status_code}"
            )
        raise Transient(f"HTTP {response.status_code}")

    retrying = Retrying(
        stop=stop_after_attempt(max_attempts) | stop_after_delay(budget_s),
        wait=wait_exponential(multiplier=backoff_s, exp_base=2, max=60),
        retry=retry_if_exception_type(Transient),
        sleep=sleep,
        before_sleep=lambda state: log.warning(
            "webhook attempt %d failed (%s); retrying",
            state.attempt_number,
            state.outcome.exception(),
        ),
    )
    try:
        return retrying(attempt)
    except RetryError as exc:
        raise DeliveryFailed(
            f"webhook still failing after {attempts} attempts: {exc.last_attempt.exception()}"
        ) from None


class Notifier:
    """Poll, deliver in a thread, commit after delivery; see the module docstring."""

    def __init__(
        self, settings: Settings, consumer: KafkaConsumer, producer: KafkaProducer
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.producer = producer
        self.client = httpx.Client(timeout=settings.notify_timeout_s)
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="deliver")
        self.queue: deque[Any] = deque()
        self.inflight: tuple[Any, Future[str]] | None = None
        self.joined = threading.Event()
        self.stopping = False
        self.delivered = 0
        self.failed: DeliveryFailed | None = None

    # -- one alert, in the delivery thread -----------------------------------------------
    def deliver(self, record: Any) -> str:
        alert = decode_json_object(
            record.value, self.settings.max_message_bytes, self.settings.max_json_depth
        )
        if isinstance(alert, Invalid):
            self.dead_letter(record, alert.reason, alert.detail)
            return "dead-lettered"
        if not isinstance(alert.get("id"), str) or not isinstance(alert.get("headline"), str):
            self.dead_letter(
                record, "invalid_alert", "an alert needs string 'id' and 'headline' fields"
            )
            return "dead-lettered"
        body = slack_message(alert, self.settings.console_url)
        outcome = post_with_retries(
            self.client,
            self.settings.webhook_url,
            body,
            max_attempts=self.settings.notify_max_attempts,
            backoff_s=self.settings.notify_backoff_s,
            budget_s=self.settings.notify_budget_s,
        )
        if not outcome.delivered:
            self.dead_letter(record, "webhook_rejected", outcome.permanent_error or "")
            return "dead-lettered"
        log.info("alert %s delivered (attempt %d)", alert["id"][:80], outcome.attempts)
        return "delivered"

    def dead_letter(self, record: Any, reason: str, detail: str) -> None:
        log.error(
            "alert at %s[%d]@%d dead-lettered: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
            detail,
        )
        dead = deadletter_record(
            reason=reason,
            detail=detail,
            source=Source(
                record.topic,
                record.partition,
                record.offset,
                record.timestamp / 1000 if record.timestamp else None,
            ),
            payload=record.value,
            key=record.key,
            stage="notifier",
            now=time.time(),
            max_payload_bytes=self.settings.deadletter_max_payload_bytes,
        )
        self.producer.send(
            self.settings.topic_deadletter, json.dumps(dead, ensure_ascii=False).encode()
        ).get(timeout=30)

    # -- the polling thread ---------------------------------------------------------------
    def commit(self, record: Any) -> None:
        tp = TopicPartition(record.topic, record.partition)
        try:
            self.consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "", -1)})
        except CommitFailedError as exc:
            log.warning(
                "commit of %s[%d]@%d failed after a rebalance (%s); its new owner may post it again",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )

    def finish_inflight(self, wait: bool) -> bool:
        """Commit the alert in flight once it is done; True when nothing is in flight any more."""
        if self.inflight is None:
            return True
        record, future = self.inflight
        if not wait and not future.done():
            return False
        try:
            future.result()
        except Exception as exc:  # DeliveryFailed, or the dead-letter topic refusing a record
            self.failed = (
                exc
                if isinstance(exc, DeliveryFailed)
                else DeliveryFailed(f"{type(exc).__name__}: {exc}")
            )
            self.inflight = None
            return True
        self.commit(record)
        self.delivered += 1
        self.inflight = None
        return True

    def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before giving partitions up: finish and commit the alert in flight, drop the queued."""
        if self.inflight is not None:
            record, _ = self.inflight
            if TopicPartition(record.topic, record.partition) in revoked:
                log.info(
                    "partitions revoked: finishing alert %s[%d]@%d first",
                    record.topic,
                    record.partition,
                    record.offset,
                )
                self.finish_inflight(wait=True)
        self.queue = deque(
            r for r in self.queue if TopicPartition(r.topic, r.partition) not in revoked
        )

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self.joined.set()
        log.info(
            "partitions assigned: %s",
            ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(assigned)) or "none",
        )

    def run(self, max_alerts: int | None, idle_timeout: float | None) -> int:
        started = last_activity = time.monotonic()
        join_grace = 3 * self.settings.broker_session_timeout_s
        while True:
            done = self.finish_inflight(wait=False)
            if self.failed is not None:
                log.error(
                    "%s; exiting without committing so the alert is retried on restart", self.failed
                )
                return EXIT_UNDELIVERED
            if max_alerts is not None and self.delivered >= max_alerts and done:
                return 0
            if (
                self.stopping
                and done
                and (self.joined.is_set() or time.monotonic() - started > join_grace)
            ):
                return 0  # leave only after the join completed: an early leave stalls the group
            if done and self.queue and not self.stopping:
                record = self.queue.popleft()
                self.inflight = (record, self.pool.submit(self.deliver, record))
                last_activity = time.monotonic()
            busy = self.inflight is not None or bool(self.queue)
            assigned = self.consumer.assignment()
            if busy:
                self.consumer.pause(*assigned)
            else:
                self.consumer.resume(*assigned)
            batch = self.consumer.poll(timeout_ms=100 if busy else 500)
            for records in batch.values():
                self.queue.extend(records)
            if batch:
                last_activity = time.monotonic()
            idle = not busy and not batch
            if (
                idle
                and idle_timeout is not None
                and time.monotonic() - last_activity > idle_timeout
            ):
                return 0

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.notifier.on_revoked(set(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.notifier.on_assigned(set(assigned))


def run_notifier(
    settings: Settings, max_alerts: int | None = None, idle_timeout: float | None = None
) -> int:
    configure_logging(settings)
    if not settings.webhook_url:
        raise UserError("set WIRESTREAM_WEBHOOK_URL to the webhook to post alerts to")
    if not settings.webhook_url.startswith(("http://", "https://")):
        raise UserError("WIRESTREAM_WEBHOOK_URL must be an http:// or https:// URL")
    check_topics(settings, (settings.topic_alerts, settings.topic_deadletter))
    consumer = group_consumer(settings, "notify", max_poll_records=50)
    producer = publish_producer(settings, client_id=f"{settings.app_id}-notify")
    notifier = Notifier(settings, consumer, producer)

    def stop(signum: int, _frame: object) -> None:
        notifier.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer.subscribe([settings.topic_alerts], listener=_Listener(notifier))
    log.info("wirestream notify ready: %s -> webhook", settings.topic_alerts)
    try:
        return notifier.run(max_alerts, idle_timeout)
    except KafkaError as exc:
        raise UserError(f"Kafka error: {exc}") from None
    finally:
        notifier.close()
        producer.close()
        consumer.close(autocommit=False)
