"""What every request handler reaches through ``request.app[CONSOLE]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from wirestream.console.hub import Hub
from wirestream.console.review import Reviews
from wirestream.console.store import Store
from wirestream.settings import Settings


@dataclass
class Console:
    settings: Settings
    store: Store
    hub: Hub
    reviews: Reviews
    ingestor: Any = None  # console.kafka_io.Ingestor when Kafka runs in this process
    publisher: Any = None  # console.kafka_io.Publisher


CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)


def console(request: web.Request) -> Console:
    return request.app[CONSOLE]
