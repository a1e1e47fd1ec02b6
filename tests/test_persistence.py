"""Loading refuses artifacts it cannot trust, before unpickling them."""

import json
import shutil

import pytest

from wirestream.models.persistence import ModelLoadError, load_model, verify


@pytest.fixture
def model_copy(tmp_path, model_dir):
    dst = tmp_path / "m"
    shutil.copytree(model_dir, dst)
    return dst


def test_round_trip_loads(model_copy, loaded_model):
    again = load_model(model_copy)
    assert again.version == loaded_model.version
    text = ["Rebels shelled the aid convoy near the border, killing two drivers."]
    assert (again.model.predict(text) == loaded_model.model.predict(text)).all()


def test_one_changed_byte_is_refused(model_copy):
    artifact = model_copy / "model.joblib"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"sha256 .* does not match"):
        load_model(model_copy)


def test_manifest_naming_another_sklearn_version_is_refused(model_copy):
    path = model_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["sklearn_version"] = "0.24.2"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"trained with scikit-learn 0\.24\.2"):
        load_model(model_copy)


def test_other_python_and_format_are_refused(model_copy):
    path = model_copy / "manifest.json"
    original = json.loads(path.read_text())
    path.write_text(json.dumps(original | {"python_version": "2.7"}))
    with pytest.raises(ModelLoadError, match=r"Python 2\.7"):
        verify(model_copy)
    path.write_text(json.dumps(original | {"format_version": 99}))
    with pytest.raises(ModelLoadError, match="format 99"):
        verify(model_copy)


def test_missing_or_broken_manifest_is_refused(model_copy):
    (model_copy / "manifest.json").write_text("{oops")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(model_copy)
    (model_copy / "manifest.json").unlink()
    with pytest.raises(ModelLoadError, match="wirestream train"):
        load_model(model_copy)
