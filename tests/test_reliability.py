"""Broken on purpose: crashes, floods of bad input, scale-out, a stalled or restarted broker,
and sends that fail. All against the real broker over TCP, each bounded in time."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from tests.kafka_fixtures import TopicReader, committed_offsets, own_settings
from tests.test_stream_integration import assert_commits_never_pass_an_unsent_story, story_lines
from wirestream.deadletter import original_payload
from wirestream.settings import Settings
from wirestream.story import REASONS
from wirestream.streams.admin import ensure_topics
from wirestream.streams.broker import EmbeddedBroker, free_port
from wirestream.streams.publish import publish
from wirestream.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.kafka


def _ids(lines: list[bytes]) -> set[str]:
    return {json.loads(line)["id"] for line in lines}


def _many(corpus, n: int, prefix: str) -> list[bytes]:
    reps = -(-n // len(corpus))
    lines = [
        line for rep in range(reps) for line in story_lines(corpus, len(corpus), f"{prefix}{rep}")
    ]
    return lines[:n]


def test_kill_9_three_times_during_a_5000_story_stream_loses_nothing(
    corpus, stream_settings, start_worker, reader_factory
):
    s = stream_settings.replace(batch_size=64, commit_interval_s=0.5, broker_session_timeout_s=6)
    lines = _many(corpus, 5000, "k9")
    sent = _ids(lines)
    publish(s, lines, progress=None)
    reader = reader_factory(s, [s.topic_classified, s.topic_input])
    kills = []
    for round_ in range(3):
        worker = start_worker(s)
        target = (round_ + 1) * len(sent) // 4
        assert reader.poll_until(
            lambda r, t=target: len(set(reader.ids(s.topic_classified))) >= t, timeout=120
        ), worker.output[-2000:]
        os.kill(worker.pid, signal.SIGKILL)
        worker.proc.wait(30)
        kills.append(len(set(reader.ids(s.topic_classified))))
    reader.poll_until(lambda r: len(r[s.topic_input]) >= len(sent), timeout=30)
    assert_commits_never_pass_an_unsent_story(s, reader, sent)
    start_worker(s)
    assert reader.poll_until(lambda r: set(reader.ids(s.topic_classified)) >= sent, timeout=180)
    got = reader.ids(s.topic_classified)
    assert set(got) == sent, "lost stories"
    print(
        f"\nkill -9 after {kills} of {len(sent)} classified: 0 lost, {len(got) - len(sent)} duplicates"
    )


def _malformed(rng: random.Random, valid: list[bytes], i: int) -> bytes:
    """One bad payload of a kind chosen by the seeded generator; every one must be dead-lettered."""
    good = json.loads(rng.choice(valid))
    kind = i % 12
    if kind == 0:  # truncated JSON
        raw = json.dumps(good, ensure_ascii=False).encode()
        return raw[: rng.randrange(1, len(raw) - 1)]
    if kind == 1:  # wrong types
        field = rng.choice(["id", "headline", "body", "language", "url"])
        return json.dumps(good | {field: rng.choice([17, 3.5, [1], {"a": 1}, True])}).encode()
    if kind == 2:  # huge fields
        field, size = rng.choice(
            [("id", 2000), ("headline", 5000), ("url", 9000), ("body", 70000), ("note", 9000)]
        )
        return json.dumps(good | {field: "x" * size}).encode()
    if kind == 3:  # raw NUL and control bytes inside the JSON text
        raw = json.dumps(good, ensure_ascii=False).encode()
        at = rng.randrange(10, len(raw) - 10)
        return raw[:at] + b"\x00\x01" + raw[at:]
    if kind == 4:  # invalid UTF-8
        raw = json.dumps(good, ensure_ascii=False).encode()
        at = rng.randrange(0, len(raw))
        return (
            raw[:at]
            + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
            + raw[at:]
        )
    if kind == 5:  # deeply nested JSON
        depth = rng.randrange(17, 3000)
        return (
            json.dumps(good | {"x": 0}).encode()[:-1]
            + b', "deep": '
            + b"[" * depth
            + b"]" * depth
            + b"}"
        )
    if kind == 6:  # over the message size limit
        return json.dumps(good | {"body": "слово " * 30000}, ensure_ascii=False).encode()
    if kind == 7:  # lone surrogates
        return json.dumps(
            good | {"headline": good["headline"] + "\ud800"}
        ).encode()  # ASCII-escaped
    if kind == 8:  # NaN / Infinity
        return json.dumps(good).encode()[:-1] + rng.choice(
            [b', "score": NaN}', b', "score": -Infinity}']
        )
    if kind == 9:  # not an object
        return rng.choice([b"[]", b"42", b'"a string"', b"null", b"true"])
    if kind == 10:  # missing or empty fields, unsupported language
        return json.dumps(
            rng.choice([{"id": good["id"]}, good | {"body": "  "}, good | {"language": "fr"}])
        ).encode()
    return b""  # empty value


def test_2000_malformed_payloads_among_2000_valid_stories(
    corpus, stream_settings, start_worker, reader_factory
):
    s = stream_settings
    rng = random.Random(20261130)
    valid = _many(corpus, 2000, "fl")
    bad = [_malformed(rng, valid, i) for i in range(1999)]
    bad.append(
        json.dumps({"id": "ten-mb", "headline": "h", "body": "z" * (10 * 1024 * 1024)}).encode()
    )
    messages: list[tuple[str, bytes]] = [("ok", v) for v in valid] + [("bad", b) for b in bad]
    rng.shuffle(messages)
    producer = KafkaProducer(
        bootstrap_servers=s.bootstrap_servers,
        acks="all",
        max_request_size=16 * 1024 * 1024,
        linger_ms=5,
    )
    for kind, value in messages:
        key = json.loads(value)["id"].encode() if kind == "ok" else None
        producer.send(s.topic_input, key=key, value=value)
    producer.flush()
    producer.close()
    worker = start_worker(s)
    reader = reader_factory(s, [s.topic_classified, s.topic_deadletter])
    assert reader.poll_until(
        lambda r: (
            worker.proc.poll() is not None
            or (len(r[s.topic_classified]) >= len(valid) and len(r[s.topic_deadletter]) >= len(bad))
        ),
        timeout=300,
    ), worker.output[-3000:]
    assert worker.proc.poll() is None, f"the worker died:\n{worker.output[-3000:]}"
    assert set(reader.ids(s.topic_classified)) == _ids(valid), "a valid story was lost"
    dead = reader.values(s.topic_deadletter)
    assert len(dead) == len(bad), "each bad message is dead-lettered exactly once (no restarts)"
    by_digest = Counter(hashlib.sha256(b).hexdigest() for b in bad)
    assert (
        Counter(
            d["payload_sha256"] if d["payload"] is not None else hashlib.sha256(b"").hexdigest()
            for d in dead
        )
        == by_digest
    )
    for d in dead:
        assert d["reason"] in REASONS and d["detail"]
        if d["payload"] is not None:
            kept = original_payload(d)
            assert len(kept) == d["payload_size"] or d["payload_truncated"]
    reasons = Counter(d["reason"] for d in dead)
    print(f"\ndead-letter reasons: {dict(reasons)}")
    assert worker.proc.poll() is None and "Restarting" not in worker.output
    metrics = _metrics(s)
    assert metrics["wirestream_stories_consumed_total"] == len(valid) + len(bad)


def _metrics(s: Settings) -> dict[str, float]:
    """Unlabelled samples of the worker's /metrics, parsed by prometheus_client."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{s.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def test_two_workers_share_the_partitions_and_one_takes_over_when_the_other_dies(
    corpus, stream_settings, reader_factory
):
    s = stream_settings.replace(batch_size=32, commit_interval_s=0.5)
    a = WorkerProcess(s)
    b = WorkerProcess(s.replace(metrics_port=free_port()))
    try:
        assert a.wait_ready(90) and b.wait_ready(90), a.output[-2000:] + b.output[-2000:]
        lines = _many(corpus, 3000, "two")
        sent = _ids(lines)
        publish(s, lines, progress=None)
        reader = reader_factory(s, [s.topic_classified, s.topic_input])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            "partitions assigned [" in w.output for w in (a, b)
        ):
            time.sleep(0.2)
        split = [_assigned(w.output) for w in (a, b)]
        assert split[0] and split[1] and not set(split[0]) & set(split[1]), split
        assert reader.poll_until(
            lambda r: len(set(reader.ids(s.topic_classified))) >= len(sent) // 3, timeout=120
        )
        os.kill(a.pid, signal.SIGKILL)
        assert reader.poll_until(
            lambda r: set(reader.ids(s.topic_classified)) >= sent, timeout=180
        ), b.output[-3000:]
        assert b.proc.poll() is None
        assert len(_assigned(b.output)) == s.partitions, "the survivor should own every partition"
    finally:
        a.stop(signal.SIGKILL)
        b.stop(signal.SIGKILL)


