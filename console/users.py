"""Who may sign in: users with Argon2 password hashes, each an editor or a viewer.

Users come from ``WIRESTREAM_CONSOLE_USERS`` (entries separated by ``;`` or new
lines) and/or the file named by ``WIRESTREAM_CONSOLE_USERS_FILE`` (one entry a
line, ``#`` comments). An entry is ``name:role:hash``; ``wirestream console
hash-password`` prints one. Passwords never appear anywhere, only hashes
(argon2-cffi, its default parameters), and a wrong name costs the same time as
a wrong password, so sign-in does not reveal who exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from wirestream.errors import UserError
from wirestream.settings import Settings

ROLES = ("editor", "viewer")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str

    @property
    def can_label(self) -> bool:
        return self.role == "editor"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def entry(name: str, role: str, password: str) -> str:
    """One users-file line for this user (checked like any loaded entry)."""
    line = f"{name}:{role}:{hash_password(password)}"
    parse_entry(line, "the new entry")
    return line


def parse_entry(text: str, where: str) -> User:
    parts = text.strip().split(":")
    if len(parts) != 3:
        raise UserError(
            f"{where}: expected name:role:hash (`wirestream console hash-password` makes one)"
        )
    name, role, password_hash = (p.strip() for p in parts)
    if not NAME.match(name):
        raise UserError(
            f"{where}: user name {name[:64]!r} must be 1-64 letters, digits, '.', '_', '@' or '-'"
        )
    if role not in ROLES:
        raise UserError(f"{where}: role {role[:32]!r} must be one of {', '.join(ROLES)}")
    if not password_hash.startswith("$argon2"):
        raise UserError(f"{where}: the hash for {name} is not an Argon2 hash")
    return User(name, role, password_hash)


def _entries(text: str, source: str, split_semicolons: bool) -> list[tuple[str, str]]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split(";") if split_semicolons else [line]
        for part in parts:
            part = part.strip()
            if part and not part.startswith("#"):
                out.append((part, f"{source} line {lineno}"))
    return out


def load_users(settings: Settings) -> dict[str, User]:
    """Every configured user by name; a one-line UserError naming the variable when unusable."""
    found: list[tuple[str, str]] = []
    if settings.console_users.strip():
        found += _entries(settings.console_users, "WIRESTREAM_CONSOLE_USERS", True)
    path = settings.console_users_file
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(
                f"WIRESTREAM_CONSOLE_USERS_FILE={path}: cannot read it ({exc.strerror or exc})"
            ) from None
        found += _entries(text, f"WIRESTREAM_CONSOLE_USERS_FILE ({path})", False)
    if not found:
        raise UserError(
            "no console users: set WIRESTREAM_CONSOLE_USERS or WIRESTREAM_CONSOLE_USERS_FILE "
            "to name:role:hash entries (`wirestream console hash-password --user NAME` prints one)"
        )
    users: dict[str, User] = {}
    for text, where in found:
        user = parse_entry(text, where)
        if user.name in users:
            raise UserError(f"{where}: user {user.name} is defined twice")
        users[user.name] = user
    return users


_DUMMY = _hasher.hash("not a password anyone has")


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    """The user when name and password match; the same Argon2 cost either way."""
    user = users.get(name)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return user
