"""How close new stories come to others: the check behind every "dropped for proximity".

``python -m tools.proximity NEW.jsonl ... --against OLD.jsonl ... [--top 15]`` prints, for
the new stories nearest to any of the others, the TF-IDF cosine of the two texts, the
5-word shingle overlap (Jaccard) and the figures both share (numbers of two or more
digits, years left out). Writers remember real reports: two stories with the same event
kind *and* the same figures or place are a sign of one, or of a held-out story leaking
into training data. TF-IDF cannot see a Russian story repeat an English one, so the tool
also lists pairs in different languages with the same topic and a figure in common in both
headlines (``16,5%`` and ``16.5%`` are the same figure). A person decides; the tool only
points.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer

from wirestream.training.corpus import LabelledStory, expand_paths, load_corpus

WORD = re.compile(r"\w+")
FIGURE = re.compile(r"\b\d[\d,.]*\d\b")
YEAR = re.compile(r"(19|20)\d\d")
# In a headline, any language's way of writing a figure: 16.5, 16,5, 3 400, 4,300.
HEADLINE_FIGURE = re.compile(r"\d(?:[\d,.]|(?<=\d)\s(?=\d))*")


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def figures(text: str) -> set[str]:
    found = {f.replace(",", "").rstrip(".") for f in FIGURE.findall(text)}
    return {f for f in found if not YEAR.fullmatch(f)}


def headline_figures(headline: str) -> set[str]:
    """Figures of two or more digits in a headline, separators dropped so that languages
    that write them differently agree; years left out."""
    found = {re.sub(r"[\s,.]", "", f) for f in HEADLINE_FIGURE.findall(headline)}
    return {f for f in found if len(f) >= 2 and not YEAR.fullmatch(f)}


def across_languages(
    new: list[LabelledStory], old: list[LabelledStory]
) -> list[tuple[LabelledStory, LabelledStory, tuple[str, ...]]]:
    """Pairs in different languages with the same topic and a headline figure in common
    (through an index of figures, as ``max_shingle_jaccard`` indexes shingles)."""
    old_figures = [headline_figures(s.headline) for s in old]
    index: dict[str, list[int]] = {}
    for j, figs in enumerate(old_figures):
        for f in figs:
            index.setdefault(f, []).append(j)
    found = []
    for story in new:
        mine = headline_figures(story.headline)
        for j in sorted({j for f in mine for j in index.get(f, ())}):
            other = old[j]
            if (
                other.id != story.id
                and other.language != story.language
                and other.topic == story.topic
            ):
                found.append((story, other, tuple(sorted(mine & old_figures[j]))))
    return found


def jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def max_shingle_jaccard(new: list[LabelledStory], old: list[LabelledStory]) -> float:
    """The largest shingle overlap between any new story and any other (through an index of
    shingles, so every pair sharing one is counted without comparing all pairs)."""
    old_sets = [shingles(s.text) for s in old]
    index: dict[tuple[str, ...], list[int]] = {}
    for j, sh in enumerate(old_sets):
        for g in sh:
            index.setdefault(g, []).append(j)
    worst = 0.0
    for story in new:
        sh = shingles(story.text)
        shared: dict[int, int] = {}
        for g in sh:
            for j in index.get(g, ()):
                if old[j].id != story.id:
                    shared[j] = shared.get(j, 0) + 1
        for j, n in shared.items():
            worst = max(worst, n / (len(sh) + len(old_sets[j]) - n))
    return worst


@dataclass(frozen=True)
class Pair:
    new: LabelledStory
    old: LabelledStory
    cosine: float
    shingle_jaccard: float
    shared_figures: tuple[str, ...]


def nearest(new: list[LabelledStory], old: list[LabelledStory]) -> list[Pair]:
    """For each new story, its nearest other story by TF-IDF cosine (a story is never its own)."""
    vec = TfidfVectorizer(sublinear_tf=True).fit([s.text for s in new + old])
    sims = (vec.transform([s.text for s in new]) @ vec.transform([s.text for s in old]).T).toarray()
    pairs = []
    for i, story in enumerate(new):
        for j in sims[i].argsort()[::-1]:
            if old[j].id != story.id:
                break
        else:
            continue
        pairs.append(
            Pair(
                story,
                old[j],
                float(sims[i, j]),
                jaccard(shingles(story.text), shingles(old[j].text)),
                tuple(sorted(figures(story.text) & figures(old[j].text))),
            )
        )
    return sorted(pairs, key=lambda p: -p.cosine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("new", nargs="+", type=Path, help="JSONL files or folders of new stories")
    parser.add_argument("--against", nargs="+", type=Path, required=True)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    new = load_corpus(expand_paths(args.new))
    old = load_corpus(expand_paths(args.against))
    pairs = nearest(new, old)
    worst = max_shingle_jaccard(new, old)
    print(f"{len(new)} stories against {len(old)}; largest 5-word shingle Jaccard {worst:.3f}")
    print("| cosine | shingles | shared figures | new | nearest |")
    print("|---|---|---|---|---|")
    for p in pairs[: args.top]:
        print(
            f"| {p.cosine:.2f} | {p.shingle_jaccard:.3f} | {', '.join(p.shared_figures[:6])} "
            f"| {p.new.id}: {p.new.headline[:70]} | {p.old.id}: {p.old.headline[:70]} |"
        )
    crossed = across_languages(new, old)
    print(f"\n{len(crossed)} pairs in different languages, same topic, a headline figure shared")
    print("| shared | new | other |")
    print("|---|---|---|")
    for story, other, shared in crossed:
        print(
            f"| {', '.join(shared)} | {story.id}: {story.headline[:70]} | {other.id}: {other.headline[:70]} |"
        )


if __name__ == "__main__":
    main()
