"""The review console end to end: real Chromium, real broker, real worker, real console process.

One installation per module (worker start-up and group joins dominate the
time): the worker routes every story to review (threshold 1.0), including one
whose headline carries ``<script>``; the console runs as ``wirestream console``
with the default secure cookies. Each test works on stories of its own.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.kafka_fixtures import TOPIC_FIELDS, TopicReader
from wirestream.console.process import ConsoleProcess
from wirestream.console.security import COOKIE
from wirestream.console.users import entry
from wirestream.labels import schema
from wirestream.settings import Settings
from wirestream.streams.admin import ensure_topics
from wirestream.streams.broker import EmbeddedBroker, free_port
from wirestream.streams.publish import publish
from wirestream.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.kafka

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "editor test password"
UNDO_S = 3.0
EVIL_ID = "evil/<script> 1"
EVIL_HEADLINE = (
    '<script>window.__pwned=1</script> Shelling <img src=x onerror="window.__pwned=2"> hits Kharkiv'
)


@dataclass
class Env:
    settings: Settings
    review: dict[str, dict[str, Any]]  # what the worker routed to review, by id
    console: ConsoleProcess
    worker: WorkerProcess
    used: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.console_port}"

    def take(self, n: int = 1) -> list[str]:
        """Stories no other test has touched (by id, oldest first as the queue shows them)."""
        free = [i for i in self.review if i not in self.used and i != EVIL_ID]
        chosen = free[:n]
        self.used.update(chosen)
        return chosen

    def http(self, user: str) -> httpx.Client:
        """A plain HTTP client signed in as ``user``. The session cookie is Secure, so a
        client that follows the rules would not send it over http: it is carried by hand."""
        client = httpx.Client(base_url=self.url, timeout=30)
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.headers["Cookie"] = f"{COOKIE}={page.cookies[COOKIE]}"
        reply = client.post(
            "/login", data={"username": user, "password": PASSWORD, "csrf_token": token}
        )
        assert reply.status_code == 303, reply.text
        client.headers["Cookie"] = f"{COOKIE}={reply.cookies[COOKIE]}"
        return client

    def wait_waiting(self, n: int, timeout: float = 60) -> None:
        """Until the console has consumed the review topic (it reads asynchronously)."""
        client = self.http("vic")
        deadline = time.monotonic() + timeout
        while (waiting := client.get("/api/queue?limit=1").json()["waiting"]) < n:
            assert time.monotonic() < deadline, f"{waiting} of {n} stories in the queue"
            time.sleep(0.2)
        client.close()

    def restart_console(self) -> None:
        assert self.console.stop(signal.SIGTERM, 30) == 0, self.console.output[-3000:]
        self.console = start_console(self.settings)


def start_console(settings: Settings) -> ConsoleProcess:
    console = ConsoleProcess(settings)
    if not console.wait_ready(60):
        console.stop(signal.SIGKILL)
        raise AssertionError(f"console not ready:\n{console.output[-3000:]}")
    return console


def story_lines(corpus, n: int) -> list[bytes]:
    step = max(1, len(corpus) // n)
    lines = [
        json.dumps(
            {"id": f"c-{s.id}", "headline": s.headline, "body": s.body, "source": "test"},
            ensure_ascii=False,
        ).encode()
        for s in corpus[::step][:n]
    ]
    evil = {
        "id": EVIL_ID,
        "headline": EVIL_HEADLINE,
        "body": corpus[0].body + "\n\n</mark><b>bold</b> <script>window.__pwned=3</script>",
        "source": "<i>wire</i>",
        "url": "javascript:window.__pwned=4",
    }
    return [*lines, json.dumps(evil).encode()]


@pytest.fixture(scope="module")
def env(
    broker: EmbeddedBroker, model_dir: Path, keys: tuple[Path, Path], corpus, tmp_path_factory
) -> Iterator[Env]:
    tag = uuid.uuid4().hex[:8]
    base = Settings.from_env(env={})
    users = ";".join(
        entry(name, role, PASSWORD)
        for name, role in (("anna", "editor"), ("ben", "editor"), ("vic", "viewer"))
    )
    settings = base.replace(
        broker=f"kafka://{broker.bootstrap}",
        app_id=f"ws-console-{tag}",
        model_dir=model_dir,
        model_public_keys=str(keys[1]),
        data_dir=tmp_path_factory.mktemp("console") / "data",
        metrics_port=free_port(),
        labeller_metrics_port=free_port(),
        console_port=free_port(),
        console_users=users,
        console_secret_key=uuid.uuid4().hex * 2,
        console_undo_s=UNDO_S,
        broker_session_timeout_s=6.0,
        review_threshold=1.0,  # every story goes to review: the queue is what we publish
        **{f: f"t{tag}.{getattr(base, f)}" for f in TOPIC_FIELDS},
    )
    ensure_topics(settings)
    worker = WorkerProcess(settings)
    env = None
    try:
        assert worker.wait_ready(90), worker.output[-3000:]
        lines = story_lines(corpus, 24)
        assert publish(settings, lines, progress=None) == len(lines)
        reader = TopicReader(settings, [settings.topic_review])
        try:
            assert reader.poll_until(lambda r: len(r[settings.topic_review]) >= len(lines), 90), (
                worker.output[-3000:]
            )
            review = {r["id"]: r for r in reader.values(settings.topic_review)}
        finally:
            reader.close()
        assert EVIL_ID in review
        env = Env(settings, review, start_console(settings), worker)
        env.wait_waiting(len(review))
        yield env
    finally:
        if env is not None:
            env.console.stop(signal.SIGTERM, 20)  # the one running now (a test restarts it)
        worker.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is needed for the console's browser tests and {CHROMIUM} is missing: "
            "apt-get install chromium (CI installs it)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A signed-in browser tab that remembers dialogs and page errors (any would be a script run)."""

    def __init__(self, browser: Any, env: Env, user: str) -> None:
        self.env = env
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.events: list[str] = []
        self.page.on("dialog", lambda d: (self.events.append(f"dialog {d.message}"), d.dismiss()))
        self.page.on("pageerror", lambda e: self.events.append(f"error {e}"))
        self.sign_in(user)

    def sign_in(self, user: str, password: str = PASSWORD) -> None:
        self.page.goto(self.env.url + "/queue")
        assert "/login" in self.page.url
        self.page.fill("input[name=username]", user)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("body[data-ready='1']")

    def open(self, path: str) -> None:
        self.page.goto(self.env.url + path)
        self.page.wait_for_selector("body[data-ready='1']")

    def open_story(self, story_id: str) -> None:
        self.open("/queue?id=" + quote(story_id, safe=""))
        self.wait_story(story_id)

    def wait_story(self, story_id: str) -> None:
        self.page.wait_for_function("id => document.body.dataset.story === id", arg=story_id)

    def press(self, *keys: str) -> None:
        for key in keys:
            self.page.keyboard.press(key)

    def api(self, path: str) -> Any:
        return self.page.evaluate("p => fetch(p).then(r => r.json())", path)

    def list_ids(self) -> list[str]:
        return self.page.eval_on_selector_all("#items > li", "els => els.map(e => e.dataset.id)")

    def close(self) -> None:
        assert not self.events, self.events
        self.context.close()


