"""Draw docs/dashboard-preview.png from data a real Prometheus scraped during a run.

Starts the embedded broker, one worker and Debian's prometheus on the
project's config; feeds corpus stories for a few minutes at changing rates
(with some malformed messages and a burst of war coverage); then runs the
dashboard's own PromQL (deploy/grafana/dashboards/wirestream.json) through
the query_range API and plots the main panels with matplotlib.

    python -m tools.dashboard_preview [--minutes 3]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from tools.prometheus_local import LocalPrometheus
from wirestream.settings import DEFAULT_CORPUS, REPO_ROOT, Settings
from wirestream.streams.admin import ensure_topics
from wirestream.streams.broker import EmbeddedBroker, free_port
from wirestream.streams.publish import producer
from wirestream.streams.worker_process import WorkerProcess
from wirestream.training.corpus import load_corpus

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "wirestream.json"
OUT = REPO_ROOT / "docs" / "dashboard-preview.png"
PANELS = [
    "Throughput",
    "End-to-end latency quantiles",
    "Topic mix",
    "Stance mix",
    "Focus mix",
    "Dead-letter rate by reason",
    "Review share",
    "Alerts by rule",
]
STEP_S = 5


def _expr(expr: str) -> str:
    """Grafana's variables, as Grafana would fill them for this one job."""
    return (
        expr.replace("$__rate_interval", "30s")
        .replace("$__interval", f"{STEP_S}s")
        .replace('job=~"$job"', 'job="wirestream"')
        .replace('instance=~"$instance"', 'instance=~".+"')
    )


def _legend(fmt: str, metric: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt) or str(metric)


def feed(settings: Settings, minutes: float, stop: threading.Event) -> int:
    """Phases of different rates; war coverage bursts in the middle."""
    stories = load_corpus([DEFAULT_CORPUS])
    war = [s for s in stories if s.military and s.stance == "confrontational"]
    rng = random.Random(11)
    prod = producer(settings)
    phases = [(0.25, 15, 0.0), (0.25, 45, 0.0), (0.15, 40, 0.7), (0.35, 25, 0.0)]
    sent = 0
    for share, rate, war_share in phases:
        end = time.monotonic() + share * minutes * 60
        while time.monotonic() < end and not stop.is_set():
            tick = time.monotonic()
            for _ in range(rate):
                s = rng.choice(war if rng.random() < war_share else stories)
                value = json.dumps(
                    {"id": f"pv-{sent}", "headline": s.headline, "body": s.body}, ensure_ascii=False
                ).encode()
                if rng.random() < 0.03:
                    value = rng.choice([value[: len(value) // 2], b"\xff" + value, b"[]"])
                prod.send(settings.topic_input, key=f"pv-{sent}".encode(), value=value)
                sent += 1
            prod.flush()
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    prod.close()
    return sent


def plot(prom: LocalPrometheus, start: float, end: float, model_version: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"]}
    fig, axes = plt.subplots(4, 2, figsize=(15, 15))
    for ax, title in zip(axes.flat, PANELS, strict=True):
        panel = panels[title]
        for target in panel["targets"]:
            data = prom.api(
                "query_range", query=_expr(target["expr"]), start=start, end=end, step=STEP_S
            )
            for series in data["result"]:
                xs = [(float(t) - start) / 60 for t, _ in series["values"]]
                ys = [float(v) for _, v in series["values"]]
                ax.plot(
                    xs, ys, label=_legend(target.get("legendFormat", ""), series["metric"])[:28]
                )
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        unit = unit.removeprefix("suffix:").strip().replace("percentunit", "share")
        ax.set_title(f"{title}" + (f" ({unit})" if unit else ""), fontsize=11)
        ax.set_xlabel("minutes")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7, ncol=2 if len(ax.lines) > 6 else 1, loc="upper left")
    fig.suptitle(
        f"wirestream dashboard preview: one worker, embedded broker, real Prometheus "
        f"scraping every 1 s (model {model_version})",
        fontsize=12,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=70)
    print(f"wrote {OUT}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        settings = Settings.from_env().replace(
            broker=f"kafka://{broker.bootstrap}",
            app_id="preview",
            metrics_port=free_port(),
            data_dir=Path(tmp) / "faust",
        )
        ensure_topics(settings)
        worker = WorkerProcess(settings)
        if not worker.wait_ready(120):
            sys.exit(f"worker not ready:\n{worker.output[-3000:]}")
        with LocalPrometheus(Path(tmp), [f"127.0.0.1:{settings.metrics_port}"]) as prom:
            start = time.time()
            sent = feed(settings, args.minutes, threading.Event())
            time.sleep(10)  # let the last scrapes land
            end = time.time()
            version = prom.api("query", query="wirestream_model_info")["result"][0]["metric"][
                "version"
            ]
            print(f"fed {sent} messages over {args.minutes} min")
            plot(prom, start, end, version)
        worker.stop()


if __name__ == "__main__":
    main()