def _assigned(output: str) -> list[str]:
    """The partitions in the last assignment a worker logged."""
    lines = [
        ln
        for ln in output.splitlines()
        if "partitions assigned [" in ln or "partitions reassigned: [" in ln
    ]
    if not lines:
        return []
    inside = lines[-1].split("[", 1)[1].rsplit("]", 1)[0]
    return [p.strip() for p in inside.split(",") if "[" in p]


@pytest.fixture
def own_broker(tmp_path: Path, model_dir: Path, keys) -> Iterator[tuple[EmbeddedBroker, Settings]]:
    """A broker of this test's own (it is paused, restarted or faulted)."""
    broker = EmbeddedBroker().start()
    settings = own_settings(broker.port, tmp_path, model_dir, keys)
    ensure_topics(settings)
    try:
        yield broker, settings
    finally:
        broker.stop()


def test_broker_paused_for_15_s_the_worker_recovers_by_itself(corpus, own_broker):
    broker, s = own_broker
    worker = WorkerProcess(s)
    try:
        assert worker.wait_ready(90), worker.output[-3000:]
        lines = _many(corpus, 3000, "pause")
        sent = _ids(lines)
        publish(s, lines, progress=None)
        reader = TopicReader(s, [s.topic_classified])
        assert reader.poll_until(lambda r: len(r[s.topic_classified]) >= 300, timeout=60)
        os.kill(broker.process.pid, signal.SIGSTOP)
        time.sleep(15)
        os.kill(broker.process.pid, signal.SIGCONT)
        assert reader.poll_until(
            lambda r: set(reader.ids(s.topic_classified)) >= sent, timeout=180
        ), worker.output[-3000:]
        assert worker.proc.poll() is None, "the worker should have recovered, not exited"
        reader.close()
    finally:
        worker.stop(signal.SIGKILL)


