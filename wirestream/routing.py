"""Where a classified story goes. Pure: record in, (topic, message) pairs out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wirestream.alerts import AlertRule, matching_rules


@dataclass(frozen=True)
class RoutingConfig:
    classified: str
    humanitarian: str
    military: str
    alerts: str
    review: str
    review_threshold: float
    rules: Sequence[AlertRule] = ()


def review_reasons(record: dict[str, Any], threshold: float) -> list[str]:
    reasons = []
    if record["topic_score"] < threshold:
        reasons.append(f"topic_score {record['topic_score']:.3f} < {threshold:.3f}")
    if record["stance_score"] < threshold:
        reasons.append(f"stance_score {record['stance_score']:.3f} < {threshold:.3f}")
    return reasons


def route(
    record: dict[str, Any],
    text: str,
    cfg: RoutingConfig,
    explanation: dict[str, list[str]] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Every classified story goes to ``classified``; the others by tag, rule and confidence.

    A story sent for review also carries the model's explanation (the terms that
    weighed most per head), which the review console highlights.
    """
    out: list[tuple[str, dict[str, Any]]] = [(cfg.classified, record)]
    if record["humanitarian"]:
        out.append((cfg.humanitarian, record))
    if record["military"]:
        out.append((cfg.military, record))
    rules = matching_rules(cfg.rules, record, text)
    if rules:
        out.append((cfg.alerts, record | {"alert_rules": rules}))
    reasons = review_reasons(record, cfg.review_threshold)
    if reasons:
        extra: dict[str, Any] = {"review_reasons": reasons}
        if explanation is not None:
            extra["explanation"] = explanation
        out.append((cfg.review, record | extra))
    return out
