"""Announcements on the control topic: a promotion tells running workers to look again.

The registry's pointer is the truth; an announcement is only a nudge, so a lost
one costs at most ``WIRESTREAM_MODEL_POLL_S`` (workers poll the pointer too).
"""

from __future__ import annotations

import json
import sys
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError

from wirestream.settings import Settings


def announce(settings: Settings, version: str, event: str = "promoted") -> bool:
    """Publish ``{"event", "version", "at"}``; False (with a note) when no broker answers."""
    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.app_id}-control",
            acks="all",
            max_block_ms=5000,
            api_version_auto_timeout_ms=3000,
            **settings.kafka_python_security(),
        )
    except (KafkaError, OSError) as exc:
        print(
            f"note: could not announce on {settings.topic_models} ({type(exc).__name__}); "
            f"running workers pick the change up within WIRESTREAM_MODEL_POLL_S={settings.model_poll_s:g}s",
            file=sys.stderr,
        )
        return False
    try:
        body = {"event": event, "version": version, "at": time.time()}
        producer.send(settings.topic_models, json.dumps(body).encode()).get(timeout=10)
        return True
    except (KafkaError, OSError) as exc:
        print(
            f"note: announcement on {settings.topic_models} failed ({exc}); workers will poll",
            file=sys.stderr,
        )
        return False
    finally:
        producer.close(timeout=5)
