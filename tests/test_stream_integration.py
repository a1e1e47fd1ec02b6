"""The streaming pipeline against the real embedded broker over TCP, worker in its own process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from wirestream.alerts import load_rules, matching_rules
from wirestream.routing import review_reasons
from wirestream.settings import Settings
from wirestream.story import story_text
from wirestream.streams.publish import publish

pytestmark = pytest.mark.kafka


def _story_lines(corpus, n: int, prefix: str) -> list[bytes]:
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
}


def test_every_valid_story_classified_routed_and_bad_input_dead_lettered(
    corpus, stream_settings: Settings, start_worker, reader_factory
):
    s = stream_settings
    valid = _story_lines(corpus, 120, "r")
    messages = list(valid)
    for i, bad in enumerate(MALFORMED.values()):  # interleave the bad among the good
        messages.insert(1 + i * 14, bad)
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
        got = [r["id"] for r in reader.values(topic)]
        assert sorted(got) == sorted(ids), topic
    for alert in reader.values(s.topic_alerts):
        text = story_text(alert["headline"], alert["body"])
        assert alert["alert_rules"] == matching_rules(rules, by_id[alert["id"]], text)

    # every kind of malformed message is dead-lettered with its reason and original bytes
    dead = reader.values(s.topic_deadletter)
    assert sorted(d["reason"] for d in dead) == sorted(MALFORMED)
    for d in dead:
        original = MALFORMED[d["reason"]]
        if d["payload_encoding"] == "base64":
            import base64

            assert base64.b64decode(d["payload"]) == original
        else:
            assert d["payload"].encode() == original
        assert d["source"]["topic"] == s.topic_input and d["source"]["offset"] >= 0
        assert d["detail"]
    assert worker.proc.poll() is None, "the worker must survive bad input"


def test_confluent_kafka_client_produces_and_reads_classified(
    corpus, stream_settings: Settings, start_worker
):
    import confluent_kafka as confluent  # a test dependency: missing must fail, not skip

    s = stream_settings
    start_worker(s)
    lines = _story_lines(corpus, 40, "ck")
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
    import time

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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_restart_mid_stream_loses_nothing(
    corpus, stream_settings: Settings, start_worker, reader_factory, sig
):
    s = stream_settings.replace(batch_size=16)
    lines = [line for rep in range(6) for line in _story_lines(corpus, 400, f"rs{rep}")]
    sent = {json.loads(line)["id"] for line in lines}
    first = start_worker(s)
    publish(s, lines, progress=None)
    reader = reader_factory(s, [s.topic_classified])
    assert reader.poll_until(lambda r: len(r[s.topic_classified]) >= 100, timeout=120)
    first.stop(sig)
    stopped_at = len(reader.records[s.topic_classified])
    assert stopped_at < len(sent), "stop came too late to be mid-stream"

    second = start_worker(s)
    assert reader.poll_until(
        lambda r: {json.loads(x.value)["id"] for x in r[s.topic_classified]} >= sent, timeout=180
    ), second.output[-3000:]
    records = reader.values(s.topic_classified)
    assert {r["id"] for r in records} == sent
    # duplicates (at-least-once) carry the same id and the same classification
    first_seen: dict[str, dict] = {}
    for r in records:
        prev = first_seen.setdefault(r["id"], r)
        for key in ("topic", "stance", "humanitarian", "military", "model_version"):
            assert prev[key] == r[key]


def test_topics_create_is_idempotent_with_configured_partitions(broker, tmp_path):
    env = {
        "WIRESTREAM_BROKER": f"kafka://{broker.bootstrap}",
        "WIRESTREAM_TOPIC_INPUT": "idem.in",
        "WIRESTREAM_PARTITIONS": "3",
    }
    for name in ("CLASSIFIED", "HUMANITARIAN", "MILITARY", "ALERTS", "REVIEW", "DEADLETTER"):
        env[f"WIRESTREAM_TOPIC_{name}"] = f"idem.{name.lower()}"
    import os

    cmd = [sys.executable, "-m", "wirestream.cli", "topics", "create"]
    first = subprocess.run(cmd, env=os.environ | env, capture_output=True, text=True, check=True)
    second = subprocess.run(cmd, env=os.environ | env, capture_output=True, text=True, check=True)
    assert first.stdout.count("created") == 7
    assert second.stdout.count("exists") == 7
    from kafka import KafkaConsumer

    c = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    assert c.partitions_for_topic("idem.in") == {0, 1, 2}
    c.close()
    mismatch = subprocess.run(
        [*cmd, "--partitions", "5"], env=os.environ | env, capture_output=True, text=True
    )
    assert mismatch.returncode == 1 and "exists with 3 partitions (configured 5)" in mismatch.stdout


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


def test_publish_and_tail_commands(broker, stream_settings: Settings, tmp_path, corpus):
    import os

    s = stream_settings
    lines = [*_story_lines(corpus, 5, "cli"), b"{broken"]
    path = tmp_path / "stories.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    env = os.environ | s.to_env()
    pub = subprocess.run(
        [sys.executable, "-m", "wirestream.cli", "publish", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pub.returncode == 0 and "published 6 messages" in pub.stderr
    assert "6/6 stories" in pub.stderr  # the progress bar
    tail = subprocess.run(
        [
            sys.executable,
            "-m",
            "wirestream.cli",
            "tail",
            s.topic_input,
            "--from-beginning",
            "--json",
            "--max",
            "6",
            "--idle-timeout",
            "20",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    got = tail.stdout.splitlines()
    assert sorted(got) == sorted(line.decode() for line in lines)


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
        import time

        deadline = time.monotonic() + 60
        while failures < 2 and time.monotonic() < deadline:
            try:
                text = urllib.request.urlopen(url, timeout=2).read().decode()
                line = next(
                    x
                    for x in text.splitlines()
                    if x.startswith("wirestream_model_load_failures_total ")
                )
                failures = float(line.split()[1])
            except OSError:
                time.sleep(0.2)
        assert failures >= 2, waiting.output[-2000:]
        assert waiting.proc.poll() is None
        shutil.copytree(model_dir, empty, dirs_exist_ok=True)  # the model arrives
        assert waiting.wait_ready(90), waiting.output[-3000:]
    finally:
        waiting.stop()
