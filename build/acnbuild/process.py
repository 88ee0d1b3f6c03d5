"""Run external tools (builders, skopeo, go) with their output kept in a log file.

The log starts with the command line, but failure analysis only ever reads the tool's own output: a retry
decision is made on what the tool said, never on the arguments we gave it.

Every tool runs in its own process group, so a Ctrl-C at the terminal reaches only us; when the run is interrupted
(``interrupts``) we stop the tool ourselves, wait for it, and only then let the interruption unwind (which removes
partial files). Tools that leave state behind when cut short (a buildah/podman build leaves its working container)
are allowed to finish instead (``Stop.DRAIN``), within a bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from pathlib import Path

from . import interrupts, retry
from .errors import BuildFailed


class Stop(Enum):
    """What an interrupted run does with a tool still running."""

    SIGNAL = "signal"  # SIGINT to its process group at once, SIGKILL after interrupts.SIGNAL_GRACE
    DRAIN = "drain"  # let it finish (up to interrupts.DRAIN_GRACE), then as SIGNAL


class ToolFailed(BuildFailed):
    """A tool exited non-zero; ``output`` is what it printed (not the command line)."""

    def __init__(self, message: str, *, log: str, output: str, returncode: int) -> None:
        super().__init__(message, log=log)
        self.output = output
        self.returncode = returncode


class ToolTimedOut(ToolFailed):
    """A tool ran past its timeout and was stopped (a hung registry: no registry tool gives up on its own)."""


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs. A zombie counts as gone (a child of ours is reaped on the way); one we
    may not signal (another user's) as running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


def _signal_group(child: subprocess.Popen[str], signum: int) -> None:
    """Signal the tool's process group (its pid: it leads the group) while anything of it may still run."""
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signum)


def _later(delay: float, action: Callable[[], None]) -> None:
    timer = threading.Timer(delay, action)
    timer.daemon = True
    timer.start()


DRAIN_NOTICE = 2.0  # seconds into a drain before saying what the interrupted run still waits for


def _stopper(child: subprocess.Popen[str], mode: Stop, what: str) -> Callable[[], None]:
    def notice() -> None:
        if child.returncode is None:
            _say(f"stopping: letting {what} finish first (cut short, it would leave its working container behind)")

    asked = threading.Event()

    def stop() -> None:
        if asked.is_set():
            return
        asked.set()
        start = 0.0
        if mode is Stop.DRAIN:
            start = interrupts.DRAIN_GRACE
            _later(DRAIN_NOTICE, notice)
        _later(start, lambda: _signal_group(child, signal.SIGINT))
        _later(start + interrupts.SIGNAL_GRACE, lambda: _signal_group(child, signal.SIGKILL))

    return stop


@contextlib.contextmanager
def supervised(child: subprocess.Popen[str], what: str, mode: Stop = Stop.SIGNAL) -> Iterator[None]:
    """Stop ``child`` (started with ``process_group=0``) if the run is interrupted while the block runs.

    When the block itself is interrupted (the main thread), the tool is stopped and reaped before the interruption
    goes on, so whatever cleans up after it (removing a partial file) runs after the tool stopped writing.
    """
    stop = _stopper(child, mode, what)
    try:
        with interrupts.stoppable(stop):
            yield
    except BaseException:
        stop()
        with contextlib.suppress(Exception):
            child.communicate()  # keep reading its output so it never blocks on a full pipe; returns once it exits
        raise


def run(
    command: Sequence[str],
    log: Path,
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stop: Stop = Stop.SIGNAL,
    echo: Callable[[str], str | None] | None = None,
    timeout: float | None = None,
) -> str:
    """Run ``command`` once, appending the command line and its output to ``log``; return the output.

    ``echo`` sees every output line as it comes and returns what to show on stderr now (tools' retry notices).
    ``timeout``: seconds after which the tool is stopped and ``ToolTimedOut`` raised.
    """
    interrupts.check()
    log.parent.mkdir(parents=True, exist_ok=True)
    output: list[str] = []
    with open(log, "a") as handle:
        handle.write("$ " + " ".join(command) + "\n")
        handle.flush()
        child = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=dict(env) if env is not None else None,
            cwd=cwd,
            process_group=0,
        )
        expired = threading.Event()
        stop_hung = _stopper(child, Stop.SIGNAL, what)

        def expire() -> None:
            expired.set()
            stop_hung()

        watchdog = threading.Timer(timeout or 0.0, expire)
        watchdog.daemon = True
        if timeout is not None:
            watchdog.start()
        try:
            with supervised(child, what, stop):
                assert child.stdout is not None
                for line in child.stdout:
                    handle.write(line)
                    output.append(line)
                    if echo is not None and (message := echo(line)):
                        _say(message)
                returncode = child.wait()
        finally:
            watchdog.cancel()
    text = "".join(output)
    if returncode != 0:
        if interrupts.stopping.is_set():
            raise interrupts.interrupted()
        if expired.is_set():
            reason = f"no result within {timeout:g} s, stopped (set {retry.TOOL_TIMEOUT} to wait longer)"
            raise ToolTimedOut(f"{what}: {reason}", log=str(log), output=f"{text}{reason}\n", returncode=returncode)
        raise ToolFailed(f"{what} failed (exit {returncode}):\n{_tail(text)}", log=str(log), output=text,
                         returncode=returncode)  # fmt: skip
    return text


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
    """``run``, tried again when the tool's own output says the failure was transient (see ``retry``).

    The tool's own retry notices are shown as they happen, so a long storm is never silent.
    """
    hidden = tuple(scrub)

    def transient(error: BaseException) -> bool:
        if isinstance(error, ToolTimedOut):
            return True
        return isinstance(error, ToolFailed) and retry.tool_output_is_transient(error.output, hidden)

    def describe(error: BaseException) -> str:
        if isinstance(error, ToolFailed):
            return retry.tool_error_summary(error.output, hidden) or f"exit {error.returncode}"
        return str(error)

    echo = retry.tool_retry_notice(what)
    timeout = retry.tool_timeout()
    try:
        return retry.call(
            what, target, lambda: run(command, log, what=what, env=env, cwd=cwd, echo=echo, timeout=timeout),
            is_transient=transient, describe=describe, policy=policy,
        )  # fmt: skip
    except BuildFailed as failure:
        if isinstance(failure, ToolFailed):
            raise
        raise BuildFailed(failure.message, log=str(log)) from failure.__cause__


def capture(command: Sequence[str], *, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a short query (inspect, version); the caller looks at the exit code."""
    return subprocess.run(list(command), capture_output=True, text=True, env=dict(env) if env else None, check=False)
