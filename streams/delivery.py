"""Sending a batch's outputs until the broker has every one of them.

A batch is acknowledged (and so may be committed) only after ``deliver``
returns. A failed send is retried with exponential backoff, only the records
that failed; when the attempts run out, ``DeliveryFailed`` tells the caller to
stop the worker *without* acknowledging, so a restart re-reads the batch.
Duplicates from retries are harmless: every output is keyed by the story id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from wirestream.pipeline import Outgoing

log = logging.getLogger("wirestream.delivery")

Send = Callable[[Outgoing], Awaitable[Awaitable[Any]]]


class DeliveryFailed(RuntimeError):
    """Some outputs of a batch could not be delivered within the attempts allowed."""


async def deliver(
    outgoing: Sequence[Outgoing],
    send: Send,
    *,
    max_attempts: int,
    backoff_s: float,
    max_backoff_s: float = 30.0,
    on_retry: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Send every record and wait for the broker's acknowledgement; return the attempts used."""
    pending = list(outgoing)
    for attempt in range(1, max_attempts + 1):
        failures: list[tuple[Outgoing, BaseException]] = []
        in_flight: list[tuple[Outgoing, Awaitable[Any]]] = []
        for out in pending:
            try:
                in_flight.append((out, await send(out)))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures.append((out, exc))
        results = await asyncio.gather(*(f for _, f in in_flight), return_exceptions=True)
        for (out, _), res in zip(in_flight, results, strict=True):
            if isinstance(res, asyncio.CancelledError):
                raise res
            if isinstance(res, BaseException):
                failures.append((out, res))
        if not failures:
            return attempt
        pending = [out for out, _ in failures]
        first = failures[0][1]
        if on_retry is not None:
            on_retry(len(failures), first)
        if attempt == max_attempts:
            raise DeliveryFailed(
                f"{len(failures)} of {len(outgoing)} records still undelivered after "
                f"{max_attempts} attempts (first error: {type(first).__name__}: {first})"
            )
        delay = min(backoff_s * 2 ** (attempt - 1), max_backoff_s)
        log.warning(
            "%d of %d records not delivered (attempt %d/%d: %s: %s); retrying in %.1fs",
            len(failures),
            len(outgoing),
            attempt,
            max_attempts,
            type(first).__name__,
            first,
            delay,
        )
        await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
