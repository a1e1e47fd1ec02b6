"""Sign-in, sessions, CSRF and response headers: the console's outer wall.

Sessions are aiohttp-session's encrypted cookies (Fernet), keyed from
``WIRESTREAM_CONSOLE_SECRET_KEY``; they hold the user name, a CSRF token and
the sign-in time, and end after ``WIRESTREAM_CONSOLE_SESSION_H``. Every request
but ``/healthz``, the sign-in page and its static files needs a session whose
user still exists; every state-changing request also needs the session's CSRF
token (header ``X-CSRF-Token`` or form field ``csrf_token``). The CSP allows
scripts and styles from the console only, so even a missed escape could not run.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp_session import Session, get_session
from aiohttp_session import setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wirestream.console.users import User
from wirestream.errors import UserError
from wirestream.settings import Settings

COOKIE = "wirestream_console"
MIN_SECRET = 32
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC = ("/healthz", "/login", "/static/")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
USERS: web.AppKey[dict[str, User]] = web.AppKey("users", dict)
USER: web.RequestKey[User] = web.RequestKey("user", User)
SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)
SESSION_S: web.AppKey[float] = web.AppKey("session_s", float)


def session_key(settings: Settings) -> bytes:
    """32 key bytes derived from the configured secret (which must be long enough to guess never)."""
    secret = settings.console_secret_key.strip()
    if len(secret) < MIN_SECRET:
        raise UserError(
            f"WIRESTREAM_CONSOLE_SECRET_KEY must be a random string of at least {MIN_SECRET} "
            "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    hkdf = HKDF(hashes.SHA256(), 32, salt=None, info=b"wirestream console session cookie")
    return hkdf.derive(secret.encode("utf-8"))


def install(app: web.Application, settings: Settings, users: dict[str, User]) -> None:
    """Sessions and the guard on ``app`` (order matters: the session comes first)."""
    app[USERS] = users
    app[SESSION_S] = settings.console_session_h * 3600
    storage = EncryptedCookieStorage(
        session_key(settings),
        cookie_name=COOKIE,
        max_age=int(app[SESSION_S]),
        secure=settings.console_secure_cookies,
        httponly=True,
        samesite="Lax",
    )
    setup_sessions(app, storage)
    app.middlewares.append(headers)
    app.middlewares.append(guard)


def csrf_token(session: Session) -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def current_user(request: web.Request) -> User:
    return request[USER]


def _signed_in(request: web.Request, session: Session) -> User | None:
    name = session.get("user")
    login_at = session.get("login_at")
    if not isinstance(name, str) or not isinstance(login_at, int | float):
        return None
    if time.time() - login_at > request.app[SESSION_S]:
        return None
    return request.app[USERS].get(name)


async def _token_from(request: web.Request) -> str:
    token = request.headers.get("X-CSRF-Token", "")
    if not token and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get("csrf_token", "")
        token = value if isinstance(value, str) else ""
    return token


def _refuse(request: web.Request, status: int, message: str) -> web.Response:
    wants_json = request.path.startswith(("/api/", "/events/")) or (
        request.method not in SAFE_METHODS
    )
    if wants_json:
        return web.json_response({"error": message}, status=status)
    if status == 401:
        location = "/login"
        wanted = request.rel_url.raw_path_qs  # still quoted: an id may hold "/" or "?"
        if wanted not in ("/", "/login"):
            location += "?next=" + quote(wanted, safe="")
        raise web.HTTPSeeOther(location)
    return web.Response(status=status, text=message)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No session, no data; no CSRF token, no state change."""
    session = await get_session(request)
    if request.method not in SAFE_METHODS:
        expected = session.get("csrf")
        given = await _token_from(request)
        if not isinstance(expected, str) or not hmac.compare_digest(expected, given):
            return _refuse(request, 403, "missing or wrong CSRF token: reload the page")
    if request.path.startswith(PUBLIC):
        return await handler(request)
    user = _signed_in(request, session)
    if user is None:
        return _refuse(request, 401, "sign in first")
    request[USER] = user
    request[SESSION] = session
    return await handler(request)


def editors_only(handler: Handler) -> Handler:
    """For handlers that change the queue: viewers read, editors label."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not current_user(request).can_label:
            return web.json_response({"error": "viewers cannot label stories"}, status=403)
        return await handler(request)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        _secure(response, request)
        raise
    _secure(response, request)
    return response


def _secure(response: Any, request: web.Request) -> None:
    if getattr(response, "prepared", False):  # a stream (SSE) already sent its headers
        return
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("X-Frame-Options", "DENY")
    if not request.path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")


class LoginThrottle:
    """At most ``limit`` failed sign-ins per name in ``window_s``: slows password guessing."""

    def __init__(self, limit: int = 10, window_s: float = 300.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self.failures: dict[str, list[float]] = {}

    def blocked(self, name: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self.failures.get(name, []) if now - t < self.window_s]
        self.failures[name] = recent
        return len(recent) >= self.limit

    def failed(self, name: str) -> None:
        self.failures.setdefault(name, []).append(time.monotonic())
        if len(self.failures) > 10000:  # names are attacker-chosen: keep the map bounded
            self.failures.clear()

    def succeeded(self, name: str) -> None:
        self.failures.pop(name, None)
