"""CLI sub-commands that talk to Kafka; registered by ``wirestream.cli``."""

from __future__ import annotations

import argparse
import sys

from wirestream.settings import Settings


def _settings() -> Settings:
    return Settings.from_env()


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def cmd_broker(args: argparse.Namespace) -> int:
    from wirestream.streams.broker import run_foreground

    return run_foreground(args.port)


def cmd_topics_create(args: argparse.Namespace) -> int:
    from wirestream.streams.admin import ensure_topics

    settings = _settings()
    if args.partitions:
        settings = settings.replace(partitions=args.partitions)
    status = ensure_topics(settings, timeout=5.0)
    for topic, state in status.items():
        print(f"{topic:<24} {state}")
    return 0 if all(s in ("created", "exists") for s in status.values()) else 1


def cmd_worker(args: argparse.Namespace) -> int:
    from wirestream.streams.worker import run_worker

    return run_worker(_settings())


def cmd_publish(args: argparse.Namespace) -> int:
    from wirestream.streams.publish import publish, read_lines

    settings = _settings()
    total = None
    if args.file != "-":
        total = sum(1 for _ in read_lines(args.file))
    sent = publish(settings, read_lines(args.file), topic=args.topic, total=total)
    print(f"published {sent} messages to {args.topic or settings.topic_input}", file=sys.stderr)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from wirestream.streams.publish import tail

    tail(_settings(), args.topic, args.json, args.from_beginning, args.max, args.idle_timeout)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from wirestream.streams.demo import run_demo

    return run_demo(port=args.port, count=args.count, duration=args.duration, verbose=args.verbose)


def cmd_notify(args: argparse.Namespace) -> int:
    from wirestream.streams.notify import run_notifier

    settings = _settings()
    if args.webhook:
        settings = settings.replace(webhook_url=args.webhook)
    return run_notifier(settings, max_alerts=args.max, idle_timeout=args.idle_timeout)


def cmd_labeller(args: argparse.Namespace) -> int:
    from wirestream.streams.labeller import run_labeller

    return run_labeller(_settings(), idle_timeout=args.idle_timeout)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    lb = sub.add_parser(
        "labeller", help="editors' labels from the labels topic into the label store"
    )
    lb.add_argument("--idle-timeout", type=float, help="stop after this many quiet seconds")
    lb.set_defaults(func=cmd_labeller)

    b = sub.add_parser("broker", help="run the embedded Tansu broker in the foreground")
    b.add_argument("--port", type=int, default=9092)
    b.set_defaults(func=cmd_broker)

    topics = sub.add_parser("topics", help="topic administration").add_subparsers(
        dest="topics_cmd", required=True
    )
    tc = topics.add_parser("create", help="create every topic (idempotent)")
    tc.add_argument("--partitions", type=_positive, help="override WIRESTREAM_PARTITIONS")
    tc.set_defaults(func=cmd_topics_create)

    w = sub.add_parser("worker", help="run a Faust worker (settings from WIRESTREAM_*)")
    w.set_defaults(func=cmd_worker)

    p = sub.add_parser("publish", help="publish stories (JSON lines) to the input topic")
    p.add_argument("file", help="JSONL file, '-' for stdin; every line is sent as-is")
    p.add_argument("--topic", help="override WIRESTREAM_TOPIC_INPUT")
    p.set_defaults(func=cmd_publish)

    t = sub.add_parser("tail", help="print messages of a topic as they arrive")
    t.add_argument("topic")
    t.add_argument("--json", action="store_true", help="raw JSON, one message a line")
    t.add_argument("--from-beginning", action="store_true")
    t.add_argument("--max", type=_positive, help="stop after this many messages")
    t.add_argument("--idle-timeout", type=float, help="stop after this many quiet seconds")
    t.set_defaults(func=cmd_tail)

    n = sub.add_parser("notify", help="post alerts to a Slack-compatible webhook")
    n.add_argument("--webhook", help="override WIRESTREAM_WEBHOOK_URL")
    n.add_argument("--max", type=_positive, help="stop after handling this many alerts")
    n.add_argument("--idle-timeout", type=float, help="stop after this many quiet seconds")
    n.set_defaults(func=cmd_notify)

    d = sub.add_parser("demo", help="broker + worker + sample stories, shown live (make run)")
    d.add_argument("--port", type=int, default=0, help="broker port (default: a free one)")
    d.add_argument("--count", type=_positive, default=60, help="sample stories to publish")
    d.add_argument("--duration", type=float, help="stop by itself after this many seconds")
    d.add_argument(
        "--verbose",
        action="store_true",
        help="show the worker's log too (else in var/demo/worker.log)",
    )
    d.set_defaults(func=cmd_demo)
