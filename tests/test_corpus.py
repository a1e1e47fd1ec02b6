"""The shipped corpus meets the size and coverage the classifier issue asks for."""

import json
from collections import Counter

from wirestream.settings import DEFAULT_CORPUS
from wirestream.taxonomy import STANCES, TOPICS
from wirestream.training.corpus import check_files, corpus_sha256
from wirestream.training.split import held_out_split


def test_corpus_is_valid_with_wire_lengths():
    report = check_files([DEFAULT_CORPUS], words=(60, 250))
    assert report.ok, report.errors[:10]


def test_corpus_size_and_coverage(corpus):
    en_topics = Counter(s.topic for s in corpus if s.language == "en")
    assert {t: en_topics[t] for t in TOPICS if en_topics[t] < 30} == {}
    langs = Counter(s.language for s in corpus)
    assert langs["en"] >= 510 and langs["uk"] >= 100 and langs["ru"] >= 100
    for lang in ("uk", "ru"):
        assert len({s.topic for s in corpus if s.language == lang}) == 17, lang
    combos = Counter((s.stance, s.humanitarian, s.military) for s in corpus)
    short = {
        (st, h, m): combos[(st, h, m)]
        for st in STANCES
        for h in (False, True)
        for m in (False, True)
        if combos[(st, h, m)] < 15
    }
    assert short == {}


def test_corpus_has_no_repeated_text(corpus):
    bodies = Counter(s.body.strip().lower() for s in corpus)
    assert [b[:60] for b, n in bodies.items() if n > 1] == []
    headlines = Counter(s.headline.strip().lower() for s in corpus)
    assert [h for h, n in headlines.items() if n > 1] == []


def test_check_reports_problems_with_line_numbers(tmp_path):
    good = {
        "id": "a",
        "headline": "H",
        "body": "B",
        "language": "en",
        "topic": "sport",
        "stance": "neutral",
        "humanitarian": False,
        "military": False,
    }
    lines = [
        json.dumps(good),
        "{broken",
        json.dumps(good | {"id": "b", "topic": "gossip"}),
        json.dumps(good | {"id": "c", "military": "yes"}),
        json.dumps(good),  # duplicate id
        json.dumps(good | {"id": "d", "stance": "angry", "language": "de"}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = check_files([path])
    text = "\n".join(report.errors)
    assert f"{path}:2: invalid JSON" in text
    assert f"{path}:3: topic 'gossip'" in text
    assert f"{path}:4: field 'military' must be bool" in text
    assert f"{path}:5: duplicate id 'a'" in text
    assert f"{path}:6: language 'de'" in text and f"{path}:6: stance 'angry'" in text
    assert len(report.stories) == 1


def test_held_out_split_is_fixed_stratified_and_disjoint(corpus):
    train, test = held_out_split(corpus)
    assert set(train).isdisjoint(test)
    assert len(train) + len(test) == len(corpus)
    assert 0.17 <= len(test) / len(corpus) <= 0.23
    assert held_out_split(corpus) == (train, test)
    assert held_out_split(corpus, seed=1) != (train, test)
    held = Counter((corpus[i].language, corpus[i].topic) for i in test)
    cells = Counter((s.language, s.topic) for s in corpus)
    missing = [c for c, n in cells.items() if n >= 10 and held[c] == 0]
    assert missing == []


def test_corpus_hash_ignores_order(corpus):
    assert corpus_sha256(corpus) == corpus_sha256(list(reversed(corpus)))
    assert corpus_sha256(corpus) != corpus_sha256(corpus[1:])
