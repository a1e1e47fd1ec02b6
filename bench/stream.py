"""The stream benchmarks, all in one run, on one embedded broker, with the same ~2 KB stories.

``python -m bench.stream`` (``make bench``) measures:

- the transport ceiling: a plain aiokafka consume -> produce passthrough;
- the standalone batch-classify rate of the same model on the same stories;
- wirestream end to end with one and with two workers (stories/s, and ratios to both);
- a naive Faust agent (one predict call per story) and wirestream's ratio to it;
- produce -> classified latency p50/p95/p99 at 10, 100 and 500 stories/s offered,
  for the worker and for the passthrough (the broker's floor);
- worker start-to-ready seconds and peak RSS.

Workers' throughput is a backlog drained: the input topic is filled first, then
one or two workers start in one group and the clock runs from their first story
classified to their last, on their own counters (reading every output record
would take CPU from the workers being measured); the output topic is counted
afterwards, untimed (never end offsets, which this broker reports wrongly). One
and two workers alternate, three rounds each, and the machine's CPU states are
kept beside them. The naive agent drains a backlog too, timed on the output
topic; the passthrough is timed from the first publish to the last record on
the output topic. Latency is the output record's
timestamp (set when the worker hands it to its producer) minus the moment the
benchmark sent the story, both on this machine's clock. Results go to ``var/bench/stream.json`` and ``.md``;
``--record`` also writes them to ``bench/results/`` (tracked).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.common import stories, write_result
from wirestream.classify import classify_batch
from wirestream.models.source import model_source
from wirestream.settings import Settings
from wirestream.story import Story
from wirestream.streams.admin import ensure_topics
from wirestream.streams.broker import EmbeddedBroker, free_port
from wirestream.streams.publish import publish
from wirestream.streams.worker_process import ServiceProcess, WorkerProcess


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Scenario:
    """Topics and groups of one measurement, on the shared broker."""

    def __init__(self, base: Settings, name: str) -> None:
        tag = f"{name}-{uuid.uuid4().hex[:6]}"
        self.settings = base.replace(
            app_id=f"bench-{tag}",
            metrics_port=free_port(),
            **{
                f: f"{tag}.{getattr(base, f)}"
                for f in (
                    "topic_input",
                    "topic_classified",
                    "topic_humanitarian",
                    "topic_military",
                    "topic_alerts",
                    "topic_review",
                    "topic_deadletter",
                    "topic_labels",
                    "topic_models",
                )
            },
        )
        ensure_topics(self.settings)

    def counter(self) -> KafkaConsumer:
        cons = KafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
            max_partition_fetch_bytes=8 << 20,
        )
        tps = [
            TopicPartition(self.settings.topic_classified, p)
            for p in range(self.settings.partitions)
        ]
        cons.assign(tps)
        cons.seek_to_beginning(*tps)
        return cons


def classified_by_workers(ports: list[int]) -> float:
    """Stories the workers report classified (and delivered): cheap to poll, unlike reading
    every output record, which would take CPU from the workers being measured."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for port in ports:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "wirestream_stories_classified_total":
                    total += sample.value
    return total


BROKER_PID: list[int] = []  # set in main: the broker's CPU is part of the budget


def count_until(
    cons: KafkaConsumer, n: int, deadline: float, seen: int = 0, poll_ms: int = 200
) -> int:
    """Records read from ``cons`` (on top of ``seen``) until there are ``n`` or the deadline passes."""
    while seen < n and time.monotonic() < deadline:
        seen += sum(len(v) for v in cons.poll(timeout_ms=poll_ms).values())
    return seen


