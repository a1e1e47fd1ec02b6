"""The only way a model reaches or leaves disk: a joblib artifact plus a manifest.

A joblib file is a pickle, and unpickling runs code. ``load_model`` therefore
checks the manifest first (format, checksum, scikit-learn and Python versions)
and refuses, with a message that says what to do, before touching the pickle.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import sklearn

from wirestream.models.estimator import WireClassifier

ARTIFACT_NAME = "model.joblib"
MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


class ModelLoadError(RuntimeError):
    """The artifact cannot be trusted or used here; the message says why."""


@dataclass(frozen=True)
class LoadedModel:
    model: WireClassifier
    manifest: dict[str, Any]
    path: Path

    @property
    def version(self) -> str:
        return str(self.manifest["model_version"])

    @property
    def created_at(self) -> str:
        return str(self.manifest["created_at"])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _python_version() -> str:
    return ".".join(platform.python_version_tuple()[:2])


def save_model(
    model: WireClassifier,
    out_dir: Path,
    *,
    training_data_sha256: str,
    metrics: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write artifact and manifest; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = out_dir / ARTIFACT_NAME
    tmp = artifact.with_suffix(".joblib.tmp")
    joblib.dump(model, tmp, compress=3)
    tmp.replace(artifact)
    checksum = sha256_file(artifact)
    created = datetime.now(UTC).replace(microsecond=0)
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model_version": f"{created:%Y%m%d-%H%M%S}-{checksum[:8]}",
        "created_at": created.isoformat(),
        "artifact": ARTIFACT_NAME,
        "artifact_sha256": checksum,
        "sklearn_version": sklearn.__version__,
        "python_version": _python_version(),
        "estimator": type(model).__name__,
        "params": {k: _jsonable(v) for k, v in model.get_params().items()},
        "labels": {
            head: [_jsonable(c) for c in cls]
            for head, cls in zip(model.heads_, model.classes_, strict=True)
        },
        "training_data_sha256": training_data_sha256,
        "metrics": metrics,
    }
    if extra:
        manifest.update(extra)
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def read_manifest(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ModelLoadError(
            f"no model manifest at {path}; train one with `wirestream train --out {model_dir}`"
        )
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelLoadError(f"model manifest {path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ModelLoadError(f"model manifest {path} is not a JSON object")
    return manifest


def verify(model_dir: Path) -> dict[str, Any]:
    """Every check ``load_model`` makes before unpickling; returns the manifest."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(
            f"model manifest format {manifest.get('format_version')!r} is not {FORMAT_VERSION}; "
            "retrain with this wirestream version"
        )
    artifact = model_dir / str(manifest.get("artifact", ARTIFACT_NAME))
    if not artifact.is_file():
        raise ModelLoadError(f"model artifact {artifact} named by the manifest is missing")
    actual = sha256_file(artifact)
    expected = manifest.get("artifact_sha256")
    if actual != expected:
        raise ModelLoadError(
            f"refusing to load {artifact}: sha256 {actual} does not match the manifest's "
            f"{expected}; the file was altered or belongs to another manifest"
        )
    trained_with = manifest.get("sklearn_version")
    if trained_with != sklearn.__version__:
        raise ModelLoadError(
            f"refusing to load {artifact}: it was trained with scikit-learn {trained_with}, "
            f"this environment has {sklearn.__version__}; pickles are not portable across "
            "scikit-learn versions, retrain with `wirestream train`"
        )
    if manifest.get("python_version") != _python_version():
        raise ModelLoadError(
            f"refusing to load {artifact}: it was written by Python {manifest.get('python_version')}, "
            f"this is Python {_python_version()}; retrain with `wirestream train`"
        )
    return manifest


def load_model(model_dir: Path) -> LoadedModel:
    model_dir = Path(model_dir)
    manifest = verify(model_dir)
    model = joblib.load(model_dir / str(manifest["artifact"]))
    if not isinstance(model, WireClassifier):
        raise ModelLoadError(
            f"artifact in {model_dir} holds {type(model).__name__}, not WireClassifier"
        )
    return LoadedModel(model=model, manifest=manifest, path=model_dir)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value
