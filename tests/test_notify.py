"""The notifier against the embedded broker and a local webhook that fails at first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wirestream.settings import Settings
from wirestream.streams.notify import DeliveryFailed, post_with_retries, slack_message
from wirestream.streams.publish import publish

pytestmark = pytest.mark.kafka


class Webhook:
    """Records every POST; answers the first ``fail_first`` with ``fail_status``."""

    def __init__(self, fail_first: int = 0, fail_status: int = 503) -> None:
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.attempts: list[dict] = []
        self.accepted: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.attempts.append(body)
                if len(hook.attempts) <= hook.fail_first:
                    self.send_response(hook.fail_status)
                else:
                    hook.accepted.append(body)
                    self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()


def _alert(i: int) -> dict:
    return {
        "id": f"a{i}",
        "headline": f"Shelling hits aid convoy {i}",
        "topic": "conflict, war and peace",
        "stance": "confrontational",
        "focus": "mixed",
        "language": "en",
        "alert_rules": ["attack-on-civilians"],
        "model_version": "test",
    }


def _notify(settings: Settings, webhook: str, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    env |= settings.to_env() | {
        "WIRESTREAM_WEBHOOK_URL": webhook,
        "WIRESTREAM_NOTIFY_BACKOFF_S": "0.05",
    }
    return subprocess.run(
        [sys.executable, "-m", "wirestream.cli", "notify", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_slack_body_names_story_and_rules():
    body = slack_message(_alert(1) | {"url": "https://example.org/s/1"})
    assert "attack-on-civilians" in body["text"] and "Shelling hits aid convoy 1" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert "https://example.org/s/1" in body["blocks"][1]["elements"][0]["text"]


def test_retries_then_delivers_and_gives_up_without_losing():
    hook = Webhook(fail_first=2)
    slept: list[float] = []
    try:
        outcome = post_with_retries(
            hook.url, {"text": "x"}, max_attempts=5, backoff_s=0.5, sleep=slept.append
        )
        assert outcome.delivered and outcome.attempts == 3
        assert slept == [0.5, 1.0]  # exponential backoff
        hook.fail_first = 100
        with pytest.raises(DeliveryFailed):
            post_with_retries(
                hook.url, {"text": "y"}, max_attempts=3, backoff_s=0, sleep=slept.append
            )
    finally:
        hook.close()


def test_notifier_delivers_every_alert_despite_failures_and_commits_after_delivery(stream_settings):
    s = stream_settings
    alerts = [_alert(i) for i in range(6)]
    publish(s, [json.dumps(a).encode() for a in alerts], topic=s.topic_alerts, progress=None)
    hook = Webhook(fail_first=3)
    try:
        proc = _notify(s, hook.url, "--max", "6")
        assert proc.returncode == 0, proc.stderr
        delivered = sorted(b["text"] for b in hook.accepted)
        assert delivered == sorted(slack_message(a)["text"] for a in alerts)
        assert len(hook.attempts) == 6 + 3
        # committed: a second run finds nothing new to send
        again = _notify(s, hook.url, "--idle-timeout", "3")
        assert again.returncode == 0
        assert len(hook.accepted) == 6
    finally:
        hook.close()


def test_unreachable_webhook_exits_without_commit_then_delivers_on_restart(stream_settings):
    s = stream_settings.replace(notify_max_attempts=3)
    publish(s, [json.dumps(_alert(42)).encode()], topic=s.topic_alerts, progress=None)
    down = Webhook(fail_first=1000)
    try:
        failed = _notify(s, down.url, "--max", "1")
        assert failed.returncode == 3
        assert "without committing" in failed.stderr
        assert len(down.attempts) == 3 and not down.accepted
    finally:
        down.close()
    up = Webhook()
    try:
        ok = _notify(s, up.url, "--max", "1")
        assert ok.returncode == 0, ok.stderr
        assert [b["text"] for b in up.accepted] == [slack_message(_alert(42))["text"]]
    finally:
        up.close()


def test_rejected_alert_goes_to_dead_letter_not_lost(stream_settings, reader_factory):
    s = stream_settings
    publish(s, [json.dumps(_alert(7)).encode()], topic=s.topic_alerts, progress=None)
    hook = Webhook(fail_first=1000, fail_status=400)
    try:
        proc = _notify(s, hook.url, "--max", "1")
        assert proc.returncode == 0, proc.stderr
    finally:
        hook.close()
    reader = reader_factory(s, [s.topic_deadletter])
    assert reader.poll_until(lambda r: len(r[s.topic_deadletter]) >= 1, timeout=30)
    (dead,) = reader.values(s.topic_deadletter)
    assert dead["reason"] == "webhook_rejected" and "HTTP 400" in dead["detail"]
    assert json.loads(dead["payload"])["id"] == "a7"
