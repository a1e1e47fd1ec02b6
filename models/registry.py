"""The model registry: versions side by side, one ``current`` pointer, a history.

Layout under ``WIRESTREAM_REGISTRY_DIR`` (a shared volume in production)::

    versions/<version>/    artifact, manifest (+ signature), report/, status.json
    current.json           {"version", "promoted_at", "promoted_by", "reason"}
    history.jsonl          one line per promotion, rollback or rejection
    .lock                  taken while the pointer or history change

The pointer is replaced atomically (write a temporary file, then rename), so a
worker reading it sees the old version or the new one, never half of either.
Every promotion verifies the model through ``persistence.verify`` first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wirestream.models.persistence import (
    MANIFEST_NAME,
    ModelLoadError,
    TrustPolicy,
    read_manifest,
    verify,
)

POINTER = "current.json"
HISTORY = "history.jsonl"
STATUS = "status.json"


class RegistryError(RuntimeError):
    """The registry cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class VersionInfo:
    version: str
    path: Path
    status: str  # candidate | promoted | rejected
    created_at: str
    reason: str = ""
    current: bool = False


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def write_json_atomic(path: Path, obj: Any) -> None:
    """Replace ``path`` in one rename, so readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions = self.root / "versions"

    # -- reading -------------------------------------------------------------------------
    def pointer(self) -> dict[str, Any] | None:
        path = self.root / POINTER
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise RegistryError(f"{path} is not valid JSON: {exc}") from None

    def current_version(self) -> str | None:
        pointer = self.pointer()
        return str(pointer["version"]) if pointer else None

    def path_of(self, version: str) -> Path:
        if not version or "/" in version or version.startswith("."):
            raise RegistryError(f"{version!r} is not a version name")
        return self.versions / version

    def current_dir(self) -> Path:
        version = self.current_version()
        if version is None:
            raise ModelLoadError(
                f"the model registry {self.root} has no current model; train one with "
                "`wirestream train` or promote one with `wirestream models promote VERSION`",
                "missing",
            )
        return self.path_of(version)

    def status(self, version: str) -> dict[str, Any]:
        path = self.path_of(version) / STATUS
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"status": "candidate"}

    def list(self) -> list[VersionInfo]:
        current = self.current_version()
        out = []
        if not self.versions.is_dir():
            return out
        for path in sorted(p for p in self.versions.iterdir() if p.is_dir()):
            try:
                manifest = read_manifest(path)
            except ModelLoadError:
                manifest = {}
            st = self.status(path.name)
            out.append(
                VersionInfo(
                    version=path.name,
                    path=path,
                    status=st.get("status", "candidate"),
                    created_at=str(manifest.get("created_at", "?")),
                    reason=st.get("reason", ""),
                    current=path.name == current,
                )
            )
        return out

    def history(self) -> list[dict[str, Any]]:
        path = self.root / HISTORY
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    # -- changing ------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock over pointer and history changes (blocks until free)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def add(self, model_dir: Path) -> str:
        """Copy a saved model directory in as a candidate; return its version."""
        manifest = read_manifest(model_dir)
        version = str(manifest["model_version"])
        target = self.path_of(version)
        if target.exists():
            return version
        self.versions.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.versions, prefix=f".{version}."))
        try:
            shutil.copytree(model_dir, staging, dirs_exist_ok=True)
            write_json_atomic(staging / STATUS, {"status": "candidate", "added_at": _now()})
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version

    def _record(self, event: dict[str, Any]) -> None:
        with (self.root / HISTORY).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event | {"at": _now()}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def promote(
        self, version: str, trust: TrustPolicy, by: str, reason: str = ""
    ) -> dict[str, Any]:
        """Verify ``version`` and make it current; returns the new pointer."""
        path = self.path_of(version)
        if not (path / MANIFEST_NAME).is_file():
            raise RegistryError(f"no version {version!r} in {self.versions}")
        verify(path, trust)
        with self.locked():
            previous = self.current_version()
            pointer = {
                "version": version,
                "previous": previous,
                "promoted_at": _now(),
                "promoted_by": by,
                "reason": reason,
            }
            write_json_atomic(path / STATUS, self.status(version) | {"status": "promoted"})
            write_json_atomic(self.root / POINTER, pointer)
            self._record(
                {
                    "event": "promote",
                    "version": version,
                    "previous": previous,
                    "by": by,
                    "reason": reason,
                }
            )
        return pointer

    def reject(self, version: str, reason: str, by: str) -> None:
        with self.locked():
            write_json_atomic(
                self.path_of(version) / STATUS,
                {"status": "rejected", "reason": reason, "at": _now()},
            )
            self._record({"event": "reject", "version": version, "by": by, "reason": reason})

    def rollback(self, trust: TrustPolicy, by: str) -> dict[str, Any]:
        """Make the previously current version current again."""
        current = self.current_version()
        promoted = [e["version"] for e in self.history() if e["event"] in ("promote", "rollback")]
        earlier = [v for v in promoted if v != current]
        if current is None or not earlier:
            raise RegistryError("nothing to roll back to: no earlier promoted version")
        target = earlier[-1]
        path = self.path_of(target)
        verify(path, trust)
        with self.locked():
            pointer = {
                "version": target,
                "previous": current,
                "promoted_at": _now(),
                "promoted_by": by,
                "reason": f"rollback from {current}",
            }
            write_json_atomic(self.root / POINTER, pointer)
            self._record({"event": "rollback", "version": target, "previous": current, "by": by})
        return pointer