@pytest.fixture
def tabs(browser, env) -> Iterator[Any]:
    opened: list[Page] = []

    def _open(user: str) -> Page:
        tab = Page(browser, env, user)
        opened.append(tab)
        return tab

    yield _open
    for tab in opened:
        tab.close()


def labels_for(env: Env, story_ids: set[str], timeout: float) -> dict[str, list[dict[str, Any]]]:
    """Labels on wire.labels for these stories, read back with a plain consumer."""
    reader = TopicReader(env.settings, [env.settings.topic_labels])
    try:
        reader.poll_until(
            lambda r: (
                story_ids <= {json.loads(m.value)["id"] for m in r[env.settings.topic_labels]}
            ),
            timeout,
        )
        found: dict[str, list[dict[str, Any]]] = {}
        for message in reader.records[env.settings.topic_labels]:
            value = json.loads(message.value)
            assert message.key.decode() == value["id"]
            found.setdefault(value["id"], []).append(value)
        return found
    finally:
        reader.close()


def test_sign_in_and_the_queue_shows_what_the_worker_routed_to_review(tabs, env: Env):
    tab = tabs("anna")
    tab.page.wait_for_function(
        "n => document.getElementById('waiting').textContent === String(n)", arg=len(env.review)
    )
    assert sorted(tab.list_ids()) == sorted(env.review)
    first = env.review[tab.list_ids()[0]]
    assert tab.page.text_content("#s-headline") == first["headline"]
    assert tab.page.text_content("tr[data-head='topic'] .model") == first["topic"]


