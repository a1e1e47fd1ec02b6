"""Label sets, kept in one place so codes and names never drift apart.

Topics are the 17 top-level IPTC Media Topics. The names follow the IPTC
vocabulary; IPTC's 2025 release calls 11000000 "politics and government",
and we keep the shorter label the corpus uses while accepting both.
"""

from __future__ import annotations

TOPIC_CODES: dict[str, str] = {
    "arts, culture, entertainment and media": "medtop:01000000",
    "crime, law and justice": "medtop:02000000",
    "disaster, accident and emergency incident": "medtop:03000000",
    "economy, business and finance": "medtop:04000000",
    "education": "medtop:05000000",
    "environment": "medtop:06000000",
    "health": "medtop:07000000",
    "human interest": "medtop:08000000",
    "labour": "medtop:09000000",
    "lifestyle and leisure": "medtop:10000000",
    "politics": "medtop:11000000",
    "religion": "medtop:12000000",
    "science and technology": "medtop:13000000",
    "society": "medtop:14000000",
    "sport": "medtop:15000000",
    "conflict, war and peace": "medtop:16000000",
    "weather": "medtop:17000000",
}

TOPIC_ALIASES: dict[str, str] = {"politics and government": "politics"}

TOPICS: tuple[str, ...] = tuple(TOPIC_CODES)
STANCES: tuple[str, ...] = ("conciliatory", "confrontational", "neutral")
LANGUAGES: tuple[str, ...] = ("en", "uk", "ru")
TAGS: tuple[str, ...] = ("humanitarian", "military")
FOCUS_VALUES: tuple[str, ...] = ("humanitarian", "military", "mixed", "none")


def canonical_topic(name: str) -> str:
    """Map an accepted topic spelling to the corpus label, or raise ValueError."""
    name = TOPIC_ALIASES.get(name, name)
    if name not in TOPIC_CODES:
        raise ValueError(f"unknown topic {name!r}; expected one of the 17 IPTC top-level names")
    return name


def topic_code(name: str) -> str:
    return TOPIC_CODES[canonical_topic(name)]


def focus(humanitarian: bool, military: bool) -> str:
    """Summarise the two tags in the one field dashboards group by."""
    if humanitarian and military:
        return "mixed"
    if humanitarian:
        return "humanitarian"
    if military:
        return "military"
    return "none"
