"""The HTML pages: sign-in, queue, alerts, feed, figures and a page per story.

Pages are Jinja templates with autoescaping on for everything; data the page
script needs travels as JSON inside ``<script type="application/json">`` via
Jinja's ``tojson`` (which escapes ``<``, ``>``, ``&`` and quotes), never as code.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session

from wirestream.console import figures
from wirestream.console.context import console
from wirestream.console.feed import FeedFilter
from wirestream.console.records import summary
from wirestream.console.security import SESSION, USERS, LoginThrottle, csrf_token, current_user
from wirestream.console.stories import detail
from wirestream.console.users import authenticate
from wirestream.taxonomy import FOCUS_VALUES, LANGUAGES, STANCES, TOPIC_CODES

PAGE = 100
LIVE_PAGE = 200
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("throttle", LoginThrottle)


def _next(value: str | None) -> str:
    """Only a local path may follow sign-in (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/queue"


async def healthz(request: web.Request) -> web.Response:
    ctx = console(request)
    partitions = len(ctx.ingestor.assigned) if ctx.ingestor else 0
    return web.Response(text=f"ok partitions={partitions}\n")


@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    session = await get_session(request)
    return {"csrf": csrf_token(session), "next": _next(request.query.get("next")), "error": ""}


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    throttle = request.app[THROTTLE]
    user = None
    error = "Too many failed attempts: wait a few minutes."
    if not throttle.blocked(name):
        user = authenticate(request.app[USERS], name, password)
        error = "Wrong user name or password."
    if user is None:
        throttle.failed(name)
        session = await get_session(request)
        context = {
            "csrf": csrf_token(session),
            "next": _next(str(form.get("next", ""))),
            "error": error,
        }
        return aiohttp_jinja2.render_template("login.html", request, context, status=401)
    throttle.succeeded(name)
    session = await new_session(request)  # a fresh session: no fixation across sign-in
    session["user"] = user.name
    session["login_at"] = time.time()
    csrf_token(session)
    raise web.HTTPSeeOther(_next(str(form.get("next", ""))))


async def logout(request: web.Request) -> web.StreamResponse:
    ctx = console(request)
    ctx.reviews.release(current_user(request).name)
    session = await get_session(request)
    session.invalidate()
    raise web.HTTPSeeOther("/login")


async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/queue")


def base_context(request: web.Request, page: str) -> dict[str, Any]:
    ctx = console(request)
    user = current_user(request)
    return {
        "page": page,
        "user": user,
        "csrf": csrf_token(request[SESSION]),
        "waiting": ctx.store.waiting(),
        "pending": ctx.store.pending_actions(),
    }


@aiohttp_jinja2.template("queue.html")
async def queue_page(request: web.Request) -> dict[str, Any]:
    ctx = console(request)
    user = current_user(request)
    order = request.query.get("order", "oldest")
    order = order if order in ("oldest", "least") else "oldest"
    items = ctx.store.queue_page(order, 0, PAGE)
    wanted = request.query.get("id")
    chosen = None
    if wanted:
        chosen = detail(ctx.store, wanted)
    if chosen is None:
        first = next((i for i in items if i["claimed_by"] in (None, user.name)), None)
        chosen = detail(ctx.store, first["id"]) if first else None
    data = {
        "me": {"name": user.name, "role": user.role, "can_label": user.can_label},
        "order": order,
        "items": items,
        "page_size": PAGE,
        "waiting": ctx.store.waiting(),
        "story": chosen,
        "topics": list(TOPIC_CODES),
        "stances": list(STANCES),
        "undo_s": ctx.settings.console_undo_s,
        "claim_s": ctx.settings.console_claim_s,
        "last_action": ctx.store.last_action(user.name),
    }
    return base_context(request, "queue") | {"data": data, "order": order}


@aiohttp_jinja2.template("alerts.html")
async def alerts_page(request: web.Request) -> dict[str, Any]:
    ctx = console(request)
    alerts = [summary(r) for r in ctx.store.recent("alert", LIVE_PAGE)]
    return base_context(request, "alerts") | {"data": {"items": alerts, "limit": LIVE_PAGE}}


@aiohttp_jinja2.template("feed.html")
async def feed_page(request: web.Request) -> dict[str, Any]:
    ctx = console(request)
    wanted = FeedFilter.from_query(request.query)
    recent = ctx.store.recent("classified", ctx.settings.console_feed_size)
    matching = [summary(r) for r in recent if wanted.matches(r)][:LIVE_PAGE]
    choices = {
        "topic": list(TOPIC_CODES),
        "stance": list(STANCES),
        "focus": list(FOCUS_VALUES),
        "language": list(LANGUAGES),
        "model": ctx.store.model_versions(),
    }
    return base_context(request, "feed") | {
        "filter": wanted.as_dict(),
        "choices": choices,
        "searched": len(recent),
        "data": {"items": matching, "filter": wanted.as_dict(), "limit": LIVE_PAGE},
    }


@aiohttp_jinja2.template("figures.html")
async def figures_page(request: web.Request) -> dict[str, Any]:
    ctx = console(request)
    return base_context(request, "figures") | {"data": figures.compute(ctx.store)}


async def story_page(request: web.Request) -> web.StreamResponse:
    ctx = console(request)
    story_id = request.match_info["story_id"]
    found = detail(ctx.store, story_id)
    context = base_context(request, "story") | {"story": found, "story_id": story_id, "data": {}}
    return aiohttp_jinja2.render_template(
        "story.html", request, context, status=200 if found else 404
    )
