"""The batch path without Kafka: validate -> classify -> route -> outgoing messages."""

from __future__ import annotations

import base64
import json

import pytest

from wirestream import pipeline as pipeline_module
from wirestream.alerts import AlertRuleError, load_rules, parse_rules
from wirestream.deadletter import original_payload
from wirestream.pipeline import PipelineConfig, RawMessage, process_batch
from wirestream.routing import RoutingConfig, route
from wirestream.settings import DEFAULT_ALERT_RULES
from wirestream.story import InputLimits


def _cfg(rules=(), threshold=0.5, **limits) -> PipelineConfig:
    return PipelineConfig(
        routing=RoutingConfig("c", "h", "m", "a", "r", threshold, tuple(rules)),
        deadletter="d",
        limits=InputLimits(**({"max_body_bytes": 10_000} | limits)),
    )


def _msg(value: bytes | None, offset: int, ts: float | None = 1000.0) -> RawMessage:
    return RawMessage(value=value, key=None, topic="in", partition=2, offset=offset, timestamp=ts)


def _story(i: int, s) -> bytes:
    return json.dumps({"id": f"p{i}", "headline": s.headline, "body": s.body}).encode()


def test_batch_classifies_valid_and_dead_letters_invalid(loaded_model, corpus):
    msgs = [_msg(_story(i, s), i) for i, s in enumerate(corpus[:6])]
    msgs.insert(2, _msg(b"\x80\x81", 99))
    msgs.insert(4, _msg(None, 100))
    result = process_batch(msgs, loaded_model, _cfg(), clock=lambda: 1010.0)
    assert [r["id"] for r in result.classified] == [f"p{i}" for i in range(6)]
    assert [d["reason"] for d in result.deadletters] == ["not_utf8", "empty_payload"]
    dead = result.deadletters[0]
    assert base64.b64decode(dead["payload"]) == b"\x80\x81"
    assert dead["payload_encoding"] == "base64"
    assert dead["source"] == {
        "topic": "in",
        "partition": 2,
        "offset": 99,
        "timestamp": "1970-01-01T00:16:40.000+00:00",
    }
    assert result.latencies == [10.0] * 6  # produced at 1000, classified at 1010
    classified = [o for o in result.outgoing if o.topic == "c"]
    assert [o.key for o in classified] == [f"p{i}".encode() for i in range(6)]
    assert all(json.loads(o.value)["classified_at"] for o in classified)
    assert sum(o.topic == "d" for o in result.outgoing) == 2


POISON = {
    "deep nesting": b"[" * 2000,
    "lone surrogate": b'{"id": "p-s", "headline": "\\ud800", "body": "text"}',
    "NaN": b'{"id": "p-n", "headline": "h", "body": "b", "x": NaN}',
    "tombstone": None,
    "huge id": json.dumps({"id": "i" * 100_000, "headline": "h", "body": "b"}).encode(),
    "3 MB story": json.dumps({"id": "big", "headline": "h", "body": "w " * 1_500_000}).encode(),
}


def test_poison_messages_are_dead_lettered_and_the_rest_of_the_batch_goes_on(loaded_model, corpus):
    """Every poison message dead-lettered with its reason and (a bounded prefix of) its bytes."""
    good = [_msg(_story(i, s), i) for i, s in enumerate(corpus[:10])]
    poison = [_msg(raw, 100 + i) for i, raw in enumerate(POISON.values())]
    spoof = _msg(
        json.dumps({"id": "spoof", "headline": "h", "body": "b", "alert_rules": ["fake"]}).encode(),
        200,
    )
    msgs = good[:5] + poison + [spoof] + good[5:]
    result = process_batch(msgs, loaded_model, _cfg(), clock=lambda: 1010.0)
    assert sorted(r["id"] for r in result.classified) == sorted(
        [f"p{i}" for i in range(10)] + ["spoof"]
    )
    assert [d["source"]["offset"] for d in result.deadletters] == [
        100 + i for i in range(len(POISON))
    ]
    for dead, raw in zip(result.deadletters, POISON.values(), strict=True):
        encoded = json.dumps(dead, allow_nan=False).encode()
        assert len(encoded) < 200_000, "a dead-letter record must fit the producer's request limit"
        if raw is None:
            assert dead["payload"] is None
            continue
        kept = original_payload(dead)
        assert raw.startswith(kept) and dead["payload_size"] == len(raw)
        assert dead["payload_truncated"] == (len(kept) < len(raw))
        assert dead["payload_sha256"] == __import__("hashlib").sha256(raw).hexdigest()
    for out in result.outgoing:  # every output is strict JSON without top-level spoofing
        obj = json.loads(out.value, parse_constant=lambda c: pytest.fail(f"{c} in output"))
        if out.topic == "c" and obj["id"] == "spoof":
            assert "alert_rules" not in obj and obj["input_extra"] == {"alert_rules": ["fake"]}


def test_an_output_record_that_cannot_fit_is_dead_lettered_not_lost(loaded_model, corpus):
    msgs = [_msg(_story(i, s), i) for i, s in enumerate(corpus[:3])]
    cfg = PipelineConfig(routing=_cfg().routing, deadletter="d", max_record_bytes=300)
    result = process_batch(msgs, loaded_model, cfg)
    assert result.classified == []
    assert [d["reason"] for d in result.deadletters] == ["output_too_large"] * 3
    assert all(d["story_id"] == f"p{i}" for i, d in enumerate(result.deadletters))


