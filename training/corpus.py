"""Labelled JSONL stories: loading, schema checks with line numbers, label counts.

The same schema serves the shipped corpus and a newsroom's own labels, so
`wirestream train --data` can retrain on either.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wirestream.story import story_text
from wirestream.taxonomy import LANGUAGES, STANCES, TOPIC_ALIASES, TOPIC_CODES

_WORD = re.compile(r"\w+")
_FIELDS: dict[str, type] = {
    "id": str,
    "headline": str,
    "body": str,
    "language": str,
    "topic": str,
    "stance": str,
    "humanitarian": bool,
    "military": bool,
}


@dataclass(frozen=True)
class LabelledStory:
    id: str
    headline: str
    body: str
    language: str
    topic: str
    stance: str
    humanitarian: bool
    military: bool
    topics_secondary: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return story_text(self.headline, self.body)

    @property
    def targets(self) -> list[object]:
        return [self.topic, self.stance, self.humanitarian, self.military]

    def canonical_json(self) -> str:
        return json.dumps(
            self.__dict__ | {"topics_secondary": list(self.topics_secondary)},
            sort_keys=True,
            ensure_ascii=False,
        )


@dataclass
class CheckReport:
    stories: list[LabelledStory] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {
            "language": Counter(),
            "topic": Counter(),
            "stance": Counter(),
            "humanitarian": Counter(),
            "military": Counter(),
            "stance x humanitarian x military": Counter(),
            "language x topic": Counter(),
        }
        for s in self.stories:
            out["language"][s.language] += 1
            out["topic"][s.topic] += 1
            out["stance"][s.stance] += 1
            out["humanitarian"][str(s.humanitarian).lower()] += 1
            out["military"][str(s.military).lower()] += 1
            combo = f"{s.stance} hum={str(s.humanitarian).lower()} mil={str(s.military).lower()}"
            out["stance x humanitarian x military"][combo] += 1
            out["language x topic"][f"{s.language} {s.topic}"] += 1
        return out


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories become their ``*.jsonl`` files, sorted."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(p.glob("*.jsonl")))
        else:
            out.append(p)
    return out


def _validate(obj: Any, words: tuple[int, int] | None) -> list[str]:
    if not isinstance(obj, dict):
        return [f"expected a JSON object, got {type(obj).__name__}"]
    errs = []
    for name, typ in _FIELDS.items():
        if name not in obj:
            errs.append(f"missing field {name!r}")
        elif not isinstance(obj[name], typ):
            errs.append(f"field {name!r} must be {typ.__name__}, got {type(obj[name]).__name__}")
        elif typ is str and not obj[name].strip():
            errs.append(f"field {name!r} is empty")
    if errs:
        return errs
    if obj["language"] not in LANGUAGES:
        errs.append(f"language {obj['language']!r} is not one of {', '.join(LANGUAGES)}")
    topic = TOPIC_ALIASES.get(obj["topic"], obj["topic"])
    if topic not in TOPIC_CODES:
        errs.append(f"topic {obj['topic']!r} is not one of the 17 IPTC top-level names")
    secondary = obj.get("topics_secondary", [])
    if secondary is None:
        secondary = []
    if not isinstance(secondary, list) or not all(isinstance(t, str) for t in secondary):
        errs.append("topics_secondary must be a list of topic names")
    else:
        errs += [
            f"secondary topic {t!r} is not an IPTC top-level name"
            for t in secondary
            if TOPIC_ALIASES.get(t, t) not in TOPIC_CODES
        ]
    if obj["stance"] not in STANCES:
        errs.append(f"stance {obj['stance']!r} is not one of {', '.join(STANCES)}")
    unknown = set(obj) - set(_FIELDS) - {"topics_secondary"}
    if unknown:
        errs.append(f"unknown fields {sorted(unknown)}")
    if words is not None:
        n = len(_WORD.findall(obj["headline"] + " " + obj["body"]))
        if not words[0] <= n <= words[1]:
            errs.append(f"{n} words in headline and body, expected {words[0]}-{words[1]}")
    return errs


def check_files(paths: Iterable[Path], words: tuple[int, int] | None = None) -> CheckReport:
    report = CheckReport()
    seen: dict[str, str] = {}
    files = expand_paths(paths)
    if not files:
        report.errors.append("no JSONL files found")
    for path in files:
        if not path.is_file():
            report.errors.append(f"{path}: no such file")
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path}:{lineno}"
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                report.errors.append(f"{where}: invalid JSON: {exc}")
                continue
            errs = _validate(obj, words)
            if not errs and obj["id"] in seen:
                errs.append(f"duplicate id {obj['id']!r} (first at {seen[obj['id']]})")
            if errs:
                report.errors.extend(f"{where}: {e}" for e in errs)
                continue
            seen[obj["id"]] = where
            report.stories.append(
                LabelledStory(
                    id=obj["id"],
                    headline=obj["headline"],
                    body=obj["body"],
                    language=obj["language"],
                    topic=TOPIC_ALIASES.get(obj["topic"], obj["topic"]),
                    stance=obj["stance"],
                    humanitarian=obj["humanitarian"],
                    military=obj["military"],
                    topics_secondary=tuple(obj.get("topics_secondary") or ()),
                )
            )
    return report


class CorpusError(ValueError):
    pass


def load_corpus(paths: Iterable[Path]) -> list[LabelledStory]:
    """Load and validate, refusing the whole set on any error (training must not guess)."""
    report = check_files(paths)
    if not report.ok:
        shown = "\n  ".join(report.errors[:20])
        more = f"\n  ... and {len(report.errors) - 20} more" if len(report.errors) > 20 else ""
        raise CorpusError(f"{len(report.errors)} problems in the labelled data:\n  {shown}{more}")
    return sorted(report.stories, key=lambda s: s.id)


def corpus_sha256(stories: Iterable[LabelledStory]) -> str:
    """Order-independent hash of the labelled data, for the manifest."""
    digest = hashlib.sha256()
    for line in sorted(s.canonical_json() for s in stories):
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def iter_jsonl(path: Path) -> Iterator[tuple[int, str]]:
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                yield lineno, line
