"""``wirestream notify``: post each alert to a Slack-compatible webhook, never dropping one.

Offsets are committed only after the webhook accepted the alert. Transient
failures (network, 5xx, 408, 429) are retried with exponential backoff; when
the attempts run out the notifier exits non-zero *without* committing, so the
alert is delivered after restart. A webhook that rejects an alert outright
(other 4xx) gets it on the dead-letter topic with the reason, and moves on.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata, TopicPartition

from wirestream.settings import Settings
from wirestream.streams.publish import producer as publish_producer

log = logging.getLogger("wirestream.notify")

STANCE_EMOJI = {
    "confrontational": ":red_circle:",
    "conciliatory": ":large_green_circle:",
    "neutral": ":white_circle:",
}


class DeliveryFailed(RuntimeError):
    """Transient failures outlasted the retry budget; nothing was committed."""


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    permanent_error: str | None = None


def slack_message(alert: dict[str, Any]) -> dict[str, Any]:
    """Slack incoming-webhook body: ``text`` for any client, ``blocks`` for Slack."""
    rules = ", ".join(alert.get("alert_rules", []))
    headline = alert.get("headline", "(no headline)")
    summary = (
        f"{STANCE_EMOJI.get(alert.get('stance', ''), '')} *{headline}*\n"
        f"{alert.get('topic', '?')} · {alert.get('stance', '?')} · focus {alert.get('focus', '?')}"
        f" · {alert.get('language', '?')} · rules: {rules}"
    )
    context = f"story {alert.get('id')} · model {alert.get('model_version', '?')}"
    if alert.get("url"):
        context += f" · {alert['url']}"
    return {
        "text": f"wirestream alert [{rules}]: {headline}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def post_with_retries(
    url: str,
    body: dict[str, Any],
    max_attempts: int,
    backoff_s: float,
    sleep: Callable[[float], None] = time.sleep,
    timeout_s: float = 10.0,
) -> Outcome:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    for attempt in range(1, max_attempts + 1):
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read()
            return Outcome(True, attempt)
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                return Outcome(False, attempt, f"webhook rejected the alert: HTTP {exc.code}")
            reason = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = str(getattr(exc, "reason", exc))
        if attempt < max_attempts:
            delay = min(backoff_s * 2 ** (attempt - 1), 60.0)
            log.warning(
                "webhook attempt %d/%d failed (%s); retrying in %.1fs",
                attempt,
                max_attempts,
                reason,
                delay,
            )
            sleep(delay)
    raise DeliveryFailed(f"webhook still failing after {max_attempts} attempts")


def run_notifier(
    settings: Settings, max_alerts: int | None = None, idle_timeout: float | None = None
) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    if not settings.webhook_url:
        print("wirestream notify: set WIRESTREAM_WEBHOOK_URL to the webhook to post alerts to")
        return 2
    consumer = KafkaConsumer(
        settings.topic_alerts,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"{settings.app_id}-notify",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(settings.broker_session_timeout_s * 1000),
        max_poll_records=50,
        **settings.kafka_python_security(),
    )
    producer = publish_producer(settings, client_id=f"{settings.app_id}-notify")
    log.info("wirestream notify ready: %s -> webhook", settings.topic_alerts)
    delivered = 0
    last_activity = time.monotonic()
    try:
        while max_alerts is None or delivered < max_alerts:
            batch = consumer.poll(timeout_ms=500)
            if not batch:
                if idle_timeout is not None and time.monotonic() - last_activity > idle_timeout:
                    break
                continue
            last_activity = time.monotonic()
            for tp, records in batch.items():
                for record in records:
                    _deliver_one(settings, producer, record)
                    consumer.commit(
                        {
                            TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(
                                record.offset + 1, "", -1
                            )
                        }
                    )
                    delivered += 1
    except DeliveryFailed as exc:
        log.error("%s; exiting without committing so the alert is retried on restart", exc)
        return 3
    except KeyboardInterrupt:
        pass
    finally:
        producer.close()
        consumer.close(autocommit=False)
    return 0


def _deliver_one(settings: Settings, producer: KafkaProducer, record: Any) -> None:
    try:
        alert = json.loads(record.value)
        body = slack_message(alert)
    except (ValueError, AttributeError, TypeError) as exc:
        _dead_letter(
            settings, producer, record, "invalid_alert", f"alert is not a JSON object: {exc}"
        )
        return
    outcome = post_with_retries(
        settings.webhook_url, body, settings.notify_max_attempts, settings.notify_backoff_s
    )
    if outcome.delivered:
        log.info("alert %s delivered (attempt %d)", alert.get("id"), outcome.attempts)
    else:
        _dead_letter(settings, producer, record, "webhook_rejected", outcome.permanent_error or "")


def _dead_letter(
    settings: Settings, producer: KafkaProducer, record: Any, reason: str, detail: str
) -> None:
    log.error(
        "alert at %s[%d]@%d dead-lettered: %s",
        record.topic,
        record.partition,
        record.offset,
        detail,
    )
    dead = {
        "reason": reason,
        "detail": detail,
        "source": {"topic": record.topic, "partition": record.partition, "offset": record.offset},
        "payload": record.value.decode("utf-8", errors="replace"),
        "payload_encoding": "utf-8",
    }
    producer.send(settings.topic_deadletter, json.dumps(dead).encode()).get(timeout=30)
