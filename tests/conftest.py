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


# -- no silent skips ---------------------------------------------------------------------
_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    """Skipped checks are said loudly, with what to install; in CI they fail the run."""
    if not _SKIPPED:
        return
    terminalreporter.section(f"{len(_SKIPPED)} CHECKS DID NOT RUN", sep="!", red=True, bold=True)
    for line in _SKIPPED:
        terminalreporter.write_line(line, red=True)
    terminalreporter.write_line(
        "(`bash .ci/run` installs everything they need; with CI set, a skip fails the run)"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import os

    if (
        _SKIPPED
        and os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
        and exitstatus == 0
    ):
        session.exitstatus = 1
