"""Loading refuses models it cannot trust, before deserialising them (signatures, digests, types)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from wirestream.models import signing
from wirestream.models.persistence import (
    MANIFEST_NAME,
    ModelLoadError,
    TrustPolicy,
    load_model,
    save_model,
    sha256_file,
    verify,
)


@pytest.fixture
def model_copy(tmp_path, model_dir):
    dst = tmp_path / "m"
    shutil.copytree(model_dir, dst)
    return dst


def _refused(path: Path, trust: TrustPolicy) -> ModelLoadError:
    with pytest.raises(ModelLoadError) as info:
        load_model(path, trust)
    return info.value


def test_round_trip_loads_a_signed_skops_model(model_copy, loaded_model, trust):
    again = load_model(model_copy, trust)
    assert again.version == loaded_model.version
    assert again.manifest["artifact_format"] == "skops"
    assert again.manifest["signing_key_id"] in trust.keys
    text = ["Rebels shelled the aid convoy near the border, killing two drivers."]
    assert (again.model.predict(text) == loaded_model.model.predict(text)).all()


def test_one_changed_byte_of_the_artifact_is_refused(model_copy, trust):
    artifact = model_copy / "model.skops"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))
    assert _refused(model_copy, trust).reason == "digest_mismatch"


class _Payload:
    """Unpickling this runs a command: what an attacker puts in a joblib artifact."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_attacker_who_rewrites_artifact_and_manifest_consistently_is_refused_without_running_code(
    model_copy, trust, tmp_path
):
    """The issue's attack: a pickle that runs a shell command, the manifest's digest updated to match."""
    marker = tmp_path / "pwned"
    evil = model_copy / "model.joblib"
    evil.write_bytes(pickle.dumps(_Payload(marker)))
    manifest = json.loads((model_copy / MANIFEST_NAME).read_text())
    manifest |= {
        "artifact": "model.joblib",
        "artifact_format": "joblib",
        "artifact_sha256": sha256_file(evil),
    }
    (model_copy / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    error = _refused(model_copy, trust)
    assert error.reason == "bad_signature" and "does not verify" in str(error)
    assert not marker.exists(), "the pickle ran"
    # and without the signature file it is simply unsigned: still refused, still not run
    (model_copy / signing.SIGNATURE_NAME).unlink()
    assert _refused(model_copy, trust).reason == "unsigned"
    assert _refused(model_copy, TrustPolicy(trust.keys, allow_unsigned=True)).reason == "unsigned"
    assert not marker.exists()


def test_a_model_signed_by_an_unknown_key_is_refused(model_copy, tmp_path, trust):
    other_private, _, other_id = signing.generate(tmp_path / "attacker")
    data = (model_copy / MANIFEST_NAME).read_bytes()
    signing.write_signature(model_copy, signing.sign(data, signing.load_private(other_private)))
    error = _refused(model_copy, trust)
    assert error.reason == "unknown_key" and other_id in str(error)
    assert _refused(model_copy, TrustPolicy({})).reason == "unknown_key"


def test_rotation_both_keys_accepted_then_the_retired_one_refused(tmp_path, loaded_model, keys):
    """Roll a new key in: a worker trusting old and new accepts models signed by either."""
    new_private, new_public, new_id = signing.generate(tmp_path / "new")
    old_id = loaded_model.manifest["signing_key_id"]
    by_new = tmp_path / "by-new"
    manifest = save_model(
        loaded_model.model,
        by_new,
        training_data_sha256="x",
        metrics={},
        signing_key=signing.load_private(new_private),
    )
    assert manifest["signing_key_id"] == new_id
    both = TrustPolicy(signing.load_public_keys(f"{keys[1]},{new_public}"))
    assert set(both.keys) == {old_id, new_id}
    assert load_model(by_new, both).version == manifest["model_version"]
    assert load_model(loaded_model.path, both).version == loaded_model.version
    only_old = TrustPolicy(signing.load_public_keys(str(keys[1])))
    assert _refused(by_new, only_old).reason == "unknown_key"
    # a directory of keys, as a mounted Kubernetes Secret gives
    keydir = tmp_path / "secret"
    keydir.mkdir()
    shutil.copy(keys[1], keydir / "old.pub")
    shutil.copy(new_public, keydir / "new.pub")
    assert set(signing.load_public_keys(str(keydir))) == {old_id, new_id}


def test_manifest_claiming_another_key_than_the_one_that_signed_is_refused(model_copy, trust):
    path = model_copy / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["signing_key_id"] = "0" * 16
    path.write_text(json.dumps(manifest))
    assert _refused(model_copy, trust).reason == "bad_signature"


def test_unsigned_models_only_with_the_explicit_development_setting(loaded_model, tmp_path, trust):
    unsigned = tmp_path / "unsigned"
    save_model(loaded_model.model, unsigned, training_data_sha256="x", metrics={}, signing_key=None)
    error = _refused(unsigned, trust)
    assert error.reason == "unsigned" and "WIRESTREAM_ALLOW_UNSIGNED_MODELS" in str(error)
    assert load_model(unsigned, TrustPolicy(trust.keys, allow_unsigned=True)).model is not None


class Exploding:
    """A type outside the trusted list; constructing it would leave a marker file."""

    marker: Path | None = None

    def __setstate__(self, state):
        Path(state["marker"]).write_text("ran")


def test_skops_artifact_naming_an_untrusted_type_is_refused_without_executing_it(
    loaded_model, tmp_path, trust
):
    import skops.io as sio

    marker = tmp_path / "ran"
    bomb = Exploding()
    bomb.__dict__["marker"] = str(marker)
    target = tmp_path / "bomb"
    save_model(loaded_model.model, target, training_data_sha256="x", metrics={}, signing_key=None)
    sio.dump({"model": bomb}, target / "model.skops")
    manifest = json.loads((target / MANIFEST_NAME).read_text())
    manifest["artifact_sha256"] = sha256_file(target / "model.skops")
    (target / MANIFEST_NAME).write_text(json.dumps(manifest))
    error = _refused(target, TrustPolicy(trust.keys, allow_unsigned=True))
    assert error.reason == "untrusted_type" and "Exploding" in str(error)
    assert not marker.exists()


def test_manifest_naming_another_sklearn_or_python_or_format_is_refused(model_copy, trust):
    """Checked after the signature: re-signed here as the trusted signer would."""
    path = model_copy / MANIFEST_NAME
    original = json.loads(path.read_text())
    for change, reason, text in (
        ({"sklearn_version": "0.24.2"}, "incompatible_versions", r"scikit-learn 0\.24\.2"),
        ({"python_version": "2.7"}, "incompatible_versions", r"Python 2\.7"),
        ({"format_version": 99}, "incompatible_versions", "format 99"),
    ):
        path.write_text(json.dumps(original | change))
        trust_unsigned = TrustPolicy(trust.keys, allow_unsigned=True)
        (model_copy / signing.SIGNATURE_NAME).unlink(missing_ok=True)
        with pytest.raises(ModelLoadError, match=text) as info:
            verify(model_copy, trust_unsigned)
        assert info.value.reason == reason


def test_missing_or_broken_manifest_is_refused(model_copy, trust):
    (model_copy / MANIFEST_NAME).write_text("{oops")
    (model_copy / signing.SIGNATURE_NAME).unlink()
    assert (
        _refused(model_copy, TrustPolicy(trust.keys, allow_unsigned=True)).reason == "bad_manifest"
    )
    (model_copy / MANIFEST_NAME).unlink()
    error = _refused(model_copy, trust)
    assert error.reason == "missing" and "wirestream train" in str(error)


def test_signing_key_file_readable_by_others_is_refused(tmp_path):
    private, _, _ = signing.generate(tmp_path / "k")
    private.chmod(0o644)
    with pytest.raises(signing.KeyError_, match="chmod 600"):
        signing.load_private(private)
    assert oct((tmp_path / "k.pem").stat().st_mode & 0o777) == "0o644"


def test_a_model_that_cannot_classify_with_this_code_is_refused(model_copy, trust, monkeypatch):
    """Signed, same versions, and still unusable (written by another wirestream): refused at load."""
    from wirestream.models.estimator import WireTokenizer

    monkeypatch.delattr(WireTokenizer, "__call__")
    error = _refused(model_copy, trust)
    assert error.reason == "incompatible_versions" and "retrain" in str(error)
