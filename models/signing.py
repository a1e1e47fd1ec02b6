"""Ed25519 keys and manifest signatures.

The private key signs the exact bytes of ``manifest.json`` (which carries the
artifact's SHA-256), so whoever can write the model directory still cannot
produce a manifest a worker accepts. Workers hold only public keys, several at
once so a newsroom can roll a new key in before retiring the old one; a key is
named by ``key_id``, the first 16 hex digits of the SHA-256 of its raw bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_NAME = "manifest.sig"
PEM_PUBLIC = "-----BEGIN PUBLIC KEY-----"


class KeyError_(ValueError):
    """A key file or value cannot be used; the message names it."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate(out_prefix: Path, overwrite: bool = False) -> tuple[Path, Path, str]:
    """Write ``<prefix>.pem`` (private, mode 0600) and ``<prefix>.pub``; return paths and key id."""
    private_path = out_prefix.with_name(out_prefix.name + ".pem")
    public_path = out_prefix.with_name(out_prefix.name + ".pub")
    if not overwrite and (private_path.exists() or public_path.exists()):
        raise KeyError_(f"{private_path} or {public_path} exists already; refusing to overwrite")
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(private_path, 0o600)
    public = key.public_key()
    public_path.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    os.chmod(public_path, 0o644)
    return private_path, public_path, key_id(public)


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyError_(
            f"signing key {path} does not exist (WIRESTREAM_MODEL_SIGNING_KEY)"
        ) from None
    except ValueError as exc:
        raise KeyError_(f"signing key {path} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"signing key {path} is not an Ed25519 key")
    # Group read is how a Kubernetes Secret volume with fsGroup arrives (0440); anything
    # for "others", or a group that may write it, is refused.
    mode = Path(path).stat().st_mode & 0o027
    if mode:
        raise KeyError_(
            f"signing key {path} is open to others or group-writable (chmod 600 {path})"
        )
    return key


def _public_from_pem(data: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyError_(f"{where} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyError_(f"{where} is not an Ed25519 public key")
    return key


def load_public_keys(spec: str) -> dict[str, Ed25519PublicKey]:
    """Public keys from ``WIRESTREAM_MODEL_PUBLIC_KEYS``: comma-separated files, directories
    (every ``*.pub``/``*.pem`` in them, as a mounted Kubernetes Secret gives) or inline PEM."""
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in _entries(spec):
        if entry.startswith(PEM_PUBLIC):
            found = [
                _public_from_pem(entry.encode(), "an inline key in WIRESTREAM_MODEL_PUBLIC_KEYS")
            ]
        else:
            path = Path(entry)
            if path.is_dir():
                files = sorted(
                    p for p in path.iterdir() if p.suffix in (".pub", ".pem") and p.is_file()
                )
                found = [_public_from_pem(p.read_bytes(), str(p)) for p in files]
            elif path.is_file():
                found = [_public_from_pem(path.read_bytes(), str(path))]
            else:
                raise KeyError_(f"public key {path} does not exist (WIRESTREAM_MODEL_PUBLIC_KEYS)")
        for key in found:
            keys[key_id(key)] = key
    return keys


def _entries(spec: str) -> Iterable[str]:
    for part in spec.split(","):
        part = part.strip()
        if part:
            yield part


def sign(manifest_bytes: bytes, key: Ed25519PrivateKey) -> dict[str, str]:
    return {
        "algorithm": "ed25519",
        "key_id": key_id(key.public_key()),
        "signature": base64.b64encode(key.sign(manifest_bytes)).decode("ascii"),
    }


def write_signature(model_dir: Path, signature: dict[str, str]) -> None:
    (model_dir / SIGNATURE_NAME).write_text(json.dumps(signature, indent=2) + "\n")


def check(
    manifest_bytes: bytes, signature: dict[str, str], keys: dict[str, Ed25519PublicKey]
) -> str:
    """Return the key id that verifies, or raise ``LookupError`` (unknown key) / ``InvalidSignature``."""
    kid = str(signature.get("key_id", ""))
    if kid not in keys:
        raise LookupError(kid)
    raw = base64.b64decode(str(signature.get("signature", "")), validate=True)
    keys[kid].verify(raw, manifest_bytes)
    return kid


__all__ = [
    "SIGNATURE_NAME",
    "InvalidSignature",
    "KeyError_",
    "check",
    "generate",
    "key_id",
    "load_private",
    "load_public_keys",
    "sign",
    "write_signature",
]
