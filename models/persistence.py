"""The only way a model reaches or leaves disk: an artifact, a manifest and its signature.

Loading verifies, in this order and before the artifact is deserialised:
the manifest's Ed25519 signature against the configured public keys (the
manifest names the key that signed it), the artifact's SHA-256 against the
manifest, and the scikit-learn and Python versions. A refused model raises
``ModelLoadError`` whose ``reason`` is one word (metrics label it) and whose
message says what to do. The artifact is a skops file loaded with an explicit
list of trusted types, so even a model that passed every check cannot run
code while it loads; joblib (a pickle) is only read for models saved in it
and signed, and ``WIRESTREAM_ALLOW_UNSIGNED_MODELS`` never extends to it.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sklearn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from wirestream.models import signing
from wirestream.models.estimator import WireClassifier

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 2
ARTIFACT_NAMES = {"skops": "model.skops", "joblib": "model.joblib"}
DEFAULT_FORMAT = "skops"

# The classes a model artifact may name besides what skops trusts by default:
# the project's own estimator parts and the scikit-learn parts they use.
TRUSTED_TYPES = (
    "wirestream.models.estimator.WireClassifier",
    "wirestream.models.estimator.WireTokenizer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
)

# Why a model was refused: the label values of wirestream_model_load_failures_total.
MODEL_LOAD_REASONS = (
    "missing",
    "bad_manifest",
    "unsigned",
    "unknown_key",
    "bad_signature",
    "digest_mismatch",
    "incompatible_versions",
    "untrusted_type",
    "load_error",
)


class ModelLoadError(RuntimeError):
    """The artifact cannot be trusted or used here; the message says why, ``reason`` in a word."""

    def __init__(self, message: str, reason: str = "load_error") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TrustPolicy:
    """The public keys a model's signature may verify against."""

    keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)
    allow_unsigned: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> TrustPolicy:
        try:
            keys = signing.load_public_keys(settings.model_public_keys)
        except signing.KeyError_ as exc:
            raise ModelLoadError(str(exc), "unknown_key") from None
        return cls(keys=keys, allow_unsigned=settings.allow_unsigned_models)


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

    @property
    def thresholds(self) -> dict[str, float]:
        """Decision thresholds of the two tags, chosen on validation data at training time."""
        chosen = self.manifest.get("thresholds") or {}
        return {tag: float(chosen.get(tag, 0.5)) for tag in ("humanitarian", "military")}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def python_version() -> str:
    return ".".join(platform.python_version_tuple()[:2])


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def _dump(model: WireClassifier, path: Path, fmt: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "skops":
        import skops.io as sio

        sio.dump(model, tmp, compression=8)  # zipfile.ZIP_DEFLATED
    elif fmt == "joblib":
        import joblib

        joblib.dump(model, tmp, compress=3)
    else:
        raise ValueError(f"unknown artifact format {fmt!r}")
    tmp.replace(path)


def save_model(
    model: WireClassifier,
    out_dir: Path,
    *,
    training_data_sha256: str,
    metrics: dict[str, Any],
    signing_key: Ed25519PrivateKey | None,
    extra: dict[str, Any] | None = None,
    fmt: str = DEFAULT_FORMAT,
) -> dict[str, Any]:
    """Write artifact, manifest and (with a key) its signature; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in (signing.SIGNATURE_NAME, *ARTIFACT_NAMES.values()):
        (out_dir / stale).unlink(missing_ok=True)
    artifact = out_dir / ARTIFACT_NAMES[fmt]
    _dump(model, artifact, fmt)
    checksum = sha256_file(artifact)
    created = datetime.now(UTC).replace(microsecond=0)
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model_version": f"{created:%Y%m%d-%H%M%S}-{checksum[:8]}",
        "created_at": created.isoformat(),
        "artifact": artifact.name,
        "artifact_format": fmt,
        "artifact_sha256": checksum,
        "signing_key_id": signing.key_id(signing_key.public_key()) if signing_key else None,
        "sklearn_version": sklearn.__version__,
        "python_version": python_version(),
        "wirestream_version": _own_version(),
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
    data = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    (out_dir / MANIFEST_NAME).write_bytes(data)
    if signing_key is not None:
        signing.write_signature(out_dir, signing.sign(data, signing_key))
    return manifest


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """The manifest as written, unverified: for listings and reports, never for loading."""
    return _parse_manifest(_manifest_bytes(Path(model_dir)), Path(model_dir) / MANIFEST_NAME)


def _manifest_bytes(model_dir: Path) -> bytes:
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise ModelLoadError(
            f"no model manifest at {path}; train one with `wirestream train`", "missing"
        )
    return path.read_bytes()


def _parse_manifest(data: bytes, path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise ModelLoadError(
            f"model manifest {path} is not valid JSON: {exc}", "bad_manifest"
        ) from None
    if not isinstance(manifest, dict):
        raise ModelLoadError(f"model manifest {path} is not a JSON object", "bad_manifest")
    return manifest


def _check_signature(model_dir: Path, data: bytes, trust: TrustPolicy) -> str | None:
    sig_path = model_dir / signing.SIGNATURE_NAME
    if not sig_path.is_file():
        if trust.allow_unsigned:
            return None
        raise ModelLoadError(
            f"refusing the model in {model_dir}: it is not signed ({sig_path} missing); sign models "
            "with WIRESTREAM_MODEL_SIGNING_KEY at training, or for local development only set "
            "WIRESTREAM_ALLOW_UNSIGNED_MODELS=true",
            "unsigned",
        )
    if not trust.keys:
        raise ModelLoadError(
            f"refusing the model in {model_dir}: no public key is configured to verify its "
            "signature (set WIRESTREAM_MODEL_PUBLIC_KEYS)",
            "unknown_key",
        )
    try:
        signature = json.loads(sig_path.read_text())
        return signing.check(data, signature, dict(trust.keys))
    except LookupError as exc:
        raise ModelLoadError(
            f"refusing the model in {model_dir}: signed by key {exc.args[0]!r}, which is not among "
            f"the configured public keys ({', '.join(sorted(trust.keys))})",
            "unknown_key",
        ) from None
    except (signing.InvalidSignature, ValueError, TypeError, AttributeError):
        raise ModelLoadError(
            f"refusing the model in {model_dir}: its manifest signature does not verify; the "
            "manifest was changed after signing",
            "bad_signature",
        ) from None


def verify(model_dir: Path, trust: TrustPolicy) -> dict[str, Any]:
    """Every check ``load_model`` makes before deserialising; returns the manifest."""
    model_dir = Path(model_dir)
    data = _manifest_bytes(model_dir)
    signed_by = _check_signature(model_dir, data, trust)
    manifest = _parse_manifest(data, model_dir / MANIFEST_NAME)
    if signed_by is not None and manifest.get("signing_key_id") != signed_by:
        raise ModelLoadError(
            f"refusing the model in {model_dir}: the manifest names key "
            f"{manifest.get('signing_key_id')!r} but was signed by {signed_by!r}",
            "bad_signature",
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(
            f"model manifest format {manifest.get('format_version')!r} is not {FORMAT_VERSION}; "
            "retrain with this wirestream version",
            "incompatible_versions",
        )
    fmt = manifest.get("artifact_format")
    if fmt not in ARTIFACT_NAMES or manifest.get("artifact") != ARTIFACT_NAMES[fmt]:
        raise ModelLoadError(
            f"model manifest in {model_dir} names no known artifact", "bad_manifest"
        )
    if fmt == "joblib" and signed_by is None:
        raise ModelLoadError(
            f"refusing the unsigned joblib (pickle) model in {model_dir}: loading a pickle runs "
            "code; only signed joblib models are ever loaded",
            "unsigned",
        )
    artifact = model_dir / ARTIFACT_NAMES[fmt]
    if not artifact.is_file():
        raise ModelLoadError(
            f"model artifact {artifact} named by the manifest is missing", "missing"
        )
    actual = sha256_file(artifact)
    expected = manifest.get("artifact_sha256")
    if actual != expected:
        raise ModelLoadError(
            f"refusing to load {artifact}: sha256 {actual} does not match the manifest's "
            f"{expected}; the file was altered or belongs to another manifest",
            "digest_mismatch",
        )
    trained_with = manifest.get("sklearn_version")
    if trained_with != sklearn.__version__:
        raise ModelLoadError(
            f"refusing to load {artifact}: it was trained with scikit-learn {trained_with}, "
            f"this environment has {sklearn.__version__}; retrain with `wirestream train`",
            "incompatible_versions",
        )
    if manifest.get("python_version") != python_version():
        raise ModelLoadError(
            f"refusing to load {artifact}: it was written by Python {manifest.get('python_version')}, "
            f"this is Python {python_version()}; retrain with `wirestream train`",
            "incompatible_versions",
        )
    return manifest


def _load_artifact(path: Path, fmt: str) -> Any:
    if fmt == "joblib":
        import joblib

        return joblib.load(path)
    import skops.io as sio

    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
    if untrusted:
        raise ModelLoadError(
            f"refusing to load {path}: it names types outside the trusted list: "
            f"{', '.join(untrusted[:5])}",
            "untrusted_type",
        )
    return sio.load(path, trusted=list(TRUSTED_TYPES))


def load_model(model_dir: Path, trust: TrustPolicy) -> LoadedModel:
    model_dir = Path(model_dir)
    manifest = verify(model_dir, trust)
    try:
        model = _load_artifact(model_dir / manifest["artifact"], manifest["artifact_format"])
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"the artifact in {model_dir} failed to load: {type(exc).__name__}: {exc}", "load_error"
        ) from None
    if not isinstance(model, WireClassifier):
        raise ModelLoadError(
            f"artifact in {model_dir} holds {type(model).__name__}, not WireClassifier",
            "untrusted_type",
        )
    try:  # a model from another wirestream version can pass every check and still not run
        model.predict_heads([LOAD_CHECK_TEXT])
    except Exception as exc:
        raise ModelLoadError(
            f"the model in {model_dir} (written by wirestream {manifest.get('wirestream_version', '?')}, "
            f"this is {_own_version()}) fails to classify: {type(exc).__name__}: {exc}; retrain it "
            "with this version (`wirestream train`)",
            "incompatible_versions",
        ) from None
    return LoadedModel(model=model, manifest=manifest, path=model_dir)


LOAD_CHECK_TEXT = "Load check\nA short story the model classifies once before it may serve."


def _own_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wirestream")
    except PackageNotFoundError:
        return "unknown"