def test_a_wrong_password_is_refused(browser, env: Env):
    context = browser.new_context()
    page = context.new_page()
    page.goto(env.url + "/login")
    page.fill("input[name=username]", "anna")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.text_content(".error")
    page.goto(env.url + "/queue")
    assert "/login" in page.url
    context.close()


def test_an_editor_corrects_a_story_from_the_keyboard_and_the_label_arrives(tabs, env: Env):
    (story_id,) = env.take()
    model = env.review[story_id]
    tab = tabs("anna")
    tab.open_story(story_id)
    stance_key = {"conciliatory": "2", "confrontational": "3", "neutral": "1"}[model["stance"]]
    new_stance = {"1": "conciliatory", "2": "confrontational", "3": "neutral"}[stance_key]
    new_topic = "sport" if model["topic"] != "sport" else "weather"
    tab.press(stance_key, "h", "t")
    tab.page.keyboard.type(new_topic)
    tab.press("Enter", "n")
    tab.page.keyboard.type("headline misleads")
    assert tab.page.text_content("#submit-kind") == "correction"
    tab.press("Control+Enter")
    tab.page.wait_for_function("id => document.body.dataset.story !== id", arg=story_id)
    assert story_id not in tab.list_ids()
    assert "Press u to undo" in tab.page.text_content("#undo-status")

    label = labels_for(env, {story_id}, timeout=UNDO_S + 20)[story_id]
    assert len(label) == 1
    message = label[0]
    validator = Draft202012Validator(schema(), format_checker=FormatChecker())
    assert not list(validator.iter_errors(message))
    assert message["labels"] == {
        "topic": new_topic,
        "stance": new_stance,
        "humanitarian": not model["humanitarian"],
        "military": model["military"],
    }
    assert message["labeller"] == "anna" and message["note"] == "headline misleads"
    assert message["model_version"] == model["model_version"]
    assert message["headline"] == model["headline"] and message["body"] == model["body"]
    tab.page.wait_for_function(
        "() => document.getElementById('undo-status').textContent.includes('can no longer be undone')"
    )


def test_undo_inside_the_window_publishes_nothing_and_later_is_refused(tabs, env: Env):
    kept, undone = env.take(2)
    tab = tabs("ben")
    tab.open_story(kept)
    tab.press("c")
    tab.page.wait_for_function("id => document.body.dataset.story !== id", arg=kept)
    tab.open_story(undone)
    tab.press("Enter")  # unchanged: a confirmation
    tab.page.wait_for_function("id => document.body.dataset.story !== id", arg=undone)
    tab.press("u")
    tab.wait_story(undone)  # back, and open again
    assert undone in tab.list_ids()
    found = labels_for(env, {kept}, timeout=UNDO_S + 20)
    time.sleep(UNDO_S + 1)
    found = labels_for(env, {kept}, timeout=2)
    assert kept in found and undone not in found
    assert found[kept][0]["labels"]["topic"] == env.review[kept]["topic"]
    tab.press("u")  # the confirmation of `kept` is published: too late
    tab.page.wait_for_function(
        "() => document.getElementById('toast').textContent.includes('too late to undo')"
    )


