"""``wirestream console`` and ``wirestream console hash-password``; registered by ``wirestream.cli``."""

from __future__ import annotations

import argparse
import getpass
import sys

from wirestream.errors import UserError


def cmd_console(args: argparse.Namespace) -> int:
    from wirestream.console.server import run_console
    from wirestream.settings import Settings

    return run_console(Settings.from_env())


def _read_password(confirm: bool) -> str:
    """From the terminal (asked twice), or the first line of standard input when piped."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if confirm and getpass.getpass("again: ") != password:
            raise UserError("the two passwords differ")
    if len(password) < 8:
        raise UserError("a console password needs at least 8 characters")
    return password


def cmd_hash_password(args: argparse.Namespace) -> int:
    from wirestream.console.users import entry, hash_password

    password = _read_password(confirm=True)
    if args.user:
        print(entry(args.user, args.role, password))
    else:
        print(hash_password(password))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    c = sub.add_parser(
        "console",
        help="serve the newsroom review console (settings: WIRESTREAM_CONSOLE_*)",
        description="Serve the review console; `console hash-password` makes a users-file entry.",
    )
    c.set_defaults(func=cmd_console)
    csub = c.add_subparsers(dest="console_cmd")
    hp = csub.add_parser(
        "hash-password",
        help="print an Argon2 hash of a password (read from the terminal or stdin)",
    )
    hp.add_argument("--user", help="print a whole users-file line name:role:hash for this user")
    hp.add_argument("--role", choices=("editor", "viewer"), default="editor")
    hp.set_defaults(func=cmd_hash_password)
