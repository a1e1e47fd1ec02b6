"""Whole-pipeline throughput with one worker on the embedded broker (python -m bench.pipeline_throughput).

Counts records that really arrive on wire.classified (never end offsets, which this
broker reports wrongly), from the first publish to the last classified record.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from kafka import KafkaConsumer, TopicPartition

from bench.common import stories, write_result
from wirestream.settings import Settings
from wirestream.streams.admin import ensure_topics
from wirestream.streams.broker import EmbeddedBroker, free_port
from wirestream.streams.publish import publish

READY = "wirestream worker ready"


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--story-bytes", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    payloads = [
        json.dumps(s, ensure_ascii=False).encode() for s in stories(args.n, args.story_bytes)
    ]
    with EmbeddedBroker() as broker:
        settings = Settings.from_env().replace(
            broker=f"kafka://{broker.bootstrap}",
            app_id="bench",
            batch_size=args.batch_size,
            metrics_port=free_port(),
            data_dir=Settings().data_dir / "bench",
        )
        ensure_topics(settings)
        env = os.environ | settings.to_env() | {"PYTHONUNBUFFERED": "1"}
        worker = subprocess.Popen(
            [sys.executable, "-m", "wirestream.cli", "worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()

        def pump() -> None:
            assert worker.stdout is not None
            for line in worker.stdout:
                if READY in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(120):
            sys.exit("worker not ready")
        cons = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 << 20,
        )
        tps = [TopicPartition(settings.topic_classified, p) for p in range(settings.partitions)]
        cons.assign(tps)
        cons.seek_to_beginning(*tps)
        cpu0 = cpu_seconds(worker.pid)
        t0 = time.perf_counter()
        publish(settings, payloads, progress=None)
        t_pub = time.perf_counter() - t0
        seen = 0
        deadline = time.monotonic() + 600
        while seen < args.n and time.monotonic() < deadline:
            seen += sum(len(v) for v in cons.poll(timeout_ms=500).values())
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(worker.pid) - cpu0
        cons.close()
        worker.terminate()
        worker.wait(60)
    mean = sum(len(p) for p in payloads) / len(payloads)
    write_result(
        "pipeline_throughput",
        {
            "stories": args.n,
            "classified_seen": seen,
            "mean_story_bytes": round(mean),
            "batch_size": args.batch_size,
            "publish_seconds": round(t_pub, 2),
            "publish_stories_per_s": round(args.n / t_pub, 1),
            "end_to_end_seconds": round(elapsed, 2),
            "pipeline_stories_per_s": round(seen / elapsed, 1),
            "worker_cpu_seconds": round(cpu, 2),
            "worker_cpu_share_of_one_core": round(cpu / elapsed, 2),
        },
    )
    if seen < args.n:
        sys.exit(f"only {seen} of {args.n} stories classified")


if __name__ == "__main__":
    main()