def test_a_script_in_a_headline_shows_as_text_and_never_runs(tabs, env: Env):
    tab = tabs("vic")
    tab.open_story(EVIL_ID)
    page = tab.page
    assert page.text_content("#s-headline") == EVIL_HEADLINE
    assert (
        page.eval_on_selector("#s-headline", "e => e.querySelectorAll('script, img').length") == 0
    )
    assert "</mark><b>bold</b> <script>window.__pwned=3</script>" in page.text_content("#s-body")
    assert page.eval_on_selector("#s-body", "e => e.querySelectorAll('b, script').length") == 0
    assert (
        page.eval_on_selector("#s-meta", "e => e.querySelectorAll('a').length") == 0
    )  # no javascript: link
    item = next(
        i for i in page.query_selector_all("#items > li") if i.get_attribute("data-id") == EVIL_ID
    )
    assert item.query_selector(".headline").text_content() == EVIL_HEADLINE
    for path in ("/stories/" + quote(EVIL_ID, safe=""), "/feed", "/alerts"):
        page.goto(env.url + path)
        page.wait_for_load_state("load")
        assert page.evaluate("document.querySelectorAll('main script, main img').length") == 0, path
    page.goto(env.url + "/stories/" + quote(EVIL_ID, safe=""))
    assert page.text_content("h1.headline") == EVIL_HEADLINE
    assert page.evaluate("window.__pwned") is None  # and tab.close() checks no dialog opened


