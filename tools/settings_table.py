"""README's settings table, from the Settings class itself: ``python -m tools.settings_table``."""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path

from wirestream.settings import DOCS, REPO_ROOT, Settings, env_name

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def _default(f) -> str:  # type: ignore[no-untyped-def]
    value = f.default if f.default is not MISSING else None
    if value is None or value == "":
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        try:
            return f"`{value.relative_to(REPO_ROOT)}`"
        except ValueError:
            return f"`{value.name}` (package data)"
    return f"`{value}`"


def table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{env_name(f.name)}` | {_default(f)} | {DOCS[f.name]} |" for f in fields(Settings)]
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