def test_one_failing_story_is_dead_lettered_and_the_rest_classified(
    loaded_model, corpus, monkeypatch
):
    real = pipeline_module.classify_batch

    def flaky(loaded, stories, **kw):
        if any(s.id == "p3" for s in stories):
            raise RuntimeError("model exploded on p3")
        return real(loaded, stories, **kw)

    monkeypatch.setattr(pipeline_module, "classify_batch", flaky)
    msgs = [_msg(_story(i, s), i) for i, s in enumerate(corpus[:5])]
    result = process_batch(msgs, loaded_model, _cfg())
    assert [r["id"] for r in result.classified] == ["p0", "p1", "p2", "p4"]
    (dead,) = result.deadletters
    assert dead["reason"] == "processing_error" and dead["story_id"] == "p3"
    assert "model exploded on p3" in dead["detail"]
    assert json.loads(dead["payload"])["id"] == "p3"


def test_a_batch_where_every_story_fails_stops_instead_of_dead_lettering_the_stream(
    loaded_model, corpus, monkeypatch
):
    def broken(loaded, stories, **kw):
        raise AttributeError("'WireTokenizer' object has no attribute 'lemmatizer'")

    monkeypatch.setattr(pipeline_module, "classify_batch", broken)
    msgs = [_msg(_story(i, s), i) for i, s in enumerate(corpus[:4])]
    with pytest.raises(pipeline_module.ModelFailure, match="all 4 stories"):
        process_batch(msgs, loaded_model, _cfg())
    (lone,) = process_batch(msgs[:1], loaded_model, _cfg()).deadletters  # one story: its own fault
    assert lone["reason"] == "processing_error"


def _record(**kw):
    base = {
        "id": "x",
        "topic": "conflict, war and peace",
        "topic_score": 0.9,
        "stance": "confrontational",
        "stance_score": 0.9,
        "humanitarian": True,
        "humanitarian_score": 0.9,
        "military": True,
        "military_score": 0.9,
        "focus": "mixed",
        "language": "en",
    }
    return base | kw


def test_route_by_tags_rules_and_confidence():
    rules = parse_rules(
        {
            "rules": [
                {"name": "war", "topics": ["medtop:16000000"], "stances": "confrontational"},
                {"name": "kw", "keywords": ["Convoy"]},
                {"name": "never", "languages": ["uk"]},
            ]
        }
    )
    cfg = _cfg(rules).routing
    out = route(_record(), "an aid convoy was hit", cfg, explanation={"topic": ["unused"]})
    assert [t for t, _ in out] == ["c", "h", "m", "a"]
    assert out[3][1]["alert_rules"] == ["war", "kw"]
    low = route(
        _record(humanitarian=False, military=False, stance_score=0.3, stance="neutral"), "", cfg
    )
    assert [t for t, _ in low] == ["c", "r"]
    assert low[1][1]["review_reasons"] == ["stance_score 0.300 < 0.500"]
    assert all("explanation" not in payload for _, payload in out), "only review copies carry it"
    explained = route(_record(stance_score=0.3), "", cfg, explanation={"stance": ["shell~"]})
    assert explained[-1][1]["explanation"] == {"stance": ["shell~"]}
    assert "explanation" not in explained[0][1], "only the review copy carries the explanation"


def test_min_scores_and_flags():
    (rule,) = parse_rules(
        {"rules": [{"name": "m", "military": True, "min_scores": {"military_score": 0.8}}]}
    )
    assert rule.matches(_record(), "")
    assert not rule.matches(_record(military_score=0.79), "")
    assert not rule.matches(_record(military=False), "")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"rules": [{"description": "no name"}]}, "needs a non-empty 'name'"),
        ({"rules": [{"name": "a"}, {"name": "a"}]}, "duplicate name"),
        ({"rules": [{"name": "a", "stances": ["furious"]}]}, "unknown values"),
        ({"rules": [{"name": "a", "topics": ["gossip"]}]}, "unknown topic"),
        ({"rules": [{"name": "a", "min_scores": {"topic_score": 2}}]}, "min_scores"),
        ({"rules": [{"name": "a", "colour": "red"}]}, "unknown keys"),
        ({"rules": [{"name": "a", "military": "yes"}]}, "true or false"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_bad_rules_are_refused_with_the_rule_named(doc, message):
    with pytest.raises(AlertRuleError, match=message):
        parse_rules(doc, "rules.yaml")


def test_shipped_rules_load(tmp_path):
    assert len(load_rules(DEFAULT_ALERT_RULES)) >= 5
    bad = tmp_path / "r.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(AlertRuleError, match="not valid YAML"):
        load_rules(bad)
    with pytest.raises(AlertRuleError, match="does not exist"):
        load_rules(tmp_path / "missing.yaml")


def test_tail_formats_each_kind_of_record():
    from wirestream.streams.publish import format_record

    rec = _record(headline="Convoy hit", alert_rules=["war"])
    assert "rules=war" in format_record("wire.alerts", json.dumps(rec).encode())
    dead = {
        "reason": "invalid_json",
        "detail": "bad",
        "source": {"topic": "in", "partition": 1, "offset": 7},
    }
    assert "DEAD  invalid_json" in format_record("wire.deadletter", json.dumps(dead).encode())
    assert "in[1]@7" in format_record("wire.deadletter", json.dumps(dead).encode())
    assert "not JSON" in format_record("x", b"\xff")
