"""Errors a user can fix: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class UserError(RuntimeError):
    """A problem with settings, input files, ports or the broker address; the message says what to do."""

    exit_code = 2
