import re

import pytest

from wirestream.language import detect_language
from wirestream.taxonomy import TOPIC_CODES, canonical_topic, focus, topic_code


def test_seventeen_iptc_top_level_topics_with_unique_codes():
    assert len(TOPIC_CODES) == 17
    codes = list(TOPIC_CODES.values())
    assert len(set(codes)) == 17
    assert all(re.fullmatch(r"medtop:\d{2}000000", c) for c in codes)
    assert sorted(codes) == [f"medtop:{i:02d}000000" for i in range(1, 18)]


def test_iptc_2025_politics_name_is_accepted():
    assert canonical_topic("politics and government") == "politics"
    assert topic_code("politics and government") == "medtop:11000000"
    with pytest.raises(ValueError, match="unknown topic"):
        canonical_topic("gossip")


@pytest.mark.parametrize(
    ("hum", "mil", "expected"),
    [
        (True, True, "mixed"),
        (True, False, "humanitarian"),
        (False, True, "military"),
        (False, False, "none"),
    ],
)
def test_focus(hum, mil, expected):
    assert focus(hum, mil) == expected


def test_language_detection_agrees_with_corpus_labels(corpus):
    wrong = [(s.id, s.language) for s in corpus if detect_language(s.text) != s.language]
    assert not wrong, f"language detection disagrees on {wrong[:10]}"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Rain is expected across the region on Friday, forecasters said.", "en"),
        ("Уряд ухвалив рішення про підвищення мінімальної зарплати з січня.", "uk"),
        ("Правительство одобрило повышение минимальной зарплаты с января.", "ru"),
        ("Мер міста заявив, що роботи завершать до зими.", "uk"),
        ("Мэр города заявил, что работы завершат до зимы.", "ru"),
    ],
)
def test_language_detection_examples(text, lang):
    assert detect_language(text) == lang
