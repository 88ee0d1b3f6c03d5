"""Run external tools (builders, skopeo, go) with their output kept in a log file.

The log starts with the command line, but failure analysis only ever reads the tool's own output: a retry
decision is made on what the tool said, never on the arguments we gave it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from . import retry
from .errors import BuildFailed


class ToolFailed(BuildFailed):
    """A tool exited non-zero; ``output`` is what it printed (not the command line)."""

    def __init__(self, message: str, *, log: str, output: str, returncode: int) -> None:
        super().__init__(message, log=log)
        self.output = output
        self.returncode = returncode


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


def run(
    command: Sequence[str],
    log: Path,
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run ``command`` once, appending the command line and its output to ``log``; return the output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=dict(env) if env is not None else None,
        cwd=cwd,
        check=False,
    )
    with open(log, "a") as handle:
        handle.write("$ " + " ".join(command) + "\n")
        handle.write(result.stdout)
    if result.returncode != 0:
        raise ToolFailed(
            f"{what} failed (exit {result.returncode}):\n{_tail(result.stdout)}",
            log=str(log),
            output=result.stdout,
            returncode=result.returncode,
        )
    return result.stdout


def run_with_retries(
    command: Sequence[str],
    log: Path,
    *,
    what: str,
    target: str,
    scrub: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    policy: retry.RetryPolicy = retry.TOOL_POLICY,
) -> str:
    """``run``, tried again when the tool's own output says the failure was transient (see ``retry``)."""
    hidden = tuple(scrub)

    def transient(error: BaseException) -> bool:
        return isinstance(error, ToolFailed) and retry.tool_output_is_transient(error.output, hidden)

    def describe(error: BaseException) -> str:
        if isinstance(error, ToolFailed):
            last = error.output.strip().splitlines()[-1:] or [f"exit {error.returncode}"]
            return last[0][-300:]
        return str(error)

    try:
        return retry.call(
            what, target, lambda: run(command, log, what=what, env=env, cwd=cwd),
            is_transient=transient, describe=describe, policy=policy,
        )  # fmt: skip
    except BuildFailed as failure:
        if isinstance(failure, ToolFailed):
            raise
        raise BuildFailed(failure.message, log=str(log)) from failure.__cause__


def capture(command: Sequence[str], *, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a short query (inspect, version); the caller looks at the exit code."""
    return subprocess.run(list(command), capture_output=True, text=True, env=dict(env) if env else None, check=False)
