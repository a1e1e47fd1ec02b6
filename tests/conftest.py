"""Shared fixtures. Kafka fixtures live in tests/kafka_fixtures.py (loaded as a plugin)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wirestream.models.persistence import LoadedModel, load_model
from wirestream.settings import DEFAULT_CORPUS
from wirestream.training.corpus import LabelledStory, load_corpus
from wirestream.training.train import train

pytest_plugins = ["tests.kafka_fixtures"]


@pytest.fixture(scope="session")
def corpus() -> list[LabelledStory]:
    return load_corpus([DEFAULT_CORPUS])


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained by the tests themselves on the shipped corpus."""
    out = tmp_path_factory.mktemp("model")
    train([DEFAULT_CORPUS], out, progress=lambda _msg: None)
    return out


@pytest.fixture(scope="session")
def loaded_model(model_dir: Path) -> LoadedModel:
    return load_model(model_dir)
