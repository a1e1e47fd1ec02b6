"""Explanation terms found in a story's text, as plain segments.

The model explains a review story with the terms that weighed most per head: a
word, a bigram ``"a b"``, or a prefix ``"abc~"`` (any word starting with it).
This module never produces HTML: it cuts the *raw* text into ``(text, heads)``
segments, and the template (Jinja, autoescaping) or the page script
(``textContent``) writes each one. Escaping happens per segment at output, so a
highlight can never re-open an injection, whatever the text or the terms hold.
Words are found exactly as the model's tokenizer finds them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # the model's tokenizer (models/estimator.py)

Segment = tuple[str, list[str]]


@dataclass
class _Terms:
    words: dict[str, set[str]] = field(default_factory=dict)
    prefixes: dict[str, set[str]] = field(default_factory=dict)
    bigrams: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def word_heads(self, word: str) -> set[str]:
        heads = set(self.words.get(word, ()))
        for prefix, owners in self.prefixes.items():
            if word.startswith(prefix):
                heads |= owners
        return heads


def _index(explanation: Mapping[str, Sequence[str]]) -> _Terms:
    terms = _Terms()
    for head, items in explanation.items():
        for raw in items:
            term = raw.strip().lower()
            if term.endswith("~") and len(term) > 1:
                terms.prefixes.setdefault(term[:-1], set()).add(head)
            elif " " in term:
                first, _, second = term.partition(" ")
                if first and second and " " not in second:
                    terms.bigrams.setdefault((first, second), set()).add(head)
            elif term:
                terms.words.setdefault(term, set()).add(head)
    return terms


def segments(text: str, explanation: Mapping[str, Sequence[str]]) -> list[Segment]:
    """``text`` cut into consecutive pieces, each with the heads whose terms it matches.

    Joining the texts gives back ``text`` exactly; unmatched pieces have no heads.
    """
    if not text:
        return []
    terms = _index(explanation)
    if not (terms.words or terms.prefixes or terms.bigrams):
        return [(text, [])]
    tokens = [(m.start(), m.end(), m.group().lower()) for m in TOKEN.finditer(text)]
    heads = [terms.word_heads(word) for _, _, word in tokens]
    gaps: list[set[str]] = [set() for _ in tokens]
    for i in range(len(tokens) - 1):
        pair = terms.bigrams.get((tokens[i][2], tokens[i + 1][2]))
        if pair:
            heads[i] |= pair
            heads[i + 1] |= pair
            if "\n" not in text[tokens[i][1] : tokens[i + 1][0]]:
                gaps[i] |= pair
    pieces: list[tuple[int, int, frozenset[str]]] = []
    position = 0
    for i, (start, end, _) in enumerate(tokens):
        if start > position:
            gap = gaps[i - 1] if i else set()
            pieces.append((position, start, frozenset(gap)))
        pieces.append((start, end, frozenset(heads[i])))
        position = end
    if position < len(text):
        pieces.append((position, len(text), frozenset()))
    out: list[Segment] = []
    for start, end, owners in pieces:
        names = sorted(owners)
        if out and out[-1][1] == names:
            out[-1] = (out[-1][0] + text[start:end], names)
        else:
            out.append((text[start:end], names))
    return out