def test_state_changes_without_a_session_or_csrf_token_are_refused(browser, tabs, env: Env):
    (story_id,) = env.take()
    tab = tabs("anna")
    body = json.dumps({"id": story_id, "action": "confirm"})
    status = tab.page.evaluate(
        """body => fetch('/api/decide', {method: 'POST', body,
             headers: {'Content-Type': 'application/json'}}).then(r => r.status)""",
        body,
    )
    assert status == 403  # signed in, but no CSRF token
    forged = tab.page.evaluate(
        """body => fetch('/api/decide', {method: 'POST', body,
             headers: {'Content-Type': 'application/json', 'X-CSRF-Token': 'forged'}}).then(r => r.status)""",
        body,
    )
    assert forged == 403
    stranger = browser.new_context()
    reply = stranger.request.post(
        env.url + "/api/decide", data=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status == 403  # no session at all
    reply = stranger.request.post(env.url + "/api/undo", data="{}", headers={"X-CSRF-Token": "x"})
    assert reply.status == 403
    assert stranger.request.get(env.url + "/api/queue").status == 401
    stranger.close()
    story = tab.api("/api/stories/" + quote(story_id, safe=""))
    assert story["queue"]["status"] == "waiting"  # none of it changed anything


def _claimed(tab: Page, story_id: str) -> bool:
    """Whether this tab's list shows the story as open by another editor."""
    return tab.page.evaluate(
        """id => [...document.querySelectorAll('#items > li')]
                   .some(e => e.dataset.id === id && e.classList.contains('claimed'))""",
        story_id,
    )


def test_two_editors_see_each_others_claims_live(tabs, env: Env):
    anna, ben = tabs("anna"), tabs("ben")
    order = ben.list_ids()
    free = [i for i in order if i not in env.used and i != EVIL_ID]
    # from the end: a tab that opens the queue opens (and claims) its first free story
    k = next(
        k for k in range(len(order) - 2, 0, -1) if all(x in free for x in order[k - 1 : k + 2])
    )
    before, held, after = order[k - 1 : k + 2]
    env.used.update((before, held, after))

    anna.open_story(held)
    ben.page.wait_for_function(
        """id => [...document.querySelectorAll('#items > li')]
                   .some(e => e.dataset.id === id && e.querySelector('.claim').textContent === 'with anna')""",
        arg=held,
    )
    assert _claimed(ben, held)
    ben.open_story(before)
    ben.press("j")  # skips the story anna has open
    ben.wait_story(after)
    ben.open_story(held)
    assert "Being reviewed by anna" in ben.page.text_content("#banner")
    assert ben.page.is_visible("#takeover")
    anna.open_story(before)  # anna moves on: ben sees it without reloading
    ben.page.wait_for_function(
        """([a, b]) => { const f = id => [...document.querySelectorAll('#items > li')].find(e => e.dataset.id === id);
                         return f(b).classList.contains('claimed') && !f(a).classList.contains('claimed'); }""",
        arg=[held, before],
    )


def test_the_feed_and_alerts_update_without_a_reload(tabs, env: Env, corpus):
    everything, only_uk, alerts = tabs("vic"), tabs("vic"), tabs("vic")
    everything.open("/feed")
    only_uk.open("/feed?language=uk")
    alerts.open("/alerts")
    uk = next(s for s in corpus if s.id.startswith("uk-"))
    en = next(s for s in corpus if s.id.startswith("en-"))
    uk_id, en_id = f"live-uk-{uuid.uuid4().hex[:6]}", f"live-en-{uuid.uuid4().hex[:6]}"
    lines = [
        json.dumps({"id": sid, "headline": s.headline, "body": s.body, "language": lang}).encode()
        for sid, s, lang in ((uk_id, uk, "uk"), (en_id, en, "en"))
    ]
    publish(env.settings, lines, progress=None)
    shown = "ids => ids.every(id => [...document.querySelectorAll('#items > *')].some(e => e.dataset.id === id))"
    everything.page.wait_for_function(shown, arg=[uk_id, en_id], timeout=30000)
    only_uk.page.wait_for_function(shown, arg=[uk_id], timeout=10000)
    assert en_id not in only_uk.page.eval_on_selector_all(
        "#items > tr", "els => els.map(e => e.dataset.id)"
    )
    # an alert arrives (any producer may write the alerts topic; the console shows its rules)
    alert_id = f"live-alert-{uuid.uuid4().hex[:6]}"
    record = dict(next(iter(env.review.values())), id=alert_id, alert_rules=["test-rule"])
    publish(
        env.settings, [json.dumps(record).encode()], topic=env.settings.topic_alerts, progress=None
    )
    alerts.page.wait_for_function(shown, arg=[alert_id], timeout=30000)
    assert alerts.page.text_content("#items > li:first-child .rules") == "test-rule"
    for tab, path in ((everything, "/feed"), (only_uk, "/feed?language=uk"), (alerts, "/alerts")):
        assert tab.page.url == env.url + path  # no reload happened
    env.used.update((uk_id, en_id))


def test_queue_state_and_undecided_labels_survive_a_restart(tabs, env: Env):
    decided, in_window = env.take(2)
    tab = tabs("anna")
    tab.open_story(decided)
    tab.press("c")
    labels_for(env, {decided}, timeout=UNDO_S + 20)
    tab.open_story(in_window)
    tab.press("c")  # its label is still in the outbox when the console stops
    tab.page.wait_for_function("id => document.body.dataset.story !== id", arg=in_window)
    waiting = tab.api("/api/queue?limit=1")["waiting"]
    env.restart_console()

    tab.open("/queue")  # the session cookie outlives the process
    again = tabs("anna")
    assert again.api("/api/queue?limit=1")["waiting"] == waiting
    ids = again.list_ids()
    assert decided not in ids and in_window not in ids
    found = labels_for(env, {in_window}, timeout=UNDO_S + 30)  # sent after the restart
    assert in_window in found
    again.page.goto(env.url + "/stories/" + quote(decided, safe=""))
    assert "confirmed by anna" in again.page.text_content(".status-line")


def test_figures_page_draws_its_charts(tabs, env: Env):
    tab = tabs("vic")
    tab.open("/figures")
    labels_chart = tab.page.text_content("#chart-labels")
    assert "anna" in labels_chart
    assert tab.page.eval_on_selector_all("#chart-labels svg rect", "els => els.length") > 0
    assert tab.page.eval_on_selector_all("#chart-agreement svg rect", "els => els.length") > 0
    assert tab.page.eval_on_selector_all("#chart-review svg rect", "els => els.length") > 0