def throughput(scenario: Scenario, payloads: list[bytes], pids: list[int]) -> dict[str, Any]:
    """Publish, and time until every story is on the output topic, counted as it fills
    (the passthrough and the naive agent, which keep no counters of their own)."""
    cons = scenario.counter()
    cpu0 = [cpu_seconds(p) for p in pids]
    broker0 = cpu_seconds(BROKER_PID[0]) if BROKER_PID else 0.0
    own0 = sum(os.times()[:2])
    t0 = time.perf_counter()
    publish(scenario.settings, payloads, progress=None)
    seen = count_until(cons, len(payloads), time.monotonic() + 900)
    elapsed = time.perf_counter() - t0
    cpu = [cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
    broker_cpu = (cpu_seconds(BROKER_PID[0]) - broker0) if BROKER_PID else 0.0
    own_cpu = sum(os.times()[:2]) - own0
    cons.close()
    return {
        "stories": len(payloads),
        "on_output_topic": seen,
        "seconds": round(elapsed, 2),
        "stories_per_s": round(seen / elapsed, 1),
        "cpu_cores": [round(c / elapsed, 2) for c in cpu],
        "broker_cpu_cores": round(broker_cpu / elapsed, 2),
        "load_generator_cpu_cores": round(own_cpu / elapsed, 2),
    }


def machine_jiffies() -> list[int]:
    """The machine's CPU time by state (user, nice, system, idle, iowait, irq, softirq, steal)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def drain(base: Settings, payloads: list[bytes], workers: int, name: str) -> dict[str, Any]:
    """A backlog drained by ``workers`` wirestream workers in one consumer group.

    The input topic is filled first (untimed, so no load generator competes for
    the cores), then the workers start and join one group generation. The clock
    runs from the first poll that shows progress to the last story classified,
    on the workers' own counters (polled every 0.25 s; what the first poll saw is
    not counted), and the output topic is counted afterwards."""
    sc = Scenario(base, name)
    publish(sc.settings, payloads, progress=None)
    sets = [sc.settings] + [
        sc.settings.replace(metrics_port=free_port()) for _ in range(workers - 1)
    ]
    procs = [WorkerProcess(s) for s in sets]
    try:
        for proc in procs:
            start(proc, "worker")
        ports = [s.metrics_port for s in sets]
        deadline = time.monotonic() + 900
        while (first := classified_by_workers(ports)) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        t0 = time.perf_counter()
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        broker0 = cpu_seconds(BROKER_PID[0]) if BROKER_PID else 0.0
        machine0 = machine_jiffies()
        done = first
        while done < len(payloads) and time.monotonic() < deadline:
            time.sleep(0.25)
            done = classified_by_workers(ports)
        elapsed = time.perf_counter() - t0
        cpu = [(cpu_seconds(p.pid) - c) / elapsed for p, c in zip(procs, cpu0, strict=True)]
        broker_cpu = ((cpu_seconds(BROKER_PID[0]) - broker0) / elapsed) if BROKER_PID else 0.0
        states = [b - a for a, b in zip(machine0, machine_jiffies(), strict=True)]
        rss = max(peak_rss_mb(p.pid) for p in procs)
        rebalances = sum(p.output.count("partitions reassigned") for p in procs)
    finally:
        for proc in procs:
            proc.stop()
    cons = sc.counter()
    on_topic = count_until(cons, len(payloads), deadline, poll_ms=500)
    cons.close()
    total = sum(states) or 1
    return {
        "workers": workers,
        "stories": len(payloads),
        "timed_stories": int(done - first),
        "on_output_topic": on_topic,
        "seconds": round(elapsed, 2),
        "stories_per_s": round((done - first) / elapsed, 1),
        "cpu_cores": [round(c, 2) for c in cpu],
        "broker_cpu_cores": round(broker_cpu, 2),
        "machine_busy_share": round(1 - (states[3] + states[4]) / total, 3),
        "machine_steal_share": round(states[7] / total, 3),
        "rebalances_while_timed": rebalances,
        "peak_rss_mb": round(rss, 1),
    }


def drain_on_topic(scenario: Scenario, n: int, pid: int) -> dict[str, Any]:
    """A backlog drained by a process without counters (the naive agent): timed from its
    first record on the output topic to its last, counted as they arrive."""
    cons = scenario.counter()
    deadline = time.monotonic() + 900
    seen = count_until(cons, 1, deadline, poll_ms=20)
    t0, cpu0, first = time.perf_counter(), cpu_seconds(pid), seen
    seen = count_until(cons, n, deadline, seen)
    elapsed = time.perf_counter() - t0
    cons.close()
    return {
        "stories": n,
        "on_output_topic": seen,
        "seconds": round(elapsed, 2),
        "stories_per_s": round((seen - first) / elapsed, 1),
        "cpu_cores": [round((cpu_seconds(pid) - cpu0) / elapsed, 2)],
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of alternating runs, with every run kept."""
    mean = float(np.mean([r["stories_per_s"] for r in runs]))
    cores = np.mean([r["cpu_cores"] for r in runs], axis=0)
    return {
        "stories_per_s": round(mean, 1),
        "cpu_cores": [round(float(c), 2) for c in cores],
        "broker_cpu_cores": round(float(np.mean([r["broker_cpu_cores"] for r in runs])), 2),
        "machine_busy_share": round(float(np.mean([r["machine_busy_share"] for r in runs])), 3),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "stories_per_worker_cpu_s": round(mean / float(np.sum(cores)), 1),
        "runs": runs,
    }


