"""Errors meant for people: each carries the message to print and the exit code to leave with.

Every error the build raises on purpose derives from ``AcnBuildError``; the session layer catches that one base,
prints it plainly (no traceback) and exits with its code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # an action ran and failed (compile error, builder error, registry gave up)
    BAD_INPUT = 2  # bad input or a missing prerequisite: nothing was built, written or pushed
    INTERRUPTED = 130  # SIGINT (128 + 2)
    TERMINATED = 143  # SIGTERM (128 + 15)


class AcnBuildError(Exception):
    """Base of every deliberate failure: a message for people, optional details lines, an exit code."""

    exit_code: ExitCode = ExitCode.FAILED
    detail_label = "note"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message if not self.detail else f"{self.message}\n  {self.detail_label}: {self.detail}"


class UserError(AcnBuildError):
    """Bad input or a missing prerequisite: exit 2, say what to fix, write nothing."""

    exit_code = ExitCode.BAD_INPUT
    detail_label = "fix"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, detail=hint)

    @property
    def hint(self) -> str | None:
        return self.detail


class BuildFailed(AcnBuildError):
    """An action ran and failed (compiler error, builder error, registry error): exit 1, name the log."""

    exit_code = ExitCode.FAILED
    detail_label = "log"

    def __init__(self, message: str, *, log: str | None = None) -> None:
        super().__init__(message, detail=log)

    @property
    def log(self) -> str | None:
        return self.detail


class Interrupted(AcnBuildError):
    """The run was stopped by a signal; unfinished work was rolled back."""

    def __init__(self, signal_name: str, exit_code: ExitCode) -> None:
        super().__init__(f"interrupted by {signal_name}: unfinished work was discarded; rerun to continue")
        self.exit_code = exit_code
