"""Where the served model comes from: the registry's current version, or a fixed directory.

Every load goes through ``persistence.load_model`` with the configured trust policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from wirestream.models.persistence import (
    LoadedModel,
    ModelLoadError,
    TrustPolicy,
    load_model,
    read_manifest,
)
from wirestream.models.registry import Registry, RegistryError


class ModelSource(Protocol):
    def locate(self) -> tuple[str, Path]:
        """The version that should be served and its directory (cheap: no verification)."""

    def load(self) -> LoadedModel:
        """Verify and load that version."""


class DirSource:
    def __init__(self, path: Path, trust: TrustPolicy) -> None:
        self.path = Path(path)
        self.trust = trust

    def locate(self) -> tuple[str, Path]:
        return str(read_manifest(self.path).get("model_version", "?")), self.path

    def load(self) -> LoadedModel:
        return load_model(self.path, self.trust)


class RegistrySource:
    def __init__(self, registry: Registry, trust: TrustPolicy) -> None:
        self.registry = registry
        self.trust = trust

    def locate(self) -> tuple[str, Path]:
        try:
            path = self.registry.current_dir()
        except RegistryError as exc:
            raise ModelLoadError(str(exc), "bad_manifest") from None
        return path.name, path

    def load(self) -> LoadedModel:
        _, path = self.locate()
        return load_model(path, self.trust)


def model_source(settings: Any) -> ModelSource:
    trust = TrustPolicy.from_settings(settings)
    if settings.model_dir is not None:
        return DirSource(settings.model_dir, trust)
    return RegistrySource(Registry(settings.registry), trust)
