"""The streaming pipeline against the real embedded broker over TCP, worker in its own process."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from kafka import KafkaProducer

from tests.kafka_fixtures import committed_offsets
from wirestream.alerts import load_rules, matching_rules
from wirestream.deadletter import original_payload
from wirestream.routing import review_reasons
from wirestream.settings import Settings
from wirestream.story import story_text
from wirestream.streams.publish import publish

pytestmark = pytest.mark.kafka


def story_lines(corpus, n: int, prefix: str) -> list[bytes]:
    step = max(1, len(corpus) // n)
    return [
        json.dumps(
            {"id": f"{prefix}-{s.id}", "headline": s.headline, "body": s.body, "source": "test"},
            ensure_ascii=False,
        ).encode()
        for s in corpus[::step][:n]
    ]


MALFORMED = {
    "not_utf8": b"\xff\xfe\xfa not text",
    "invalid_json": b'{"id": "x", "headline": ',
    "not_an_object": b'["a", "list"]',
    "missing_field": json.dumps({"id": "m1", "headline": "No body here"}).encode(),
    "empty_field": json.dumps({"id": "m2", "headline": "   ", "body": "Text."}).encode(),
    "wrong_type": json.dumps({"id": 17, "headline": "Numeric id", "body": "Text."}).encode(),
    "body_too_large": json.dumps(
        {"id": "m3", "headline": "Huge", "body": "word " * 20000}
    ).encode(),
    "unsupported_language": json.dumps(
        {"id": "m4", "headline": "Hallo", "body": "Guten Tag.", "language": "de"}
    ).encode(),
    "too_deep": b"[" * 2000,
    "invalid_unicode": b'{"id": "m5", "headline": "\\ud800", "body": "b"}',
}


def test_every_valid_story_classified_routed_and_bad_input_dead_lettered(
    corpus, stream_settings: Settings, start_worker, reader_factory
):
    s = stream_settings
    valid = story_lines(corpus, 120, "r")
    messages = list(valid)
    for i, bad in enumerate(MALFORMED.values()):  # interleave the bad among the good
        messages.insert(1 + i * 12, bad)
    worker = start_worker(s)
    assert publish(s, messages, progress=None) == len(messages)

    reader = reader_factory(s, list(s.output_topics))
    assert reader.poll_until(
        lambda r: (
            len(r[s.topic_classified]) >= len(valid)
            and len(r[s.topic_deadletter]) >= len(MALFORMED)
        ),
        timeout=120,
    ), worker.output[-3000:]

    classified = reader.values(s.topic_classified)
    sent_ids = [json.loads(v)["id"] for v in valid]
    assert sorted(r["id"] for r in classified) == sorted(sent_ids)  # exactly N, same ids
    assert all(
        r.key.decode() == json.loads(r.value)["id"] for r in reader.records[s.topic_classified]
    )

    # routing agrees with each record's own classification
    rules = load_rules(s.alert_rules)
    by_id = {r["id"]: r for r in classified}
    want = {
        s.topic_humanitarian: {i for i, r in by_id.items() if r["humanitarian"]},
        s.topic_military: {i for i, r in by_id.items() if r["military"]},
        s.topic_alerts: {
            i
            for i, r in by_id.items()
            if matching_rules(rules, r, story_text(r["headline"], r["body"]))
        },
        s.topic_review: {i for i, r in by_id.items() if review_reasons(r, s.review_threshold)},
    }
    assert all(want.values()), "the sample should exercise every route"
    reader.poll_until(lambda r: all(len(r[t]) >= len(ids) for t, ids in want.items()), timeout=30)
    for topic, ids in want.items():
        assert sorted(reader.ids(topic)) == sorted(ids), topic
    for alert in reader.values(s.topic_alerts):
        text = story_text(alert["headline"], alert["body"])
        assert alert["alert_rules"] == matching_rules(rules, by_id[alert["id"]], text)
    for review in reader.values(s.topic_review):
        assert set(review["explanation"]) == {"topic", "stance", "humanitarian", "military"}

    # every kind of malformed message is dead-lettered with its reason and original bytes
    dead = reader.values(s.topic_deadletter)
    assert sorted(d["reason"] for d in dead) == sorted(MALFORMED)
    for d in dead:
        raw, kept = MALFORMED[d["reason"]], original_payload(d)
        assert kept == raw or (
            d["payload_truncated"] and raw.startswith(kept) and d["payload_size"] == len(raw)
        )
        assert d["source"]["topic"] == s.topic_input and d["source"]["offset"] >= 0
        assert d["detail"] and d["stage"] == "worker"
    assert worker.proc.poll() is None, "the worker must survive bad input"


def test_oversized_story_is_dead_lettered_with_a_prefix_and_digest_and_its_neighbours_classified(
    corpus, stream_settings: Settings, start_worker, reader_factory
):
    """A 3 MB story the broker accepts: once lost with its whole batch, now dead-lettered."""
    s = stream_settings
    big = json.dumps(
        {"id": "huge", "headline": "h", "body": "слово " * 300_000}, ensure_ascii=False
    ).encode()
    assert len(big) > 3_000_000
    neighbours = story_lines(corpus, 20, "nb")
    producer = KafkaProducer(
        bootstrap_servers=s.bootstrap_servers, max_request_size=16 * 1024 * 1024, acks="all"
    )
    for line in [*neighbours[:10], big, *neighbours[10:]]:
        producer.send(s.topic_input, key=None, value=line)
    producer.flush()
    producer.close()
    worker = start_worker(s)
    reader = reader_factory(s, [s.topic_classified, s.topic_deadletter])
    assert reader.poll_until(
        lambda r: len(r[s.topic_classified]) >= 20 and r[s.topic_deadletter], timeout=90
    ), worker.output[-3000:]
    assert sorted(reader.ids(s.topic_classified)) == sorted(json.loads(x)["id"] for x in neighbours)
    (dead,) = reader.values(s.topic_deadletter)
    assert dead["reason"] == "message_too_large"
    assert dead["payload_truncated"] and dead["payload_size"] == len(big)
    assert dead["payload_sha256"] == hashlib.sha256(big).hexdigest()
    assert (
        big.startswith(original_payload(dead))
        and len(original_payload(dead)) <= s.deadletter_max_payload_bytes
    )
    assert worker.proc.poll() is None


def test_confluent_kafka_client_produces_and_reads_classified(
    corpus, stream_settings: Settings, start_worker
):
    import confluent_kafka as confluent  # a test dependency: missing must fail, not skip

    s = stream_settings
    start_worker(s)
    lines = story_lines(corpus, 40, "ck")
    producer = confluent.Producer({"bootstrap.servers": s.bootstrap_servers[0], "acks": "all"})
    for line in lines:
        producer.produce(s.topic_input, key=json.loads(line)["id"].encode(), value=line)
    assert producer.flush(30) == 0

    consumer = confluent.Consumer(
        {
            "bootstrap.servers": s.bootstrap_servers[0],
            "group.id": "unused-assign-only",
            "enable.auto.commit": False,
        }
    )
    meta = consumer.list_topics(s.topic_classified, timeout=10)
    parts = meta.topics[s.topic_classified].partitions
    # assign() from offset 0: this broker's group consumer with auto.offset.reset hangs
    consumer.assign([confluent.TopicPartition(s.topic_classified, p, 0) for p in parts])
    seen: dict[str, dict] = {}
    deadline = time.monotonic() + 120
    while len(seen) < len(lines) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        rec = json.loads(msg.value())
        seen[rec["id"]] = rec
    consumer.close()
    assert set(seen) == {json.loads(line)["id"] for line in lines}
    assert all(r["topic_code"].startswith("medtop:") for r in seen.values())


def assert_commits_never_pass_an_unsent_story(
    settings: Settings, reader, sent_ids: set[str]
) -> dict[int, int]:
    """The at-least-once property itself: every input offset below the group's committed
    offset has its record on the classified topic. Returns the committed offsets."""
    committed = committed_offsets(settings, settings.topic_input)
    out_ids = set(reader.ids(settings.topic_classified))
    behind = [
        (r.partition, r.offset, r.key.decode())
        for r in reader.records[settings.topic_input]
        if r.offset < committed.get(r.partition, 0)
        and r.key
        and r.key.decode() in sent_ids
        and r.key.decode() not in out_ids
    ]
    assert behind == [], (
        f"committed past {len(behind)} stories that were never classified: {behind[:5]}"
    )
    return committed


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_restart_mid_stream_loses_nothing_and_commits_only_what_was_sent(
    corpus, stream_settings: Settings, start_worker, reader_factory, sig
):
    s = stream_settings.replace(batch_size=16, commit_interval_s=0.3)
    lines = [line for rep in range(6) for line in story_lines(corpus, 400, f"rs{rep}")]
    sent = {json.loads(line)["id"] for line in lines}
    first = start_worker(s)
    publish(s, lines, progress=None)
    reader = reader_factory(s, [s.topic_classified, s.topic_input])
    # stop at a moment chosen by progress, while the stream is still flowing
    assert reader.poll_until(lambda r: len(r[s.topic_classified]) >= len(sent) // 4, timeout=120)
    first.stop(sig)
    reader.poll_until(lambda r: len(r[s.topic_input]) >= len(sent), timeout=30)
    stopped_at = len(set(reader.ids(s.topic_classified)))
    assert stopped_at < len(sent), "the stop came too late to be mid-stream"
    committed = assert_commits_never_pass_an_unsent_story(s, reader, sent)
    assert sum(committed.values()) > 0, "the worker committed nothing in a quarter of the stream"

    second = start_worker(s)
    assert reader.poll_until(lambda r: set(reader.ids(s.topic_classified)) >= sent, timeout=180), (
        second.output[-3000:]
    )
    records = reader.values(s.topic_classified)
    assert {r["id"] for r in records} == sent
    duplicates = len(records) - len(sent)
    print(
        f"\n{sig.name}: stopped after {stopped_at} of {len(sent)}; {duplicates} duplicates re-sent after the restart"
    )
    first_seen: dict[str, dict] = {}
    for r in records:  # duplicates carry the same id and the same classification
        prev = first_seen.setdefault(r["id"], r)
        for key in ("topic", "stance", "humanitarian", "military", "model_version"):
            assert prev[key] == r[key]


def test_topics_create_is_idempotent_with_configured_partitions(broker):
    env = {
        "WIRESTREAM_BROKER": f"kafka://{broker.bootstrap}",
        "WIRESTREAM_TOPIC_INPUT": "idem.in",
        "WIRESTREAM_PARTITIONS": "3",
    }
    for name in (
        "CLASSIFIED",
        "HUMANITARIAN",
        "MILITARY",
        "ALERTS",
        "REVIEW",
        "DEADLETTER",
        "LABELS",
        "MODELS",
    ):
        env[f"WIRESTREAM_TOPIC_{name}"] = f"idem.{name.lower()}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    cmd = [sys.executable, "-m", "wirestream.cli", "topics", "create"]
    first = subprocess.run(cmd, env=base | env, capture_output=True, text=True, check=True)
    second = subprocess.run(cmd, env=base | env, capture_output=True, text=True, check=True)
    assert first.stdout.count("created") == 9
    assert second.stdout.count("exists") == 9
    from kafka import KafkaConsumer

    c = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    assert c.partitions_for_topic("idem.in") == {0, 1, 2}
    assert c.partitions_for_topic("idem.models") == {0}, "the control topic has one partition"
    c.close()
    mismatch = subprocess.run(
        [*cmd, "--partitions", "5"], env=base | env, capture_output=True, text=True
    )
    assert mismatch.returncode == 1 and "exists with 3 partitions (configured 5)" in mismatch.stdout


def test_worker_does_not_create_topics_unless_asked(broker, stream_settings: Settings):
    from wirestream.streams.worker_process import WorkerProcess

    s = stream_settings.replace(topic_input="never.created.input")
    refused = WorkerProcess(s)
    assert refused.proc.wait(60) == 2
    assert "topics missing" in refused.output and "wirestream topics create" in refused.output
    assert "Traceback" not in refused.output


def test_broker_command_reports_ready_and_stops_on_sigint():
    from wirestream.streams.broker import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wirestream.cli", "broker", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert f"ready on 127.0.0.1:{port}" in first
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    assert "stopped" in proc.stdout.read()


def _cli(settings: Settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")
    } | settings.to_env()
    return subprocess.run(
        [sys.executable, "-m", "wirestream.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_publish_and_tail_commands(broker, stream_settings: Settings, tmp_path, corpus):
    s = stream_settings
    lines = [*story_lines(corpus, 5, "cli"), b"{broken"]
    path = tmp_path / "stories.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    pub = _cli(s, "publish", str(path))
    assert pub.returncode == 0 and "published 6 messages" in pub.stderr
    assert "6/6 stories" in pub.stderr  # the progress bar
    tail = _cli(s, "tail", s.topic_input, "--from-beginning", "--json", "--idle-timeout", "20")
    assert sorted(tail.stdout.splitlines()) == sorted(line.decode() for line in lines)
    for n in (1, 2, 5):  # --max prints exactly that many, whichever partitions they come from
        got = _cli(
            s,
            "tail",
            s.topic_input,
            "--from-beginning",
            "--json",
            "--max",
            str(n),
            "--idle-timeout",
            "20",
        )
        assert len(got.stdout.splitlines()) == n, (n, got.stdout)


def test_commands_fail_in_one_line_naming_what_is_wrong(stream_settings: Settings, tmp_path):
    s = stream_settings
    unreachable = s.replace(broker="kafka://127.0.0.1:1")
    for args, settings, expected in (
        (
            ["publish", str(tmp_path / "missing.jsonl")],
            s,
            f"input file {tmp_path / 'missing.jsonl'} does not exist",
        ),
        (
            ["tail", s.topic_input, "--max", "1"],
            unreachable,
            "no Kafka broker answers at 127.0.0.1:1",
        ),
        (["topics", "create"], unreachable, "no Kafka broker answers at 127.0.0.1:1"),
    ):
        result = _cli(settings, *args, timeout=90)
        assert result.returncode == 2, result
        assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
            result.stderr
        )
        assert "Traceback" not in result.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    bad = subprocess.run(
        [sys.executable, "-m", "wirestream.cli", "worker"],
        env=env | {"WIRESTREAM_PARTITIONS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == "wirestream worker: WIRESTREAM_PARTITIONS=0: must be at least 1"
    )


def test_busy_metrics_port_is_named(stream_settings: Settings):
    import socket

    from wirestream.streams.worker_process import WorkerProcess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", stream_settings.metrics_port))
        sock.listen()
        w = WorkerProcess(stream_settings)
        assert w.proc.wait(60) == 2
    assert f"cannot listen on 127.0.0.1:{stream_settings.metrics_port}" in w.output
    assert "Traceback" not in w.output


def test_worker_refuses_a_bad_model_or_waits_for_one(
    stream_settings: Settings, tmp_path, model_dir
):
    import shutil
    import urllib.request

    from wirestream.streams.worker_process import WorkerProcess

    empty = tmp_path / "no-model-yet"
    empty.mkdir()
    s = stream_settings.replace(model_dir=empty)
    refused = WorkerProcess(s)
    assert refused.proc.wait(60) == 2
    assert "no model manifest" in refused.output

    waiting = WorkerProcess(s.replace(model_retry_s=0.3))
    try:
        url = f"http://127.0.0.1:{s.metrics_port}/metrics"
        failures = 0.0
        deadline = time.monotonic() + 60
        while failures < 2 and time.monotonic() < deadline:
            try:
                text = urllib.request.urlopen(url, timeout=2).read().decode()
                line = next(
                    x
                    for x in text.splitlines()
                    if x.startswith('wirestream_model_load_failures_total{reason="missing"}')
                )
                failures = float(line.split()[1])
            except OSError:
                time.sleep(0.2)
        assert failures >= 2, waiting.output[-2000:]
        assert waiting.proc.poll() is None
        ready = urllib.request.Request(f"http://127.0.0.1:{s.metrics_port}/ready")
        with pytest.raises(urllib.error.HTTPError):  # 503 until a model and partitions
            urllib.request.urlopen(ready, timeout=2)
        shutil.copytree(model_dir, empty, dirs_exist_ok=True)  # the model arrives
        assert waiting.wait_ready(90), waiting.output[-3000:]
        assert urllib.request.urlopen(ready, timeout=2).status == 200
    finally:
        waiting.stop()


def test_dead_letter_record_of_non_utf8_key_keeps_its_bytes(
    stream_settings: Settings, start_worker, reader_factory
):
    s = stream_settings
    producer = KafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all")
    producer.send(s.topic_input, key=b"\xff\x00key", value=None).get(timeout=30)  # a tombstone
    producer.close()
    start_worker(s)
    reader = reader_factory(s, [s.topic_deadletter])
    assert reader.poll_until(lambda r: r[s.topic_deadletter], timeout=60)
    (dead,) = reader.values(s.topic_deadletter)
    assert dead["reason"] == "empty_payload" and dead["payload"] is None
    assert dead["key_encoding"] == "base64" and base64.b64decode(dead["key"]) == b"\xff\x00key"
