"""Screenshots of the review console from a real run: ``python -m tools.console_screenshots``.

Starts the embedded broker, trains and signs a model on the shipped corpus,
runs a worker and the console, publishes corpus stories, and has two editors
work the queue from the keyboard in Chromium (Debian's, headless). So that the
figures page has more than one day to show, it also publishes labels dated on
earlier days through the label contract (as any newsroom tool may); every
other number on the pages comes from the run. Writes docs/console-queue.png,
docs/console-story.png and docs/console-figures.png.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from wirestream.console.stack import PASSWORD, corpus, running_stack, story_lines
from wirestream.labels import encode_label, new_label
from wirestream.settings import REPO_ROOT
from wirestream.streams.publish import publish
from wirestream.taxonomy import STANCES, TOPICS
from wirestream.training.split import is_held_out

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
USERS = {"olena": "editor", "mark": "editor", "sam": "viewer"}
VIEWPORT = {"width": 1440, "height": 900}


def sign_in(browser: Any, url: str, user: str) -> Any:
    page = browser.new_context(viewport=VIEWPORT, device_scale_factor=1).new_page()
    page.goto(url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")
    return page


def press_for_next(page: Any, *keys: str) -> None:
    """Press keys that end on another story (a decision, j) and wait until it shows."""
    current = page.evaluate("document.body.dataset.story")
    for key in keys:
        page.keyboard.press(key)
    page.wait_for_function("id => document.body.dataset.story !== id", arg=current)


def earlier_labels(classified: list[dict[str, Any]], seed: int = 11) -> list[bytes]:
    """Labels from the last ten days by two editors, agreeing with the model most of the time."""
    rng = random.Random(seed)
    today = datetime.now(UTC).replace(hour=11, minute=0, second=0, microsecond=0)
    out = []
    for n, record in enumerate(classified[:80]):
        labels = {
            "topic": record["topic"] if rng.random() < 0.78 else rng.choice(TOPICS),
            "stance": record["stance"] if rng.random() < 0.7 else rng.choice(STANCES),
            "humanitarian": record["humanitarian"]
            if rng.random() < 0.9
            else not record["humanitarian"],
            "military": record["military"] if rng.random() < 0.93 else not record["military"],
        }
        day = today - timedelta(days=1 + (n % 10), minutes=rng.randrange(0, 300))
        label = new_label(
            record["id"],
            labels,
            "olena" if rng.random() < 0.6 else "mark",
            model_version=record["model_version"],
            now=day,
        )
        out.append(encode_label(label))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    parser.add_argument("--stories", type=int, default=240)
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    stories = [s for s in corpus() if is_held_out(s.id)] or corpus()
    random.Random(5).shuffle(stories)
    with running_stack(USERS, review_threshold=0.7, console_undo_s=2.0) as stack:
        print("starting worker and console ...", flush=True)
        stack.start_worker()
        stack.start_console()
        lines = story_lines(stories[: args.stories], "wire")
        publish(stack.settings, lines, progress=None)
        waiting = stack.wait_waiting(10)
        time.sleep(3)  # let the rest of the batch arrive
        client = stack.client("sam")
        feed = [json.loads(x) for x in lines]
        classified = []
        for story in feed:
            got = client.get("/api/stories/" + quote(story["id"], safe=""))
            if got.status_code == 200:
                classified.append(got.json()["record"])
        publish(
            stack.settings,
            earlier_labels(classified),
            topic=stack.settings.topic_labels,
            progress=None,
        )
        print(f"{len(classified)} stories classified, {waiting}+ waiting for review", flush=True)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            olena = sign_in(browser, stack.url, "olena")
            for keys in (["c"], ["c"], ["2", "Enter"], ["c"], ["h", "Enter"], ["c"]):
                press_for_next(olena, *keys)
            mark = sign_in(browser, stack.url, "mark")
            for _ in range(3):
                press_for_next(mark, "c")
            time.sleep(3)  # the undo window passes: the labels are published and read back

            olena.goto(stack.url + "/queue?order=least")
            olena.wait_for_selector("body[data-ready='1']")
            press_for_next(olena, "j")
            model_stance = olena.text_content("tr[data-head='stance'] .model")
            other = next(i for i, s in enumerate(STANCES, 1) if s != model_stance)
            olena.keyboard.press(str(other))  # an edit in progress shows how a correction looks
            olena.wait_for_timeout(400)
            olena.screenshot(path=str(args.out / "console-queue.png"))

            target = olena.evaluate("document.body.dataset.story")
            for item in client.get("/api/queue", params={"limit": 500}).json()["items"]:
                story = client.get("/api/stories/" + quote(item["id"], safe="")).json()
                if story["record"]["alert_rules"] and not item["claimed_by"]:
                    target = item["id"]  # a story both in review and on the alerts topic
                    break
            page = sign_in(browser, stack.url, "sam")
            page.goto(stack.url + "/stories/" + quote(target, safe=""))
            page.wait_for_load_state("load")
            page.screenshot(path=str(args.out / "console-story.png"))

            page.goto(stack.url + "/figures")
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_timeout(300)
            page.screenshot(path=str(args.out / "console-figures.png"), full_page=True)
            browser.close()
    for name in ("console-queue.png", "console-story.png", "console-figures.png"):
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
