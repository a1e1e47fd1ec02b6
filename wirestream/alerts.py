"""Alert rules for the newsroom: loaded from YAML, matched by a pure function.

A rule matches when every condition it states holds; a list means "any of".
The shipped rules: wirestream/data/alert-rules.yaml (WIRESTREAM_ALERT_RULES).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wirestream.taxonomy import FOCUS_VALUES, LANGUAGES, STANCES, TOPIC_CODES, canonical_topic

SCORE_KEYS = ("topic_score", "stance_score", "humanitarian_score", "military_score")
_ALLOWED = {
    "name",
    "description",
    "topics",
    "stances",
    "focus",
    "languages",
    "humanitarian",
    "military",
    "min_scores",
    "keywords",
}


class AlertRuleError(ValueError):
    """The rules file is malformed; the message names the rule and the key."""


@dataclass(frozen=True)
class AlertRule:
    name: str
    description: str = ""
    topics: frozenset[str] = frozenset()
    stances: frozenset[str] = frozenset()
    focus: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    humanitarian: bool | None = None
    military: bool | None = None
    min_scores: dict[str, float] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()

    def matches(self, record: dict[str, Any], text: str) -> bool:
        if self.topics and record["topic"] not in self.topics:
            return False
        if self.stances and record["stance"] not in self.stances:
            return False
        if self.focus and record["focus"] not in self.focus:
            return False
        if self.languages and record["language"] not in self.languages:
            return False
        if self.humanitarian is not None and record["humanitarian"] != self.humanitarian:
            return False
        if self.military is not None and record["military"] != self.military:
            return False
        if any(record[k] < v for k, v in self.min_scores.items()):
            return False
        if self.keywords:
            lowered = text.lower()
            return any(k in lowered for k in self.keywords)
        return True


def matching_rules(rules: Sequence[AlertRule], record: dict[str, Any], text: str) -> list[str]:
    return [r.name for r in rules if r.matches(record, text)]


def _names(where: str, value: Any, allowed: Sequence[str], key: str) -> frozenset[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise AlertRuleError(f"{where}: '{key}' must be a string or a list of strings")
    bad = [v for v in items if v not in allowed]
    if bad:
        raise AlertRuleError(f"{where}: '{key}' has unknown values {bad}; allowed: {list(allowed)}")
    return frozenset(items)


def parse_rules(doc: Any, source: str = "<rules>") -> list[AlertRule]:
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("rules", []), list):
        raise AlertRuleError(f"{source}: expected a mapping with a 'rules' list")
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc.get("rules") or []):
        where = f"{source}: rule #{i + 1}"
        if not isinstance(raw, dict):
            raise AlertRuleError(f"{where}: must be a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise AlertRuleError(f"{where}: needs a non-empty 'name'")
        where = f"{source}: rule {name!r}"
        if name in seen:
            raise AlertRuleError(f"{where}: duplicate name")
        seen.add(name)
        unknown = set(raw) - _ALLOWED
        if unknown:
            raise AlertRuleError(f"{where}: unknown keys {sorted(unknown)}")
        topics = frozenset()
        if "topics" in raw:
            codes = {code: name for name, code in TOPIC_CODES.items()}
            given = [raw["topics"]] if isinstance(raw["topics"], str) else raw["topics"]
            try:
                topics = frozenset(codes.get(t) or canonical_topic(t) for t in given)
            except (ValueError, TypeError) as exc:
                raise AlertRuleError(f"{where}: 'topics': {exc}") from None
        for flag in ("humanitarian", "military"):
            if flag in raw and not isinstance(raw[flag], bool):
                raise AlertRuleError(f"{where}: '{flag}' must be true or false")
        min_scores = raw.get("min_scores", {}) or {}
        if not isinstance(min_scores, dict) or any(
            k not in SCORE_KEYS or not isinstance(v, int | float) or not 0 <= v <= 1
            for k, v in min_scores.items()
        ):
            raise AlertRuleError(
                f"{where}: 'min_scores' maps {list(SCORE_KEYS)} to numbers in [0, 1]"
            )
        keywords = raw.get("keywords", []) or []
        if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
            raise AlertRuleError(f"{where}: 'keywords' must be a list of non-empty strings")
        rules.append(
            AlertRule(
                name=name,
                description=str(raw.get("description", "")),
                topics=topics,
                stances=_names(where, raw.get("stances", []), STANCES, "stances"),
                focus=_names(where, raw.get("focus", []), FOCUS_VALUES, "focus"),
                languages=_names(where, raw.get("languages", []), LANGUAGES, "languages"),
                humanitarian=raw.get("humanitarian"),
                military=raw.get("military"),
                min_scores={k: float(v) for k, v in min_scores.items()},
                keywords=tuple(k.lower() for k in keywords),
            )
        )
    return rules


def load_rules(path: Path) -> list[AlertRule]:
    path = Path(path)
    if not path.is_file():
        raise AlertRuleError(f"alert rules file {path} does not exist (WIRESTREAM_ALERT_RULES)")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AlertRuleError(f"{path}: not valid YAML: {exc}") from None
    return parse_rules(doc, str(path))
