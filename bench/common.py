"""Shared bits for the benchmarks: synthetic-but-real stories and result files."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from wirestream.settings import DEFAULT_CORPUS
from wirestream.training.corpus import load_corpus

RESULTS = Path(__file__).resolve().parent / "results"


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


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": name,
        "run_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    } | result
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return path
