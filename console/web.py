"""The aiohttp application: routes, templates, static files, sessions and the guard.

Built without Kafka, so the whole web side can be exercised over HTTP with
nothing but a ``Store``; ``console.server`` adds the Kafka tasks around it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from wirestream.console import api, views
from wirestream.console.context import CONSOLE, Console
from wirestream.console.security import LoginThrottle, install
from wirestream.console.users import User

PACKAGE = "wirestream.console"


def package_dir(name: str) -> Path:
    return Path(str(resources.files(PACKAGE).joinpath(name)))


def safe_url(value: object) -> str:
    """A link from wire copy only when it is plain http(s): never ``javascript:`` or ``data:``."""
    if not isinstance(value, str):
        return ""
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def make_app(ctx: Console, users: dict[str, User]) -> web.Application:
    app = web.Application(client_max_size=256 * 1024)
    app[CONSOLE] = ctx
    app[views.THROTTLE] = LoginThrottle()
    install(app, ctx.settings, users)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(package_dir("templates")),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
    )
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
    env.filters["safe_url"] = safe_url
    r = app.router
    r.add_get("/healthz", views.healthz)
    r.add_get("/login", views.login_page)
    r.add_post("/login", views.login)
    r.add_post("/logout", views.logout)
    r.add_get("/", views.index)
    r.add_get("/queue", views.queue_page)
    r.add_get("/alerts", views.alerts_page)
    r.add_get("/feed", views.feed_page)
    r.add_get("/figures", views.figures_page)
    r.add_get("/stories/{story_id:.+}", views.story_page)
    r.add_get("/api/queue", api.queue)
    r.add_get("/api/stories/{story_id:.+}", api.story)
    r.add_post("/api/claim", api.claim)
    r.add_post("/api/release", api.release)
    r.add_post("/api/decide", api.decide)
    r.add_post("/api/undo", api.undo)
    r.add_get("/events/queue", api.queue_events)
    r.add_get("/events/alerts", api.alert_events)
    r.add_get("/events/feed", api.feed_events)
    r.add_static("/static/", package_dir("static"), append_version=False)
    return app