def test_broker_restarted_the_worker_reconnects_or_exits_non_zero_never_hangs(
    corpus, tmp_path, model_dir, keys
):
    """The embedded broker keeps everything in memory, so its restart is a new, empty cluster:
    the worker must go on with the new stream, or exit non-zero so a supervisor restarts it."""
    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    s = own_settings(port, tmp_path, model_dir, keys)
    ensure_topics(s)
    worker = WorkerProcess(s)
    restarts = 0
    try:
        assert worker.wait_ready(90), worker.output[-3000:]
        before = _many(corpus, 500, "pre")
        publish(s, before, progress=None)
        reader = TopicReader(s, [s.topic_classified])
        assert reader.poll_until(
            lambda r: set(reader.ids(s.topic_classified)) >= _ids(before), timeout=60
        )
        reader.close()
        broker.stop()
        broker = EmbeddedBroker(port=port).start()
        ensure_topics(s)
        after = _many(corpus, 500, "post")
        publish(s, after, progress=None)
        reader = TopicReader(s, [s.topic_classified])
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if reader.poll_until(
                lambda r: set(reader.ids(s.topic_classified)) >= _ids(after), timeout=5
            ):
                break
            code = worker.proc.poll()
            if code is not None:  # a supervisor's job: a non-zero exit is restarted
                assert code != 0, "a worker that lost its broker must not exit 0"
                restarts += 1
                worker = WorkerProcess(s)
                assert worker.wait_ready(90), worker.output[-3000:]
        assert set(reader.ids(s.topic_classified)) >= _ids(after), worker.output[-3000:]
        reader.close()
        print(
            f"\nbroker restart: stream completed with {restarts} supervisor restarts of the worker"
        )
    finally:
        worker.stop(signal.SIGKILL)
        broker.stop()


def test_failed_sends_are_retried_then_the_worker_stops_without_committing_past_them(
    corpus, proxied_broker
):
    """Produce requests are cut at the network (a fault proxy in front of the real broker) while
    fetches and offset commits still pass: the worker must not acknowledge what it could not send."""
    proxy, _broker, s = proxied_broker
    s = s.replace(send_max_attempts=3, send_backoff_s=0.2, batch_size=32)
    worker = WorkerProcess(s)
    reader = TopicReader(s, [s.topic_classified, s.topic_input])
    try:
        assert worker.wait_ready(90), worker.output[-3000:]
        lines = _many(corpus, 3000, "cut")
        sent = _ids(lines)
        publish(s, lines, progress=None)
        assert reader.poll_until(lambda r: len(r[s.topic_classified]) >= 200, timeout=60)
        proxy.fail_produce = True
        code = worker.proc.wait(120)
        assert code == 3, worker.output[-3000:]
        assert (
            "undelivered after 3 attempts" in worker.output
            and "without acknowledging" in worker.output
        )
        assert proxy.produce_cut > 0
        time.sleep(2)  # any commit the dead worker had sent would have landed by now
        reader.poll_until(lambda r: len(r[s.topic_input]) >= len(sent), timeout=30)
        committed = assert_commits_never_pass_an_unsent_story(s, reader, sent)
        assert sum(committed.values()) > 0
        proxy.fail_produce = False
        worker = WorkerProcess(s)
        assert worker.wait_ready(90), worker.output[-3000:]
        assert reader.poll_until(
            lambda r: set(reader.ids(s.topic_classified)) >= sent, timeout=180
        ), worker.output[-3000:]
    finally:
        worker.stop(signal.SIGKILL)
        reader.close()


def test_committed_offsets_helper_reads_the_worker_group(stream_settings, start_worker, corpus):
    """Guards the tests above: the helper sees commits the worker makes."""
    s = stream_settings.replace(commit_interval_s=0.3)
    start_worker(s)
    publish(s, story_lines(corpus, 50, "cm"), progress=None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(committed_offsets(s, s.topic_input).values()) < 50:
        time.sleep(0.5)
    assert sum(committed_offsets(s, s.topic_input).values()) == 50
