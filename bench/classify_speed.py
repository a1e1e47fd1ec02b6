"""Batch classification speed on 10,000 stories (python -m bench.classify_speed)."""

from __future__ import annotations

import argparse
import time

from bench.common import stories, write_result
from wirestream.classify import classify_batch
from wirestream.models.persistence import load_model
from wirestream.settings import Settings
from wirestream.story import Story


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-sizes", default="1,16,64,256,1024")
    args = parser.parse_args()
    loaded = load_model(Settings.from_env().model_dir)
    items = [Story(id=s["id"], headline=s["headline"], body=s["body"]) for s in stories(args.n)]
    mean_bytes = sum(len(s.text.encode()) for s in items) / len(items)
    classify_batch(loaded, items[:64])  # warm-up
    runs = {}
    for size in (int(x) for x in args.batch_sizes.split(",")):
        subset = items if size >= 16 else items[:1000]  # one-by-one is slow; 1,000 is enough
        started = time.perf_counter()
        for i in range(0, len(subset), size):
            classify_batch(loaded, subset[i : i + size])
        elapsed = time.perf_counter() - started
        runs[str(size)] = {
            "stories": len(subset),
            "seconds": round(elapsed, 3),
            "stories_per_s": round(len(subset) / elapsed, 1),
        }
        print(f"batch {size:>5}: {len(subset) / elapsed:8.1f} stories/s")
    write_result(
        "classify_speed",
        {
            "model_version": loaded.version,
            "n_stories": args.n,
            "mean_story_bytes": round(mean_bytes),
            "by_batch_size": runs,
        },
    )


if __name__ == "__main__":
    main()
