"""The console's web side over real HTTP (aiohttp's test server), without Kafka.

Access control, CSRF, roles, escaping and headers are properties of the web
application alone, so they are checked here against a real server and a real
SQLite store; the browser tests check them again end to end.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from wirestream.console.context import Console
from wirestream.console.hub import Hub
from wirestream.console.records import normalise
from wirestream.console.review import Reviews
from wirestream.console.store import Store
from wirestream.console.users import entry, load_users
from wirestream.console.web import make_app
from wirestream.settings import Settings

PASSWORD = "a long test password"
EVIL = {
    "id": "evil/1 ü?#x",
    "headline": '<script>window.pwned=1</script> Shelling <img src=x onerror="pwned=2">',
    "body": "Body </mark><script>pwned=3</script> shelling.",
    "language": "en",
    "url": "javascript:alert(1)",
    "topic": "conflict, war and peace",
    "topic_score": 0.3,
    "stance": "neutral",
    "stance_score": 0.4,
    "model_version": "m<b>1</b>",
    "review_reasons": ["<i>low</i>"],
    "alert_rules": ["<svg onload=alert(1)>"],
    "explanation": {"topic": ["shelling", "script"]},
}


def settings(tmp_path: Path, **kw: Any) -> Settings:
    users = ";".join(
        [
            entry("anna", "editor", PASSWORD),
            entry("ben", "editor", PASSWORD),
            entry("vic", "viewer", PASSWORD),
        ]
    )
    base = {
        "console_users": users,
        "console_secret_key": "s" * 43,
        "data_dir": tmp_path,
    }
    return Settings(**(base | kw))


def run(test: Callable[[TestClient], Awaitable[None]], s: Settings) -> None:
    async def main() -> None:
        store = Store(s.data_dir / "console.sqlite3")
        store.apply(
            [("review", normalise(EVIL)), ("review", normalise(EVIL | {"id": "plain"}))], {}
        )
        hub = Hub()
        app = make_app(Console(s, store, hub, Reviews(store, hub, s)), load_users(s))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        # like a browser on a secure origin (Chromium treats 127.0.0.1 as one), so that
        # the Secure session cookie is sent back over the test server's plain HTTP
        jar = CookieJar(unsafe=True, treat_as_secure_origin=str(server.make_url("/")))
        async with TestClient(server, cookie_jar=jar) as client:
            await test(client)
        store.close()

    asyncio.run(main())


async def sign_in(client: TestClient, user: str, password: str = PASSWORD) -> str:
    """Sign in through the form; return the CSRF token the pages carry."""
    page = await (await client.get("/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    reply = await client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": token, "next": "/queue"},
        allow_redirects=False,
    )
    assert reply.status == 303, await reply.text()
    queue = await (await client.get("/queue")).text()
    return re.search(r'name="csrf-token" content="([^"]+)"', queue).group(1)


def test_nothing_but_healthz_and_sign_in_is_served_without_a_session(tmp_path):
    async def check(client: TestClient) -> None:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/login")).status == 200
        for path in ("/", "/queue", "/alerts", "/feed", "/figures", "/stories/plain"):
            reply = await client.get(path, allow_redirects=False)
            assert reply.status == 303 and reply.headers["Location"].startswith("/login"), path
        for path in ("/api/queue", "/api/stories/plain", "/events/queue", "/events/feed"):
            assert (await client.get(path)).status == 401, path

    run(check, settings(tmp_path))


def test_state_changes_need_a_session_and_its_csrf_token(tmp_path):
    async def check(client: TestClient) -> None:
        body = {"id": "plain", "action": "confirm"}
        # no session at all
        assert (await client.post("/api/decide", json=body)).status == 403
        token = await sign_in(client, "anna")
        # a session, but no token / a wrong token
        assert (await client.post("/api/decide", json=body)).status == 403
        wrong = {"X-CSRF-Token": "x" * len(token)}
        assert (await client.post("/api/decide", json=body, headers=wrong)).status == 403
        assert (await client.post("/logout", allow_redirects=False)).status == 403
        page = await (await client.get("/api/queue")).json()
        assert page["waiting"] == 2  # nothing changed
        ok = await client.post("/api/decide", json=body, headers={"X-CSRF-Token": token})
        assert ok.status == 200, await ok.text()
        assert (await (await client.get("/api/queue")).json())["waiting"] == 1

    run(check, settings(tmp_path))


def test_a_wrong_password_is_refused_and_throttled(tmp_path):
    async def check(client: TestClient) -> None:
        page = await (await client.get("/login")).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        for _ in range(10):
            reply = await client.post(
                "/login", data={"username": "anna", "password": "wrong", "csrf_token": token}
            )
            assert reply.status == 401 and "Wrong user name or password" in await reply.text()
        reply = await client.post(
            "/login", data={"username": "anna", "password": PASSWORD, "csrf_token": token}
        )
        assert reply.status == 401 and "Too many failed attempts" in await reply.text()

    run(check, settings(tmp_path))


def test_viewers_read_but_cannot_label_or_claim(tmp_path):
    async def check(client: TestClient) -> None:
        token = await sign_in(client, "vic")
        h = {"X-CSRF-Token": token}
        assert (await client.get("/api/queue")).status == 200
        for path, body in (
            ("/api/decide", {"id": "plain", "action": "confirm"}),
            ("/api/claim", {"id": "plain"}),
            ("/api/undo", {}),
        ):
            assert (await client.post(path, json=body, headers=h)).status == 403, path

    run(check, settings(tmp_path))


def test_story_text_is_escaped_on_every_page_and_bad_links_are_dropped(tmp_path):
    async def check(client: TestClient) -> None:
        await sign_in(client, "anna")
        story = await client.get("/stories/evil%2F1%20%C3%BC%3F%23x")
        assert story.status == 200
        for path in (
            "/stories/evil%2F1%20%C3%BC%3F%23x",
            "/queue?id=evil%2F1%20%C3%BC%3F%23x",
            "/alerts",
            "/feed",
        ):
            html = await (await client.get(path)).text()
            assert "<script>window.pwned" not in html and "<img src=x" not in html, path
            assert (
                "<svg onload" not in html and "<b>1</b>" not in html and "<i>low</i>" not in html
            ), path
            assert 'href="javascript' not in html, path
        html = await story.text()
        assert "javascript:" not in html  # the story page shows no link to a javascript: URL
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
        assert '<mark class="hl hl-topic " title="topic">shelling</mark>' in html
        # the highlighter's <mark> elements are the only markup: without them, the body is
        # exactly the escaped wire copy (its own "</mark><script>" included)
        unmarked = re.sub(r'<mark class="[^"]*" title="[^"]*">|</mark>', "", html)
        assert "Body &lt;/mark&gt;&lt;script&gt;pwned=3&lt;/script&gt; shelling." in unmarked
        assert (await client.get("/stories/nope")).status == 404

    run(check, settings(tmp_path))


def test_responses_carry_a_strict_content_security_policy(tmp_path):
    async def check(client: TestClient) -> None:
        await sign_in(client, "anna")
        reply = await client.get("/queue")
        csp = reply.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert reply.headers["Cache-Control"] == "no-store"

    run(check, settings(tmp_path))


def test_session_cookie_is_encrypted_http_only_and_secure_by_default(tmp_path):
    async def check(client: TestClient) -> None:
        page = await (await client.get("/login")).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        reply = await client.post(
            "/login",
            data={"username": "anna", "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
        )
        assert reply.status == 303
        cookie = reply.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "anna" not in cookie and token not in cookie  # encrypted, not merely signed

    run(check, settings(tmp_path))


def test_sign_in_only_follows_local_next_paths(tmp_path):
    async def check(client: TestClient) -> None:
        page = await (await client.get("/login?next=//evil.example/x")).text()
        assert 'name="next" value="/queue"' in page
        page = await (await client.get("/login?next=/feed%3Fq%3Dx")).text()
        assert 'name="next" value="/feed?q=x"' in page
        # a notifier link to a story whose id holds "/", " " and "?" survives the sign-in
        link = "/stories/evil%2F1%20%C3%BC%3F%23x"
        bounced = await client.get(link, allow_redirects=False)
        assert bounced.status == 303
        page = await (await client.get(bounced.headers["Location"])).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        nxt = re.search(r'name="next" value="([^"]+)"', page).group(1)
        reply = await client.post(
            "/login",
            data={"username": "anna", "password": PASSWORD, "csrf_token": token, "next": nxt},
            allow_redirects=False,
        )
        assert reply.headers["Location"] == link
        assert "&lt;script&gt;window.pwned" in await (await client.get(link)).text()

    run(check, settings(tmp_path))


def test_claims_and_decisions_over_the_api(tmp_path):
    async def check(client: TestClient) -> None:
        token = await sign_in(client, "anna")
        h = {"X-CSRF-Token": token}
        claim = await (await client.post("/api/claim", json={"id": "plain"}, headers=h)).json()
        assert claim == {"claimed": True, "by": "anna"}
        story = await (await client.get("/api/stories/plain")).json()
        assert story["queue"]["claimed_by"] == "anna"
        bad = await client.post(
            "/api/decide",
            json={"id": "plain", "action": "correct", "labels": {"topic": "x"}},
            headers=h,
        )
        assert bad.status == 400 and "IPTC" in (await bad.json())["error"]
        deep = await client.post("/api/decide", data="[" * 100_000, headers=h)
        assert deep.status == 400
        done = await (
            await client.post(
                "/api/decide",
                json={"id": "plain", "action": "correct", "labels": {"stance": "confrontational"}},
                headers=h,
            )
        ).json()
        assert done["action"] == "correct" and done["labels"]["stance"] == "confrontational"
        again = await client.post(
            "/api/decide", json={"id": "plain", "action": "confirm"}, headers=h
        )
        assert again.status == 409
        undone = await (await client.post("/api/undo", json={}, headers=h)).json()
        assert undone["id"] == "plain" and undone["waiting"] == 2
        assert json.dumps(undone)

    run(check, settings(tmp_path))


def test_every_live_stream_opens_with_the_queue_count(tmp_path):
    async def check(client: TestClient) -> None:
        await sign_in(client, "vic")
        for path in ("/events/queue", "/events/alerts", "/events/feed?language=uk"):
            reply = await client.get(path)
            assert reply.status == 200 and reply.content_type == "text/event-stream", path
            first = [await asyncio.wait_for(reply.content.readline(), 5) for _ in range(2)]
            assert first == [b"event: hello\r\n", b'data: {"waiting": 2}\r\n'], path
            reply.close()

    run(check, settings(tmp_path))


def test_page_scripts_never_write_markup():
    """Story data reaches the page only as text: no innerHTML and friends in any page script."""
    scripts = sorted((Path(__file__).parents[1] / "console" / "static").glob("*.js"))
    assert len(scripts) >= 5
    for script in scripts:
        code = script.read_text(encoding="utf-8")
        found = re.findall(
            r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", code
        )
        assert not found, (script.name, found)
