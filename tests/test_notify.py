"""The notifier against the embedded broker and a local webhook: delivery, commits, rebalances, input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from kafka import KafkaProducer

from wirestream.deadletter import original_payload
from wirestream.settings import Settings
from wirestream.streams.notify import DeliveryFailed, mrkdwn, post_with_retries, slack_message
from wirestream.streams.publish import publish
from wirestream.streams.worker_process import ServiceProcess

pytestmark = pytest.mark.kafka


class Webhook:
    """Records every POST; answers the first ``fail_first`` with ``fail_status``; may be slow."""

    def __init__(self, fail_first: int = 0, fail_status: int = 503, delay_s: float = 0.0) -> None:
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay_s = delay_s
        self.attempts: list[dict] = []
        self.accepted: list[dict] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(hook.delay_s)
                with hook.lock:
                    hook.attempts.append(body)
                    failing = len(hook.attempts) <= hook.fail_first
                    if not failing:
                        hook.accepted.append(body)
                self.send_response(hook.fail_status if failing else 200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def story_ids(self) -> list[str]:
        """The story id each accepted post names (from its context block)."""
        return [
            b["blocks"][1]["elements"][0]["text"].split(" · ")[0].removeprefix("story ")
            for b in self.accepted
        ]

    def close(self) -> None:
        self.server.shutdown()


def _alert(i: int, **extra) -> dict:
    return {
        "id": f"a{i}",
        "headline": f"Shelling hits aid convoy {i}",
        "topic": "conflict, war and peace",
        "stance": "confrontational",
        "focus": "mixed",
        "language": "en",
        "alert_rules": ["attack-on-civilians"],
        "model_version": "test",
    } | extra


def _env(settings: Settings, webhook: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    return (
        env
        | settings.to_env()
        | {"WIRESTREAM_WEBHOOK_URL": webhook, "WIRESTREAM_NOTIFY_BACKOFF_S": "0.05"}
    )


def _notify(
    settings: Settings, webhook: str, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wirestream.cli", "notify", *extra],
        env=_env(settings, webhook),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _notifier(settings: Settings, webhook: str, *extra: str) -> ServiceProcess:
    return ServiceProcess(
        ["notify", *extra],
        settings,
        "partitions assigned",
        extra_env={"WIRESTREAM_WEBHOOK_URL": webhook},
    )


def test_slack_body_names_story_and_rules_and_escapes_wire_copy():
    body = slack_message(
        _alert(1) | {"url": "https://example.org/s/1"}, console_url="https://console.example/"
    )
    assert "attack-on-civilians" in body["text"] and "Shelling hits aid convoy 1" in body["text"]
    context = body["blocks"][1]["elements"][0]["text"]
    assert "https://example.org/s/1" in context
    assert "<https://console.example/stories/a1|open in the review console>" in context
    evil = slack_message(
        _alert(2, headline="<!channel> read <http://evil.example|the report> & more")
    )
    text = json.dumps(evil)
    assert "<!channel>" not in text and "<http://evil" not in text
    assert mrkdwn("<!here> & <x|y>") == "&lt;!here&gt; &amp; &lt;x|y&gt;"


def test_retries_then_delivers_and_gives_up_without_losing():
    hook = Webhook(fail_first=2)
    slept: list[float] = []
    try:
        with httpx.Client(timeout=5) as client:
            outcome = post_with_retries(
                client,
                hook.url,
                {"text": "x"},
                max_attempts=5,
                backoff_s=0.5,
                budget_s=60,
                sleep=slept.append,
            )
            assert outcome.delivered and outcome.attempts == 3
            assert slept == [0.5, 1.0]  # exponential backoff
            hook.fail_first = 100
            with pytest.raises(DeliveryFailed):
                post_with_retries(
                    client,
                    hook.url,
                    {"text": "y"},
                    max_attempts=3,
                    backoff_s=0.01,
                    budget_s=60,
                    sleep=slept.append,
                )
            rejected = Webhook(fail_first=100, fail_status=400)
            outcome = post_with_retries(
                client, rejected.url, {"text": "z"}, max_attempts=5, backoff_s=0.01, budget_s=60
            )
            assert (
                not outcome.delivered
                and outcome.attempts == 1
                and "HTTP 400" in outcome.permanent_error
            )
            rejected.close()
    finally:
        hook.close()


def test_notifier_delivers_every_alert_despite_failures_and_commits_only_after_delivery(
    stream_settings,
):
    s = stream_settings
    alerts = [_alert(i) for i in range(6)]
    publish(s, [json.dumps(a).encode() for a in alerts], topic=s.topic_alerts, progress=None)
    hook = Webhook(fail_first=3)
    try:
        proc = _notify(s, hook.url, "--max", "6")
        assert proc.returncode == 0, proc.stderr
        assert sorted(hook.story_ids()) == [f"a{i}" for i in range(6)]
        assert len(hook.attempts) == 6 + 3
        # committed: a second run in the same group, given time to join, gets only the new alert
        publish(s, [json.dumps(_alert(99)).encode()], topic=s.topic_alerts, progress=None)
        again = _notify(s, hook.url, "--max", "1", timeout=120)
        assert again.returncode == 0, again.stderr
        assert sorted(hook.story_ids()) == [*(f"a{i}" for i in range(6)), "a99"]
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
        assert up.story_ids() == ["a42"]
    finally:
        up.close()


def test_tombstones_non_json_and_rejected_alerts_go_to_dead_letter_in_the_workers_format(
    stream_settings, reader_factory
):
    s = stream_settings
    producer = KafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all")
    producer.send(s.topic_alerts, key=b"t1", value=None)  # a tombstone
    producer.send(s.topic_alerts, key=None, value=b"\xff\xfe not json")
    producer.send(s.topic_alerts, key=None, value=json.dumps([1, 2]).encode())
    producer.send(s.topic_alerts, key=b"a7", value=json.dumps(_alert(7)).encode())
    producer.flush()
    producer.close()
    hook = Webhook(fail_first=1000, fail_status=400)
    try:
        proc = _notify(s, hook.url, "--max", "4")
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        hook.close()
    reader = reader_factory(s, [s.topic_deadletter])
    assert reader.poll_until(lambda r: len(r[s.topic_deadletter]) >= 4, timeout=30)
    dead = {d["reason"]: d for d in reader.values(s.topic_deadletter)}
    assert set(dead) == {"empty_payload", "not_utf8", "not_an_object", "webhook_rejected"}
    assert all(
        d["stage"] == "notifier" and d["source"]["topic"] == s.topic_alerts for d in dead.values()
    )
    assert original_payload(dead["not_utf8"]) == b"\xff\xfe not json"  # bytes kept, not replaced
    assert json.loads(original_payload(dead["webhook_rejected"]))["id"] == "a7"
    assert "HTTP 400" in dead["webhook_rejected"]["detail"]


def test_a_rebalance_during_a_slow_webhook_posts_each_alert_once(stream_settings):
    """Notifier A is mid-post when B joins the group: A finishes and commits before letting go."""
    s = stream_settings
    alerts = [_alert(i) for i in range(12)]
    publish(s, [json.dumps(a).encode() for a in alerts], topic=s.topic_alerts, progress=None)
    hook = Webhook(delay_s=1.5)
    first = _notifier(s, hook.url)
    second = None
    try:
        assert first.wait_ready(60), first.output
        deadline = time.monotonic() + 60
        while len(hook.attempts) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        second = _notifier(s, hook.url)
        deadline = time.monotonic() + 120
        while len(hook.accepted) < len(alerts) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(5)  # any duplicate would come now
        ids = hook.story_ids()
        assert sorted(ids) == sorted(a["id"] for a in alerts), ids
        assert "partitions assigned" in second.output, "the second notifier never took partitions"
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.stop(signal.SIGTERM, timeout=60)
        hook.close()


def test_a_notifier_stopped_before_its_group_join_leaves_the_group_working(stream_settings):
    s = stream_settings
    hook = Webhook()
    try:
        early = _notifier(s, hook.url)
        time.sleep(1.0)  # the join takes about half the session timeout on this broker
        assert early.stop(signal.SIGTERM, timeout=60) == 0
        publish(s, [json.dumps(_alert(5)).encode()], topic=s.topic_alerts, progress=None)
        started = time.monotonic()
        try:
            proc = _notify(s, hook.url, "--max", "1", timeout=45)
        except subprocess.TimeoutExpired:
            pytest.fail("the group stalled after the early stop: nothing delivered in 45 s")
        assert proc.returncode == 0, proc.stderr
        assert hook.story_ids() == ["a5"]
        assert time.monotonic() - started < 45, "the group stalled after the early stop"
        assert "partitions assigned" in early.output, "it left before its join completed"
    finally:
        hook.close()
