"""Errors meant for people: they carry the message to print and the exit code to leave with."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a missing prerequisite: print the message, exit with code 2, write nothing."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  fix: {self.hint}"


class BuildFailed(Exception):
    """An action ran and failed (compiler error, builder error): exit code 1, log file named."""

    exit_code = 1

    def __init__(self, message: str, *, log: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.log = log

    def __str__(self) -> str:
        return self.message if not self.log else f"{self.message}\n  log: {self.log}"
