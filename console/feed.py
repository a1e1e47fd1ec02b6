"""The classified feed's filters: one definition for the first page and the live stream.

A filter comes from the page's query string (topic, stance, focus, language,
model version, free text); unknown values are ignored rather than trusted. Text
search is a case-insensitive match of every word in the headline or body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from wirestream.taxonomy import FOCUS_VALUES, LANGUAGES, STANCES, TOPIC_CODES

MAX_QUERY = 200


@dataclass(frozen=True)
class FeedFilter:
    topic: str = ""
    stance: str = ""
    focus: str = ""
    language: str = ""
    model: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> FeedFilter:
        def pick(name: str, allowed: Iterable[str]) -> str:
            value = query.get(name, "")
            return value if value in allowed else ""

        return cls(
            topic=pick("topic", TOPIC_CODES),
            stance=pick("stance", STANCES),
            focus=pick("focus", FOCUS_VALUES),
            language=pick("language", LANGUAGES),
            model=query.get("model", "")[:MAX_QUERY],
            q=" ".join(query.get("q", "").split())[:MAX_QUERY],
        )

    @property
    def active(self) -> bool:
        return any(asdict(self).values())

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def matches(self, record: Mapping[str, Any]) -> bool:
        for name in ("topic", "stance", "focus", "language"):
            wanted = getattr(self, name)
            if wanted and record.get(name) != wanted:
                return False
        if self.model and record.get("model_version") != self.model:
            return False
        if self.q:
            text = f"{record.get('headline') or ''}\n{record.get('body') or ''}".casefold()
            return all(word in text for word in self.q.casefold().split())
        return True
