"""CLI sub-commands that talk to Kafka; registered by wirestream.cli."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Added as the streaming issue lands."""
