"""Stopping cleanly on SIGINT and SIGTERM.

``install()`` (called once by ``python -m acnbuild``) turns the first SIGINT or SIGTERM into ``errors.Interrupted``
in the main thread, after asking every running tool to stop. Tools run in their own process groups (``process``),
so a Ctrl-C reaches only us and we decide the order: stop the tools, let the work in flight unwind (partial files
removed, no record written), then exit 130 or 143 with one line. Later signals are ignored: cleanup is bounded.

Worker threads notice through ``stopping`` (an event): ``check()`` before starting something, ``sleep()`` for
interruptible waits (retry backoff), ``stoppable()`` to register how to stop a tool while it runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from .errors import ExitCode, Interrupted

SIGNAL_GRACE = 5.0  # seconds a signalled tool gets to exit before SIGKILL
DRAIN_GRACE = 60.0  # seconds a tool that must not be cut short (buildah/podman builds) gets to finish

stopping = threading.Event()
_received: list[int] = []
_stoppers: dict[int, Callable[[], None]] = {}
_lock = threading.RLock()  # reentrant: the handler may run while the main thread holds it
_EXIT_CODES: dict[int, ExitCode] = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}


def install() -> None:
    """Handle SIGINT and SIGTERM in this process (main thread only)."""
    for signum in _EXIT_CODES:
        signal.signal(signum, _handle)


def _handle(signum: int, frame: FrameType | None) -> None:
    if stopping.is_set():
        return  # already stopping: the cleanup in progress is bounded, a second signal must not cut it short
    request_stop(signum)
    raise interrupted()


def request_stop(signum: int = signal.SIGINT) -> None:
    """Ask everything running to stop, as the first signal does (tests call this without a signal)."""
    with _lock:
        if stopping.is_set():
            return
        _received.append(signum)
        stopping.set()
        stoppers = list(_stoppers.values())
    for stop in stoppers:
        with contextlib.suppress(Exception):  # one tool failing to stop must not keep the others running
            stop()


def interrupted() -> Interrupted:
    """The error for the signal that stopped the run."""
    signum = _received[0] if _received else signal.SIGINT
    return Interrupted(signal.Signals(signum).name, _EXIT_CODES.get(signum, ExitCode.INTERRUPTED))


def check() -> None:
    """Raise ``Interrupted`` when the run is stopping: call before starting new work."""
    if stopping.is_set():
        raise interrupted()


def sleep(seconds: float) -> None:
    """``time.sleep`` that ends early, with ``Interrupted``, when the run is stopping."""
    if stopping.wait(max(0.0, seconds)):
        raise interrupted()


@contextlib.contextmanager
def stoppable(stop: Callable[[], None]) -> Iterator[None]:
    """While the block runs, ``stop`` is called if the run is asked to stop (at once if it already was)."""
    key = id(stop)
    with _lock:
        _stoppers[key] = stop
        already = stopping.is_set()
    try:
        if already:
            stop()
        yield
    finally:
        with _lock:
            _stoppers.pop(key, None)


def reset() -> None:
    """Forget a stop request (tests that call ``request_stop`` in-process)."""
    with _lock:
        stopping.clear()
        _received.clear()
