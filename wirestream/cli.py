"""The ``wirestream`` command: one entry point, a sub-command per job.

Imports are deferred into each command so ``--help`` stays fast and the
offline commands never import Kafka or Faust. Every error a user can fix
(settings, files, ports, the broker address, a refused model) ends as one line
naming what is wrong, with exit code 2; tracebacks only with WIRESTREAM_DEBUG=true.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from wirestream.errors import UserError
from wirestream.settings import DEFAULT_CORPUS, DEFAULT_WIRE_HELDOUT, Settings, SettingsError


def _open_out(path: str) -> IO[str]:
    return sys.stdout if path == "-" else open(path, "w", encoding="utf-8")


def _words(value: str) -> tuple[int, int]:
    lo, _, hi = value.partition(":")
    try:
        return int(lo), int(hi)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not MIN:MAX") from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def _settings() -> Settings:
    return Settings.from_env()


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


# -- keys -----------------------------------------------------------------------
def cmd_keys_generate(args: argparse.Namespace) -> int:
    from wirestream.models.signing import KeyError_, generate

    prefix = Path(args.out)
    if args.if_missing and prefix.with_name(prefix.name + ".pem").exists():
        print(f"{prefix}.pem exists; keeping it")
        return 0
    try:
        private, public, kid = generate(prefix)
    except KeyError_ as exc:
        raise UserError(str(exc)) from None
    print(f"wrote {private} (private, mode 600) and {public} (public); key id {kid}")
    print(f"  sign:   WIRESTREAM_MODEL_SIGNING_KEY={private}")
    print(f"  verify: WIRESTREAM_MODEL_PUBLIC_KEYS={public}")
    return 0


def signing_key(settings: Settings) -> Any:
    """The private key models are signed with, or None when unsigned models are allowed."""
    from wirestream.models.signing import KeyError_, load_private

    if settings.model_signing_key is None:
        if settings.allow_unsigned_models:
            print(
                "warning: WIRESTREAM_MODEL_SIGNING_KEY is not set; the model will be UNSIGNED",
                file=sys.stderr,
            )
            return None
        raise UserError(
            "set WIRESTREAM_MODEL_SIGNING_KEY to the private key that signs models "
            "(`wirestream keys generate --out KEYPREFIX` makes one)"
        )
    try:
        return load_private(settings.model_signing_key)
    except KeyError_ as exc:
        raise UserError(str(exc)) from None


# -- train ----------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    import tempfile

    from wirestream.models.persistence import TrustPolicy
    from wirestream.models.registry import Registry
    from wirestream.training.train import train

    settings = _settings()
    key = signing_key(settings)
    wire = [Path(p) for p in args.wire_heldout] if args.wire_heldout else []
    wire = [p for p in wire if p.exists()]
    if args.out:
        out = Path(args.out)
        manifest = train(
            [Path(p) for p in args.data], out, signing_key=key, wire_heldout=wire, seed=args.seed
        )
        print(f"model {manifest['model_version']} written to {out}")
        return 0
    registry = Registry(settings.registry)
    if args.if_empty and registry.current_version() is not None:
        print(
            f"the registry {settings.registry} already serves {registry.current_version()}; nothing to do"
        )
        return 0
    with tempfile.TemporaryDirectory(dir=_mkdir(settings.registry)) as tmp:
        manifest = train(
            [Path(p) for p in args.data],
            Path(tmp) / "model",
            signing_key=key,
            wire_heldout=wire,
            seed=args.seed,
        )
        version = registry.add(Path(tmp) / "model")
    print(f"model {version} added to the registry {settings.registry}")
    if args.promote or registry.current_version() is None:
        registry.promote(
            version,
            TrustPolicy.from_settings(settings),
            by="wirestream train",
            reason="trained on the corpus",
        )
        print(f"promoted {version}: it is now the current model")
        _announce(settings, version)
    else:
        print(
            f"the current model is still {registry.current_version()}; `wirestream models promote {version}` serves it"
        )
    return 0


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _announce(settings: Settings, version: str) -> None:
    """Tell running workers about a promotion; they also notice by polling if this cannot."""
    from wirestream.streams.control import announce

    announce(settings, version)


# -- models -----------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> int:
    from wirestream.models.persistence import ModelLoadError, TrustPolicy, read_manifest
    from wirestream.models.registry import Registry, RegistryError

    settings = _settings()
    registry = Registry(settings.registry)
    try:
        if args.models_cmd == "list":
            rows = registry.list()
            if not rows:
                print(f"no models in {settings.registry}")
            for info in rows:
                mark = "*" if info.current else " "
                reason = f"  ({info.reason})" if info.reason else ""
                print(f"{mark} {info.version:<28} {info.status:<10} {info.created_at}{reason}")
            return 0
        if args.models_cmd == "show":
            path = registry.path_of(args.version)
            manifest = read_manifest(path)
            shown = {k: v for k, v in manifest.items() if k not in ("held_out_ids", "params")}
            print(
                json.dumps(
                    shown | {"status": registry.status(args.version)}, indent=2, ensure_ascii=False
                )
            )
            report = path / "comparison.md"
            if report.is_file():
                print(report.read_text(encoding="utf-8"))
            return 0
        trust = TrustPolicy.from_settings(settings)
        by = os.environ.get("USER", "operator")
        if args.models_cmd == "promote":
            pointer = registry.promote(args.version, trust, by=f"{by} (models promote)")
        else:
            pointer = registry.rollback(trust, by=f"{by} (models rollback)")
        print(f"current model: {pointer['version']} (was {pointer['previous']})")
        _announce(settings, pointer["version"])
        return 0
    except (RegistryError, ModelLoadError) as exc:
        raise UserError(str(exc)) from None


# -- labels and retrain -------------------------------------------------------------
def _store(settings: Settings) -> Any:
    from wirestream.label_store import LabelStore

    path = settings.label_store_path
    if not path.is_file():
        raise UserError(
            f"no label store at {path} (WIRESTREAM_LABEL_STORE); `wirestream labeller` creates it"
        )
    return LabelStore.read_only(path)


def cmd_labels_export(args: argparse.Namespace) -> int:
    from wirestream.label_store import export_jsonl

    store = _store(_settings())
    try:
        rows, skipped = store.export(since=args.since)
    finally:
        store.close()
    with _open_out(args.output) as out:
        for line in export_jsonl(rows):
            out.write(line + "\n")
    left = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in skipped.items() if n)
    print(
        f"exported {len(rows)} labelled stories" + (f"; left out: {left}" if left else ""),
        file=sys.stderr,
    )
    return 0


def cmd_labels_stats(args: argparse.Namespace) -> int:
    store = _store(_settings())
    try:
        stats = store.stats()
    finally:
        store.close()
    print(
        f"{stats['stories']} labelled stories, {stats['events']} label events, {stats['pending']} pending (no text yet)"
    )
    print("per head and label:")
    for head, value, n in stats["per_label"]:
        print(f"  {head:<13} {str(value).lower():<42} {n:6d}")
    print("per labeller (label events, stories):")
    for who, events, stories in stats["per_labeller"]:
        print(f"  {who:<30} {events:6d} {stories:6d}")
    print("agreement with the model's prediction (the live accuracy estimate):")
    for head, (agree, n) in stats["agreement"].items():
        print(f"  {head:<13} {agree / n:6.1%}  ({agree} of {n})")
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    from wirestream.models.persistence import ModelLoadError, TrustPolicy
    from wirestream.models.registry import Registry
    from wirestream.training.retrain import (
        EXIT_LOCKED,
        EXIT_PROMOTED,
        EXIT_REJECTED,
        RetrainLocked,
        retrain,
    )

    settings = _settings()
    key = signing_key(settings)
    if not settings.label_store_path.is_file():
        raise UserError(f"no label store at {settings.label_store_path} (WIRESTREAM_LABEL_STORE)")
    wire = [p for p in map(Path, args.wire_heldout) if p.exists()]
    try:
        decision = retrain(
            corpus_paths=[Path(p) for p in args.data],
            wire_heldout=wire,
            store_path=settings.label_store_path,
            registry=Registry(settings.registry),
            trust=TrustPolicy.from_settings(settings),
            signing_key=key,
            tolerance=settings.retrain_tolerance,
            holdout=settings.retrain_label_holdout,
            announce=lambda version: _announce(settings, version),
        )
    except RetrainLocked as exc:
        print(f"wirestream retrain: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except ModelLoadError as exc:
        raise UserError(f"the serving model cannot be loaded: {exc}") from None
    if decision.promote:
        print(f"promoted {decision.candidate} (was {decision.serving})")
        return EXIT_PROMOTED
    print(
        f"rejected {decision.candidate}; still serving {decision.serving}: {'; '.join(decision.reasons)}"
    )
    return EXIT_REJECTED


# -- classify -----------------------------------------------------------------
def _numbered_lines(path: str) -> Iterator[tuple[int, bytes]]:
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    with stream:
        for n, line in enumerate(stream, 1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield n, line


def _batches(lines: Iterator[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    batch: list[tuple[int, bytes]] = []
    for item in lines:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def cmd_classify(args: argparse.Namespace) -> int:
    from wirestream.classify import classify_batch
    from wirestream.models.persistence import ModelLoadError
    from wirestream.models.source import model_source
    from wirestream.pipeline import encode
    from wirestream.story import InputLimits, Invalid, parse_story

    settings = _settings()
    if args.model:
        settings = settings.replace(model_dir=Path(args.model))
    if args.input != "-" and not Path(args.input).is_file():
        raise UserError(f"input file {args.input} does not exist")
    try:
        loaded = model_source(settings).load()
    except ModelLoadError as exc:
        raise UserError(str(exc)) from None
    limits = InputLimits.from_settings(settings)
    bad = 0
    with _open_out(args.output) as fout:
        for batch in _batches(_numbered_lines(args.input), args.batch_size):
            stories = []
            for lineno, line in batch:
                parsed = parse_story(line, limits)
                if isinstance(parsed, Invalid):
                    bad += 1
                    print(
                        f"{args.input}:{lineno}: {parsed.reason}: {parsed.detail}", file=sys.stderr
                    )
                else:
                    stories.append(parsed)
            for record in classify_batch(loaded, stories, explain=args.explain):
                fout.write(encode(record).decode("utf-8") + "\n")
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

    from wirestream.training.split import DEFAULT_SEED

    tr = sub.add_parser("train", help="fit, evaluate on both held-out sets, save a signed model")
    tr.add_argument(
        "--data", nargs="+", default=[str(DEFAULT_CORPUS)], help="labelled JSONL files/dirs"
    )
    tr.add_argument(
        "--wire-heldout",
        nargs="*",
        default=[str(DEFAULT_WIRE_HELDOUT)],
        help="the wire-register held-out set (evaluated, never fitted)",
    )
    tr.add_argument("--out", help="write the model to this directory instead of the registry")
    tr.add_argument(
        "--promote",
        action="store_true",
        help="make it the current model (the first model always is)",
    )
    tr.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing when the registry already has a current model",
    )
    tr.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="the model's random state (the held-out split is fixed by story id)",
    )
    tr.set_defaults(func=cmd_train)

    cl = sub.add_parser("classify", help="classify stories from JSONL offline")
    cl.add_argument("--input", "-i", default="-", help="stories JSONL, '-' for stdin")
    cl.add_argument("--output", "-o", default="-", help="results JSONL, '-' for stdout")
    cl.add_argument("--model", help="model directory (default: the registry's current model)")
    cl.add_argument(
        "--explain", action="store_true", help="add the terms that weighed most per head"
    )
    cl.add_argument("--batch-size", type=_positive, default=256)
    cl.set_defaults(func=cmd_classify)

    keys = sub.add_parser("keys", help="model signing keys").add_subparsers(
        dest="keys_cmd", required=True
    )
    kg = keys.add_parser(
        "generate", help="write an Ed25519 key pair: PREFIX.pem (private, 600) and PREFIX.pub"
    )
    kg.add_argument("--out", required=True, metavar="PREFIX")
    kg.add_argument("--if-missing", action="store_true", help="do nothing when PREFIX.pem exists")
    kg.set_defaults(func=cmd_keys_generate)

    models = sub.add_parser("models", help="the model registry").add_subparsers(
        dest="models_cmd", required=True
    )
    models.add_parser(
        "list", help="every version, its status; * marks the current one"
    ).set_defaults(func=cmd_models)
    show = models.add_parser("show", help="a version's manifest and comparison report")
    show.add_argument("version")
    show.set_defaults(func=cmd_models)
    promote = models.add_parser(
        "promote", help="verify a version and make it current (workers reload)"
    )
    promote.add_argument("version")
    promote.set_defaults(func=cmd_models)
    models.add_parser("rollback", help="make the previous version current again").set_defaults(
        func=cmd_models
    )

    labels = sub.add_parser("labels", help="the newsroom's label store").add_subparsers(
        dest="labels_cmd", required=True
    )
    le = labels.add_parser(
        "export", help="labelled stories in the corpus schema (all four heads, with text)"
    )
    le.add_argument("--since", help="only stories last labelled at or after this ISO 8601 time")
    le.add_argument("--output", "-o", default="-", help="JSONL file, '-' for stdout")
    le.set_defaults(func=cmd_labels_export)
    labels.add_parser(
        "stats", help="counts per head, label and labeller; agreement with the model"
    ).set_defaults(func=cmd_labels_stats)

    rt = sub.add_parser(
        "retrain",
        help="train on corpus + labels; promote only if no head gets worse (exit 0 promoted, 4 rejected, 5 locked)",
    )
    rt.add_argument("--data", nargs="+", default=[str(DEFAULT_CORPUS)], help="the corpus")
    rt.add_argument("--wire-heldout", nargs="*", default=[str(DEFAULT_WIRE_HELDOUT)])
    rt.set_defaults(func=cmd_retrain)

    from wirestream.streams import commands as stream_commands

    stream_commands.register(sub)
    from wirestream.console import cli as console_cli

    console_cli.register(sub)
    return parser


def _debug() -> bool:
    return os.environ.get("WIRESTREAM_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = f"wirestream {args.command}"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if _debug():
            raise
        from wirestream.alerts import AlertRuleError
        from wirestream.training.corpus import CorpusError

        if isinstance(exc, UserError | SettingsError | AlertRuleError | CorpusError):
            print(f"{name}: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, FileNotFoundError):
            print(f"{name}: {exc.filename}: no such file", file=sys.stderr)
            return 2
        print(
            f"{name}: unexpected {type(exc).__name__}: {exc} (WIRESTREAM_DEBUG=true shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