def latency(
    scenario: Scenario, rate: float, seconds: float, template: list[dict[str, Any]]
) -> dict[str, Any]:
    """Offer ``rate`` stories/s for ``seconds``; produce -> classified quantiles in ms."""
    n = int(rate * seconds)
    sent: dict[bytes, float] = {}
    producer = KafkaProducer(
        bootstrap_servers=scenario.settings.bootstrap_servers, acks="all", linger_ms=0
    )
    cons = scenario.counter()
    cons.poll(timeout_ms=100)

    def send() -> None:
        start = time.perf_counter()
        for i in range(n):
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            story = template[i % len(template)] | {"id": f"lat-{rate:g}-{i}"}
            key = story["id"].encode()
            sent[key] = time.time()
            producer.send(
                scenario.settings.topic_input,
                key=key,
                value=json.dumps(story, ensure_ascii=False).encode(),
            )
        producer.flush()

    thread = threading.Thread(target=send)
    thread.start()
    out: dict[bytes, float] = {}
    deadline = time.monotonic() + seconds + 120
    while len(out) < n and time.monotonic() < deadline:
        for records in cons.poll(timeout_ms=100).values():
            for r in records:
                if r.key in sent and r.key not in out:
                    out[r.key] = r.timestamp / 1000
    thread.join()
    producer.close()
    cons.close()
    ms = np.array([(out[k] - sent[k]) * 1000 for k in out])
    return {
        "offered_per_s": rate,
        "stories": n,
        "received": len(out),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def classify_rate(settings: Settings, payloads: list[bytes], batch: int = 256) -> dict[str, Any]:
    loaded = model_source(settings).load()
    items = [json.loads(p) for p in payloads]
    batch_stories = [Story(id=s["id"], headline=s["headline"], body=s["body"]) for s in items]
    classify_batch(loaded, batch_stories[:batch])  # warm
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(0, len(batch_stories), batch):
            classify_batch(loaded, batch_stories[i : i + batch])
        best = max(best, len(batch_stories) / (time.perf_counter() - t0))
    return {
        "stories": len(batch_stories),
        "batch_size": batch,
        "stories_per_s": round(best, 1),
        "model_version": loaded.version,
    }


def _classify_chunk(args: tuple[str, list[dict[str, Any]]]) -> int:
    settings_env, chunk = args
    global _POOL_MODEL
    if _POOL_MODEL is None:
        _POOL_MODEL = model_source(Settings.from_env(env=json.loads(settings_env))).load()
    classify_batch(
        _POOL_MODEL, [Story(id=s["id"], headline=s["headline"], body=s["body"]) for s in chunk]
    )
    return len(chunk)


_POOL_MODEL: Any = None


def pool_classify_rate(
    settings: Settings, payloads: list[bytes], processes: int = 2, batch: int = 256
) -> dict[str, Any]:
    """The same batches on a pool of processes: the most a process pool inside one worker could add."""
    from concurrent.futures import ProcessPoolExecutor

    items = [json.loads(p) for p in payloads]
    env = json.dumps(settings.to_env())
    chunks = [(env, items[i : i + batch]) for i in range(0, len(items), batch)]
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_classify_chunk, chunks[:processes]))  # load the model in every process
        t0 = time.perf_counter()
        done = sum(pool.map(_classify_chunk, chunks))
        rate = done / (time.perf_counter() - t0)
    return {"processes": processes, "batch_size": batch, "stories_per_s": round(rate, 1)}


def start(process: ServiceProcess, what: str) -> float:
    t0 = time.perf_counter()
    if not process.wait_ready(180):
        sys.exit(f"{what} not ready:\n{process.output[-3000:]}")
    return time.perf_counter() - t0


