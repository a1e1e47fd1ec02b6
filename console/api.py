"""JSON endpoints the page scripts call, and the server-sent event streams.

Every POST here changes state, so the guard has already checked the session's
CSRF token; the queue-changing ones are for editors only.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response

from wirestream.console.context import console
from wirestream.console.feed import FeedFilter
from wirestream.console.records import summary
from wirestream.console.review import BadDecision
from wirestream.console.security import current_user, editors_only
from wirestream.console.store import Conflict
from wirestream.console.stories import detail

MAX_PAGE = 500


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "expected a JSON body"}), content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "expected a JSON object"}), content_type="application/json"
        )
    return body


def _int(value: str | None, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(value or default)))
    except ValueError:
        return default


async def queue(request: web.Request) -> web.Response:
    ctx = console(request)
    order = request.query.get("order", "oldest")
    order = order if order in ("oldest", "least") else "oldest"
    offset = _int(request.query.get("offset"), 0, 0, 10_000_000)
    limit = _int(request.query.get("limit"), 100, 1, MAX_PAGE)
    return web.json_response(
        {"items": ctx.store.queue_page(order, offset, limit), "waiting": ctx.store.waiting()}
    )


async def story(request: web.Request) -> web.Response:
    found = detail(console(request).store, request.match_info["story_id"])
    if found is None:
        return web.json_response({"error": "no such story"}, status=404)
    return web.json_response(found)


@editors_only
async def claim(request: web.Request) -> web.Response:
    body = await _json_body(request)
    story_id = body.get("id")
    if not isinstance(story_id, str):
        return web.json_response({"error": "id must be a story id"}, status=400)
    try:
        result = console(request).reviews.claim(
            story_id, current_user(request).name, force=body.get("force") is True
        )
    except Conflict as exc:
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response(result)


async def release(request: web.Request) -> web.Response:
    console(request).reviews.release(current_user(request).name)
    return web.json_response({"released": True})


@editors_only
async def decide(request: web.Request) -> web.Response:
    body = await _json_body(request)
    try:
        result = console(request).reviews.decide(
            current_user(request).name, body, force=body.get("force") is True
        )
    except BadDecision as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except Conflict as exc:
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response(result)


@editors_only
async def undo(request: web.Request) -> web.Response:
    try:
        result = console(request).reviews.undo(current_user(request).name)
    except Conflict as exc:
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response(result)


Select = Callable[[str, Any], Any]


async def _stream(
    request: web.Request, channels: tuple[str, ...], select: Select
) -> web.StreamResponse:
    """Relay the hub's events that ``select`` keeps (shaped by it) until the page goes away."""
    ctx = console(request)
    async with sse_response(request, headers={"Cache-Control": "no-store"}) as response:
        with ctx.hub.subscribe(*channels) as sub, contextlib.suppress(ConnectionResetError):
            await response.send(json.dumps({"waiting": ctx.store.waiting()}), event="hello")
            while response.is_connected():
                event = await sub.get()
                if event is None:  # fell behind (the page reloads its view) or stopping
                    if not ctx.hub.closed:
                        await response.send("{}", event="resync")
                    break
                channel, data = event
                shaped = select(channel, data)
                if shaped is not None:
                    await response.send(json.dumps(shaped, ensure_ascii=False), event=channel)
    return response


def _counts(channel: str, data: Any) -> Any:
    return data if channel == "queue" and data.get("type") == "count" else None


async def queue_events(request: web.Request) -> web.StreamResponse:
    return await _stream(request, ("queue",), lambda channel, data: data)


async def alert_events(request: web.Request) -> web.StreamResponse:
    return await _stream(
        request,
        ("alert", "queue"),
        lambda channel, data: summary(data) if channel == "alert" else _counts(channel, data),
    )


async def feed_events(request: web.Request) -> web.StreamResponse:
    wanted = FeedFilter.from_query(request.query)

    def select(channel: str, data: Any) -> Any:
        if channel == "feed":
            return summary(data) if wanted.matches(data) else None
        return _counts(channel, data)

    return await _stream(request, ("feed", "queue"), select)
