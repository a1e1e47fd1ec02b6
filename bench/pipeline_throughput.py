"""Whole-pipeline throughput with one worker on the embedded broker (python -m bench.pipeline_throughput).

Counts records that really arrive on wire.classified (never end offsets, which this
broker reports wrongly), from the first publish to the last classified record.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from kafka import KafkaConsumer, TopicPartition

from bench.common import stories, write_result
from wirestream.settings import Settings
from wirestream.streams.admin import ensure_topics
from wirestream.streams.broker import EmbeddedBroker, free_port
from wirestream.streams.publish import publish
from wirestream.streams.worker_process import WorkerProcess


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
        worker = WorkerProcess(settings)
        if not worker.wait_ready(120):
            sys.exit(f"worker not ready:\n{worker.output[-3000:]}")
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
        worker.stop()
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
