"""The ``wirestream`` command: one entry point, a sub-command per job.

Imports are deferred into each command so ``--help`` stays fast and the
offline commands never import Kafka or Faust.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from wirestream.settings import DEFAULT_CORPUS, Settings


def _open_in(path: str) -> IO[str]:
    return sys.stdin if path == "-" else open(path, encoding="utf-8")


def _open_out(path: str) -> IO[str]:
    return sys.stdout if path == "-" else open(path, "w", encoding="utf-8")


def _words(value: str) -> tuple[int, int]:
    lo, _, hi = value.partition(":")
    return int(lo), int(hi)


# -- data check ---------------------------------------------------------------
def cmd_data_check(args: argparse.Namespace) -> int:
    from wirestream.training.corpus import check_files

    report = check_files([Path(p) for p in args.paths], words=args.words)
    for err in report.errors:
        print(err, file=sys.stderr)
    for name, counter in report.counts().items():
        if name == "language x topic" and not args.verbose:
            continue
        print(f"{name}:")
        for label, n in sorted(counter.items()):
            print(f"  {n:5d}  {label}")
    print(f"{len(report.stories)} valid stories, {len(report.errors)} problems")
    return 0 if report.ok else 1


# -- train --------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from wirestream.training.corpus import CorpusError
    from wirestream.training.train import train

    settings = Settings.from_env()
    out = Path(args.out) if args.out else settings.model_dir
    try:
        manifest = train([Path(p) for p in args.data], out, seed=args.seed)
    except CorpusError as exc:
        print(f"wirestream train: {exc}", file=sys.stderr)
        return 1
    m = manifest["metrics"]
    print(f"model {manifest['model_version']} written to {out}")
    for head in ("topic", "stance", "humanitarian", "military"):
        print(
            f"  held-out macro-F1 {head:13s} {m[head]['macro_f1']:.3f}  (accuracy {m[head]['accuracy']:.3f})"
        )
    return 0


# -- classify -----------------------------------------------------------------
def _batches(lines: Iterator[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    batch: list[tuple[int, str]] = []
    for item in lines:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def cmd_classify(args: argparse.Namespace) -> int:
    from wirestream.classify import classify_batch
    from wirestream.models.persistence import ModelLoadError, load_model
    from wirestream.story import Invalid, parse_story

    settings = Settings.from_env()
    try:
        loaded = load_model(Path(args.model) if args.model else settings.model_dir)
    except ModelLoadError as exc:
        print(f"wirestream classify: {exc}", file=sys.stderr)
        return 2
    bad = 0
    with _open_in(args.input) as fin, _open_out(args.output) as fout:
        numbered = ((n, line) for n, line in enumerate(fin, 1) if line.strip())
        for batch in _batches(numbered, args.batch_size):
            stories = []
            for lineno, line in batch:
                parsed = parse_story(line, settings.max_body_bytes)
                if isinstance(parsed, Invalid):
                    bad += 1
                    print(
                        f"{args.input}:{lineno}: {parsed.reason}: {parsed.detail}", file=sys.stderr
                    )
                else:
                    stories.append(parsed)
            for record in classify_batch(loaded, stories, explain=args.explain):
                fout.write(json.dumps(record, ensure_ascii=False) + "\n")
            fout.flush()
    if bad:
        print(
            f"wirestream classify: {bad} invalid input lines skipped (listed above)",
            file=sys.stderr,
        )
        return 1
    return 0


# -- parser -------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wirestream",
        description="Classify news wire stories (topic, stance, humanitarian/military) "
        "offline or as they stream through Kafka. Settings: WIRESTREAM_* variables (README).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="labelled-data tools").add_subparsers(
        dest="data_cmd", required=True
    )
    check = data.add_parser("check", help="validate labelled JSONL and print counts per label")
    check.add_argument("paths", nargs="+", help="JSONL files or directories of them")
    check.add_argument(
        "--words",
        type=_words,
        metavar="MIN:MAX",
        help="also require headline+body word counts in this range",
    )
    check.add_argument("-v", "--verbose", action="store_true", help="also count language x topic")
    check.set_defaults(func=cmd_data_check)

    tr = sub.add_parser("train", help="fit, evaluate on the held-out split and save a model")
    tr.add_argument(
        "--data", nargs="+", default=[str(DEFAULT_CORPUS)], help="labelled JSONL files/dirs"
    )
    tr.add_argument("--out", help="model directory (default WIRESTREAM_MODEL_DIR)")
    from wirestream.training.split import DEFAULT_SEED

    tr.add_argument("--seed", type=int, default=DEFAULT_SEED)
    tr.set_defaults(func=cmd_train)

    cl = sub.add_parser("classify", help="classify stories from JSONL offline")
    cl.add_argument("--input", "-i", default="-", help="stories JSONL, '-' for stdin")
    cl.add_argument("--output", "-o", default="-", help="results JSONL, '-' for stdout")
    cl.add_argument("--model", help="model directory (default WIRESTREAM_MODEL_DIR)")
    cl.add_argument(
        "--explain", action="store_true", help="add the terms that weighed most per head"
    )
    cl.add_argument("--batch-size", type=int, default=256)
    cl.set_defaults(func=cmd_classify)

    from wirestream.streams import commands as stream_commands

    stream_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: Any = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
