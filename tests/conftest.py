"""Shared fixtures. Kafka fixtures live in tests/kafka_fixtures.py (loaded as a plugin).

The tests train their own model, signed with a key pair made for the session,
on the shipped corpus; nothing depends on what `make model` left behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wirestream.models import signing
from wirestream.models.persistence import LoadedModel, TrustPolicy, load_model
from wirestream.settings import DEFAULT_CORPUS, DEFAULT_WIRE_HELDOUT
from wirestream.training.corpus import LabelledStory, load_corpus
from wirestream.training.train import train

pytest_plugins = ["tests.kafka_fixtures"]


@pytest.fixture(scope="session")
def corpus() -> list[LabelledStory]:
    return load_corpus([DEFAULT_CORPUS])


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(private, public) key files of the session's signing key."""
    private, public, _ = signing.generate(tmp_path_factory.mktemp("keys") / "signing")
    return private, public


@pytest.fixture(scope="session")
def trust(keys: tuple[Path, Path]) -> TrustPolicy:
    return TrustPolicy(signing.load_public_keys(str(keys[1])))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, Path]) -> Path:
    """A signed model trained by the tests themselves on the shipped corpus."""
    out = tmp_path_factory.mktemp("model") / "m"
    train(
        [DEFAULT_CORPUS],
        out,
        signing_key=signing.load_private(keys[0]),
        wire_heldout=[DEFAULT_WIRE_HELDOUT],
        progress=lambda _msg: None,
    )
    return out


@pytest.fixture(scope="session")
def loaded_model(model_dir: Path, trust: TrustPolicy) -> LoadedModel:
    return load_model(model_dir, trust)
