"""The review console with 10,000 stories waiting (python -m bench.console_queue).

A real run: embedded broker, a signed model, one worker routing every story to
review (threshold 1.0), the console as its own process, Chromium (Debian's,
headless). Measures, in the browser and at the HTTP level:

- the first rendered queue page (navigation start to the list and the first
  story drawn, and the server's response time for ``/queue``);
- story to story: ``j`` to the next story drawn (the page prefetches the next
  story, so this is mostly rendering), and a confirmation ``c`` to the next
  story drawn (which waits for the decision's round trip); at the HTTP level,
  the two requests a move makes (the story, its claim).

It also says how far the console trails the worker: publish to the last review
record on the topic, and to the last story in the console's queue.
Figures are medians and 95th percentiles over repeated runs, in milliseconds.
Results go to var/bench/console_queue.json, with ``--record`` also to
bench/results/console_queue.json (tracked).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from kafka import KafkaConsumer, TopicPartition

from bench.common import stories, write_result
from wirestream.console.stack import PASSWORD, running_stack
from wirestream.streams.publish import publish

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
        "runs": len(ordered),
    }


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def http_figures(stack: Any, repeats: int) -> dict[str, Any]:
    client = stack.client("anna")
    page = [timed(lambda: client.get("/queue").raise_for_status()) for _ in range(repeats)]
    size = len(client.get("/queue").content)
    items = client.get("/api/queue", params={"limit": repeats + 1}).json()["items"]
    moves = []
    for item in items[1 : repeats + 1]:

        def move(story_id: str = item["id"]) -> None:
            client.get("/api/stories/" + quote(story_id, safe="")).raise_for_status()
            client.post("/api/claim", json={"id": story_id}).raise_for_status()

        moves.append(timed(move))
    deep = [
        timed(
            lambda: client.get(
                "/api/queue", params={"order": "least", "offset": 9000, "limit": 100}
            ).raise_for_status()
        )
        for _ in range(repeats)
    ]
    client.post("/api/release", json={})
    return {
        "queue_page": summary(page) | {"bytes": size},
        "next_story_requests": summary(moves),
        "queue_page_at_offset_9000_least_confident": summary(deep),
    }


def browser_figures(stack: Any, loads: int, moves: int, decisions: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        page.goto(stack.url + "/login")
        page.fill("input[name=username]", "anna")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-ready='1']")
        first = []
        for _ in range(loads):
            page.goto(stack.url + "/queue")
            page.wait_for_selector("body[data-ready='1']")
            # navigation start to the frame after the list and the story were drawn
            first.append(
                page.evaluate(
                    "() => new Promise(r => requestAnimationFrame(() => setTimeout(() => r(performance.now()))))"
                )
            )
        page.goto(stack.url + "/queue")
        page.wait_for_selector("body[data-ready='1']")

        def step(key: str) -> tuple[float, float]:
            current = page.evaluate("window.__wsLastNavMs = null; document.body.dataset.story")
            started = time.perf_counter()
            page.keyboard.press(key)
            page.wait_for_function("id => document.body.dataset.story !== id", arg=current)
            outside = (time.perf_counter() - started) * 1000
            page.wait_for_function("() => window.__wsLastNavMs !== null")
            return page.evaluate("window.__wsLastNavMs"), outside

        nav = [step("j") for _ in range(moves)]
        confirm = [step("c") for _ in range(decisions)]
        browser.close()
    return {
        "first_rendered_queue_page": summary(first),
        "next_story_j": summary([n for n, _ in nav]),
        "next_story_j_measured_by_the_driver": summary([o for _, o in nav]),
        "confirm_to_next_story": summary([n for n, _ in confirm]),
        "confirm_to_next_story_measured_by_the_driver": summary([o for _, o in confirm]),
    }


class ReviewCount:
    """Records that really arrived on the review topic (never end offsets: see the README)."""

    def __init__(self, settings: Any) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
        )
        topic = settings.topic_review
        parts = [
            TopicPartition(topic, p)
            for p in sorted(self.consumer.partitions_for_topic(topic) or ())
        ]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.seen = 0

    def poll(self) -> int:
        self.seen += sum(len(v) for v in self.consumer.poll(timeout_ms=100).values())
        return self.seen


def settled(stack: Any, n: int, quiet_s: float = 5.0, timeout: float = 900) -> dict[str, Any]:
    """Wait until the console queues everything the worker routed to review; say when each was done."""
    client = stack.client("anna")
    topic = ReviewCount(stack.settings)
    started = deadline = time.monotonic()
    deadline += timeout
    worker_done = None
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        routed = topic.poll()
        if worker_done is None and routed >= n:
            worker_done = time.monotonic()
        waiting = client.get("/api/queue", params={"limit": 1}).json()["waiting"]
        if waiting != last:
            last, since = waiting, time.monotonic()
        # all in; or (a story the model is certain of on both heads skips review) no change
        if waiting >= n or (waiting and waiting == routed and time.monotonic() - since > quiet_s):
            now = time.monotonic()
            topic.consumer.close()
            return {
                "stories_waiting": waiting,
                "publish_to_last_review_record_s": round((worker_done or now) - started, 1),
                "publish_to_all_in_console_queue_s": round(now - started, 1),
            }
        time.sleep(0.2)
    raise RuntimeError(f"only {last} stories queued after {timeout:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--record",
        action="store_true",
        help="also write bench/results/console_queue.json (tracked)",
    )
    args = parser.parse_args()
    payloads = [json.dumps(s, ensure_ascii=False).encode() for s in stories(args.n)]
    with running_stack({"anna": "editor"}, review_threshold=1.0, console_undo_s=1.0) as stack:
        stack.start_worker()
        console = stack.start_console()
        publish(stack.settings, payloads, progress=None)
        result: dict[str, Any] = settled(stack, args.n) | {
            "http": http_figures(stack, args.repeats),
            "browser": browser_figures(stack, loads=15, moves=args.repeats, decisions=args.repeats),
            "console_rss_mb": rss_mb(console.pid),
        }
    print(json.dumps(result, indent=2))
    write_result("console_queue", result, record=args.record)


if __name__ == "__main__":
    main()
