"""A real Prometheus scrapes a real worker on the embedded broker; counters must equal what was sent."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from tools.prometheus_local import LocalPrometheus
from wirestream.streams.publish import publish

pytestmark = pytest.mark.kafka


@pytest.fixture
def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed; .ci/run installs Debian's prometheus package")
        pytest.skip("prometheus binary not installed (apt-get install prometheus)")
    return path


def _wait_for(
    prom: LocalPrometheus, expr: str, expected: float, timeout: float = 60
) -> float | None:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = prom.scalar(expr)
        if value == expected:
            return value
        time.sleep(0.5)
    return value


def test_prometheus_counts_equal_stories_sent_and_dead_lettered(
    prometheus_binary, corpus, stream_settings, start_worker, reader_factory, tmp_path
):
    s = stream_settings
    valid = [
        json.dumps({"id": f"pm-{x.id}", "headline": x.headline, "body": x.body}).encode()
        for x in corpus[::20]
    ]
    bad = [
        b"not json",
        b"\xc3\x28",
        json.dumps({"id": "e", "headline": "h", "body": ""}).encode(),
        json.dumps({"id": "f", "headline": "h"}).encode(),
    ]
    worker = start_worker(s)
    with LocalPrometheus(tmp_path, [f"127.0.0.1:{s.metrics_port}"]) as prom:
        assert _wait_for(prom, 'up{job="wirestream"}', 1.0) == 1.0
        publish(s, valid + bad, progress=None)
        reader = reader_factory(s, [s.topic_classified])
        assert reader.poll_until(lambda r: len(r[s.topic_classified]) >= len(valid), 120), (
            worker.output[-2000:]
        )

        assert _wait_for(prom, "sum(wirestream_stories_classified_total)", len(valid)) == len(valid)
        assert _wait_for(prom, "sum(wirestream_stories_deadlettered_total)", len(bad)) == len(bad)
        assert _wait_for(
            prom, "sum(wirestream_stories_consumed_total)", len(valid) + len(bad)
        ) == len(valid) + len(bad)
        by_reason = {
            r["metric"]["reason"]: float(r["value"][1])
            for r in prom.api("query", query="wirestream_stories_deadlettered_total > 0")["result"]
        }
        assert by_reason == {
            "invalid_json": 1.0,
            "not_utf8": 1.0,
            "empty_field": 1.0,
            "missing_field": 1.0,
        }
        # the classifications by topic/stance/focus add up to the stories classified
        assert prom.scalar("sum(wirestream_classifications_total)") == len(valid)
        assert prom.scalar(
            f'sum(wirestream_stories_routed_total{{topic="{s.topic_classified}"}})'
        ) == len(valid)
        assert prom.scalar("sum(wirestream_end_to_end_seconds_count)") == len(valid)
        assert prom.scalar("count(wirestream_model_info)") == 1
        # the project's alerting and recording rules are loaded by the real server
        groups = {g["name"] for g in prom.api("rules")["groups"]}
        assert groups, "no rule groups loaded from deploy/prometheus/rules"
