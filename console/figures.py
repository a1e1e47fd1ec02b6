"""The figures page's numbers, computed from the console's SQLite state.

Agreement is the share of editors' labels that equal the model's prediction for
the same story, per head, with a Wilson 95% interval. It is the live accuracy
estimate, with one bias the page states: editors mostly see the stories the
model was least sure of, so it understates accuracy on the whole stream.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from wirestream.console.store import Store
from wirestream.labels import HEADS

DAYS = 14


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for a proportion (sensible at small n and near 0 or 1)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def day_range(today: date, days: int) -> list[str]:
    return [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def compute(store: Store, today: date | None = None, days: int = DAYS) -> dict[str, Any]:
    today = today or datetime.now(UTC).date()
    span = day_range(today, days)
    first = span[0]
    db = store.db

    editors: dict[str, list[int]] = {}
    for row in db.execute(
        "SELECT day, labeller, COUNT(*) AS n FROM labels WHERE day>=? GROUP BY day, labeller",
        (first,),
    ):
        if row["day"] in span:
            editors.setdefault(row["labeller"], [0] * days)[span.index(row["day"])] = row["n"]

    agree = {head: [0, 0] for head in HEADS}
    for row in db.execute(
        "SELECT labels, predicted FROM labels WHERE day>=? AND predicted IS NOT NULL", (first,)
    ):
        given, guess = json.loads(row["labels"]), json.loads(row["predicted"])
        for head in HEADS:
            if head in given and guess.get(head) is not None:
                agree[head][1] += 1
                agree[head][0] += int(given[head] == guess[head])
    agreement = []
    for head, (k, n) in agree.items():
        low, high = wilson(k, n)
        agreement.append(
            {
                "head": head,
                "agree": k,
                "n": n,
                "rate": k / n if n else None,
                "low": low,
                "high": high,
            }
        )

    per_day: dict[str, dict[str, int]] = {"classified": {}, "review": {}}
    rules: dict[str, int] = {}
    for row in db.execute(
        "SELECT day, metric, key, n FROM counts WHERE day>=? AND metric IN "
        "('classified', 'review', 'alert_rule')",
        (first,),
    ):
        if row["metric"] == "alert_rule":
            rules[row["key"]] = rules.get(row["key"], 0) + row["n"]
        else:
            per_day[row["metric"]][row["day"]] = row["n"]
    classified = [per_day["classified"].get(d, 0) for d in span]
    review = [per_day["review"].get(d, 0) for d in span]
    return {
        "days": span,
        "labels_per_editor": {name: counts for name, counts in sorted(editors.items())},
        "labels_total": sum(sum(c) for c in editors.values()),
        "agreement": agreement,
        "review_share": {
            "classified": classified,
            "review": review,
            "share": [r / c if c else None for r, c in zip(review, classified, strict=True)],
            "total_share": sum(review) / sum(classified) if sum(classified) else None,
        },
        "alerts_per_rule": [
            {"rule": rule, "n": n}
            for rule, n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "waiting": store.waiting(),
    }