class _Child(ServiceProcess):
    def __init__(self, argv: list[str], settings: Settings, ready: str) -> None:
        env = (
            {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
            | settings.to_env()
            | {"PYTHONUNBUFFERED": "1"}
        )
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.ready_line, self.echo_prefix, self.log, self.lines = ready, None, None, []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


def _child(argv: list[str], settings: Settings, ready: str = "ready") -> ServiceProcess:
    return _Child(argv, settings, ready)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="stories per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating one/two-worker drains")
    parser.add_argument("--story-bytes", type=int, default=2048)
    parser.add_argument("--rates", default="10,100,500")
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument(
        "--record", action="store_true", help="also write bench/results/stream.json (tracked)"
    )
    args = parser.parse_args()
    items = stories(args.n, args.story_bytes)
    payloads = [json.dumps(s, ensure_ascii=False).encode() for s in items]
    base = Settings.from_env()
    results: dict[str, Any] = {
        "story_bytes_mean": round(float(np.mean([len(p) for p in payloads])))
    }
    print(f"== {len(payloads)} stories of about {results['story_bytes_mean']} bytes", flush=True)
    results["classify_batch"] = classify_rate(base, payloads)
    print(f"   batch classify: {results['classify_batch']['stories_per_s']} stories/s", flush=True)
    results["classify_pool"] = pool_classify_rate(base, payloads)
    print(
        f"   batch classify on a pool of 2 processes: {results['classify_pool']['stories_per_s']} stories/s",
        flush=True,
    )
    with EmbeddedBroker() as broker:
        base = base.replace(broker=f"kafka://{broker.bootstrap}")
        BROKER_PID.append(broker.process.pid)
        # transport ceiling
        sc = Scenario(base, "pass")
        pt = _child(
            [
                sys.executable,
                "-m",
                "bench.passthrough",
                broker.bootstrap,
                sc.settings.topic_input,
                sc.settings.topic_classified,
                "--fetch-max-wait-ms",
                str(base.fetch_max_wait_ms),
            ],
            sc.settings,
        )
        start(pt, "passthrough")
        results["passthrough"] = throughput(sc, payloads, [pt.pid])
        print(f"   passthrough: {results['passthrough']['stories_per_s']} stories/s", flush=True)
        results["passthrough_latency"] = [
            latency(sc, float(r), min(args.latency_seconds, 2000 / float(r)), items)
            for r in args.rates.split(",")
        ]
        pt.stop()
        # one worker: start-up and latency
        sc = Scenario(base, "one")
        worker = WorkerProcess(sc.settings)
        ready_s = start(worker, "worker")
        print(f"   worker ready in {ready_s:.1f}s", flush=True)
        results["latency"] = [
            latency(sc, float(r), min(args.latency_seconds, 2000 / float(r)), items)
            for r in args.rates.split(",")
        ]
        for row in results["latency"]:
            print(
                f"   latency at {row['offered_per_s']:g}/s: p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms",
                flush=True,
            )
        worker.stop()
        # one and two workers draining the same backlog, alternating
        runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        for r in range(args.rounds):
            for n in (1, 2):
                run = drain(base, payloads, n, f"drain{n}-{r}")
                runs[n].append(run)
                print(
                    f"   {n} worker(s), round {r + 1}: {run['stories_per_s']} stories/s, "
                    f"workers' cores {run['cpu_cores']}, broker {run['broker_cpu_cores']}, "
                    f"machine busy {run['machine_busy_share']:.0%}",
                    flush=True,
                )
        results["one_worker"] = summarise(runs[1]) | {"ready_seconds": round(ready_s, 1)}
        results["two_workers"] = summarise(runs[2])
        # the naive per-event agent, draining a backlog too
        sc = Scenario(base, "naive")
        small = payloads[: max(2000, len(payloads) // 4)]
        publish(sc.settings, small, progress=None)
        naive = _child(
            [sys.executable, "-m", "bench.naive_agent"], sc.settings, "wirestream worker ready"
        )
        start(naive, "naive agent")
        results["naive_agent"] = drain_on_topic(sc, len(small), naive.pid)
        print(
            f"   naive per-event agent: {results['naive_agent']['stories_per_s']} stories/s",
            flush=True,
        )
        naive.stop()
    one, two = results["one_worker"]["stories_per_s"], results["two_workers"]["stories_per_s"]
    results["ratios"] = {
        "one_worker_to_passthrough": round(one / results["passthrough"]["stories_per_s"], 3),
        "one_worker_to_batch_classify": round(one / results["classify_batch"]["stories_per_s"], 3),
        "two_workers_to_one": round(two / one, 3),
        "two_workers_to_batch_classify": round(two / results["classify_batch"]["stories_per_s"], 3),
        "one_worker_to_naive_agent": round(one / results["naive_agent"]["stories_per_s"], 2),
    }
    results["settings"] = {
        "fetch_max_wait_ms": base.fetch_max_wait_ms,
        "batch_size": base.batch_size,
        "partitions": base.partitions,
    }
    write_result("stream", results, record=args.record, markdown=markdown(results))


def markdown(r: dict[str, Any]) -> str:
    one, two = r["one_worker"], r["two_workers"]
    classify = r["classify_batch"]["stories_per_s"]
    lines = [
        f"Stories of about {r['story_bytes_mean']} bytes; one run, one embedded broker, {os.cpu_count()} cores.",
        "",
        "| measurement | stories/s | ratio |",
        "|---|---|---|",
        f"| transport ceiling: aiokafka passthrough | {r['passthrough']['stories_per_s']:,.0f} | |",
        f"| batch classify, same model and stories (batch {r['classify_batch']['batch_size']}) | {classify:,.0f} | |",
        f"| batch classify on a pool of {r['classify_pool']['processes']} processes (no Kafka) | {r['classify_pool']['stories_per_s']:,.0f} | {r['classify_pool']['stories_per_s'] / classify:.2f}x one process |",
        f"| wirestream, one worker | {one['stories_per_s']:,.0f} | {r['ratios']['one_worker_to_batch_classify']:.2f} of batch classify, {r['ratios']['one_worker_to_passthrough']:.2f} of passthrough |",
        f"| wirestream, two workers (one group) | {two['stories_per_s']:,.0f} | {r['ratios']['two_workers_to_one']:.2f}x one worker, {r['ratios']['two_workers_to_batch_classify']:.2f} of batch classify |",
        f"| naive Faust agent, one predict per story | {r['naive_agent']['stories_per_s']:,.0f} | wirestream one worker = {r['ratios']['one_worker_to_naive_agent']:.1f}x |",
        "",
        "Workers drain a backlog of the same stories, alternating one and two workers "
        f"({len(one['runs'])} runs each: "
        + ", ".join(f"{x['stories_per_s']:,.0f}" for x in one["runs"])
        + " and "
        + ", ".join(f"{x['stories_per_s']:,.0f}" for x in two["runs"])
        + " stories/s). CPU while they ran (cores): one worker "
        f"{one['cpu_cores'][0]}, broker {one['broker_cpu_cores']}, machine busy "
        f"{one['machine_busy_share']:.0%}; two workers {'+'.join(str(c) for c in two['cpu_cores'])}, "
        f"broker {two['broker_cpu_cores']}, machine busy {two['machine_busy_share']:.0%}. "
        f"Stories per second of worker CPU: one worker {one['stories_per_worker_cpu_s']:,.0f}, "
        f"two workers {two['stories_per_worker_cpu_s']:,.0f} "
        f"({two['stories_per_worker_cpu_s'] / one['stories_per_worker_cpu_s']:.2f} of one).",
        "",
        "| offered stories/s | worker p50 / p95 / p99 ms | passthrough p50 / p95 / p99 ms |",
        "|---|---|---|",
    ]
    for w, p in zip(r["latency"], r["passthrough_latency"], strict=True):
        lines.append(
            f"| {w['offered_per_s']:g} | {w['p50_ms']} / {w['p95_ms']} / {w['p99_ms']} | {p['p50_ms']} / {p['p95_ms']} / {p['p99_ms']} |"
        )
    lines += [
        "",
        f"Worker start to ready: {one['ready_seconds']} s; peak RSS {max(one['peak_rss_mb'], two['peak_rss_mb'])} MB.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
