"""Shared bits for the benchmarks: synthetic-but-real stories and result files."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from wirestream.settings import DEFAULT_CORPUS, Settings
from wirestream.training.corpus import load_corpus

RECORD = Path(__file__).resolve().parent / "results"  # tracked: written only with --record
RUNS = Settings().data_dir / "bench"  # every run: untracked


def stories(n: int, target_bytes: int = 0) -> list[dict[str, Any]]:
    """``n`` corpus stories with unique ids; with ``target_bytes``, bodies are
    joined with the following stories' and cut to about that size."""
    corpus = load_corpus([DEFAULT_CORPUS])
    out = []
    for i in range(n):
        s = corpus[i % len(corpus)]
        body = s.body
        j = i + 1
        while target_bytes and len(body.encode()) < target_bytes:
            body += "\n\n" + corpus[j % len(corpus)].body
            j += 1
        if target_bytes:  # cut back to about target_bytes, at a word boundary
            body = body.encode()[:target_bytes].decode("utf-8", "ignore").rsplit(" ", 1)[0]
        out.append({"id": f"bench-{i:06d}", "headline": s.headline, "body": body})
    return out


def write_result(
    name: str, result: dict[str, Any], record: bool = False, markdown: str | None = None
) -> Path:
    """Write ``var/bench/<name>.json`` (and ``.md``); with ``record`` also ``bench/results/``."""
    result = {
        "benchmark": name,
        "run_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    } | result
    for folder in (RUNS, RECORD) if record else (RUNS,):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(
            json.dumps(result, indent=2, ensure_ascii=False) + "\n"
        )
        if markdown:
            (folder / f"{name}.md").write_text(markdown + "\n")
    if markdown:
        print(markdown)
    print(
        f"results: {RUNS / (name + '.json')}"
        + (f" and {RECORD / (name + '.json')}" if record else "")
    )
    return RUNS / f"{name}.json"
