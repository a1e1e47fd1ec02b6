"""The batch classification function and the offline CLI around it."""

import json
import os
import subprocess
import sys

from wirestream.classify import classify_batch
from wirestream.story import Story
from wirestream.taxonomy import FOCUS_VALUES, STANCES, TOPIC_CODES, focus

KEYS = {
    "id",
    "topic",
    "topic_code",
    "topic_score",
    "stance",
    "stance_score",
    "humanitarian",
    "humanitarian_score",
    "military",
    "military_score",
    "focus",
    "language",
    "model_version",
}


def _stories(corpus, n=40):
    return [
        Story(id=s.id, headline=s.headline, body=s.body) for s in corpus[:: len(corpus) // n][:n]
    ]


def test_records_are_complete_and_consistent(loaded_model, corpus):
    stories = _stories(corpus)
    out = classify_batch(loaded_model, stories)
    assert [r["id"] for r in out] == [s.id for s in stories]
    for r in out:
        assert set(r) >= KEYS
        assert r["topic_code"] == TOPIC_CODES[r["topic"]]
        assert r["stance"] in STANCES and r["focus"] in FOCUS_VALUES
        assert r["focus"] == focus(r["humanitarian"], r["military"])
        for k in ("topic_score", "stance_score", "humanitarian_score", "military_score"):
            assert 0.0 <= r[k] <= 1.0
        for tag in ("humanitarian", "military"):  # a tag's score is P(true), its threshold chosen
            score, threshold = r[f"{tag}_score"], loaded_model.thresholds[tag]
            assert r[tag] == (score >= threshold) or abs(score - threshold) < 1e-4
        assert r["model_version"] == loaded_model.version
        assert r["language_detected"] is True


def test_batch_equals_one_by_one(loaded_model, corpus):
    stories = _stories(corpus, 12)
    batch = classify_batch(loaded_model, stories)
    single = [classify_batch(loaded_model, [s])[0] for s in stories]
    assert batch == single


def test_given_language_is_kept(loaded_model):
    s = Story(id="x", headline="Storm warning", body="Heavy rain is expected.", language="en")
    assert classify_batch(loaded_model, [s])[0]["language_detected"] is False
    assert classify_batch(loaded_model, []) == []


def test_explain_names_terms_for_every_head(loaded_model, corpus):
    rec = classify_batch(loaded_model, _stories(corpus, 3), explain=True)[0]
    assert set(rec["explanation"]) == {"topic", "stance", "humanitarian", "military"}
    assert any(rec["explanation"].values())


def _env(keys) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
    return env | {"WIRESTREAM_MODEL_PUBLIC_KEYS": str(keys[1])}


def test_cli_classify_stdin_to_stdout_and_reports_bad_lines(model_dir, corpus, keys):
    good = [{"id": s.id, "headline": s.headline, "body": s.body} for s in corpus[:5]]
    lines = (
        [json.dumps(g, ensure_ascii=False).encode() for g in good[:3]]
        + [b"{bad json", b"\xff\xfe not utf-8 \x80"]
        + [json.dumps(g, ensure_ascii=False).encode() for g in good[3:]]
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wirestream.cli",
            "classify",
            "--model",
            str(model_dir),
            "--input",
            "-",
            "--output",
            "-",
            "--explain",
        ],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        env=_env(keys),
        check=False,
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 1, stderr
    assert "-:4: invalid_json" in stderr and "-:5: not_utf8" in stderr
    assert "Traceback" not in stderr
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r["id"] for r in out] == [g["id"] for g in good]
    assert all(set(r) >= KEYS and "explanation" in r for r in out)


def test_cli_refuses_missing_model_and_missing_input_in_one_line(tmp_path, keys, model_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "wirestream.cli", "classify", "--model", str(tmp_path)],
        input="",
        capture_output=True,
        text=True,
        env=_env(keys),
        check=False,
    )
    assert proc.returncode == 2
    assert "no model manifest" in proc.stderr and len(proc.stderr.splitlines()) == 1
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "wirestream.cli",
            "classify",
            "--model",
            str(model_dir),
            "-i",
            str(tmp_path / "nope.jsonl"),
        ],
        capture_output=True,
        text=True,
        env=_env(keys),
        check=False,
    )
    assert (
        missing.returncode == 2
        and missing.stderr.strip()
        == f"wirestream classify: input file {tmp_path / 'nope.jsonl'} does not exist"
    )


def test_cli_data_check_exit_codes(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "wirestream.cli", "data", "check", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and f"{bad}:1:" in proc.stderr
