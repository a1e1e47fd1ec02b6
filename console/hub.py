"""Fan-out of live events to the open pages (server-sent events).

Each open page subscribes with a bounded queue. A page that cannot keep up is
dropped rather than allowed to grow memory or slow anyone else; its browser
reconnects (EventSource does so by itself) and reloads its view.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

Event = tuple[str, Any]
QUEUE_SIZE = 1000


class Subscription:
    def __init__(self, channels: frozenset[str]) -> None:
        self.channels = channels
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = False

    async def get(self) -> Event | None:
        """The next event, or None once this subscriber has been dropped for falling behind."""
        return await self.queue.get()


class Hub:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self.closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    @contextmanager
    def subscribe(self, *channels: str) -> Iterator[Subscription]:
        """Events of these channels only (a queue page never queues the feed's traffic)."""
        sub = Subscription(frozenset(channels))
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)

    def publish(self, channel: str, data: Any) -> None:
        for sub in list(self._subs):
            if channel not in sub.channels:
                continue
            try:
                sub.queue.put_nowait((channel, data))
            except asyncio.QueueFull:
                self._drop(sub)

    def close(self) -> None:
        """End every stream (the server is stopping): subscribers get None and return."""
        self.closed = True
        for sub in list(self._subs):
            self._drop(sub)

    def _drop(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        sub.dropped = True
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)
