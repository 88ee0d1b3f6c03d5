"""Run nox sessions as a user does, in checkouts of their own, and watch or signal them.

``nox_checkout`` turns a monorepo copy into something ``python -m nox`` can run in (its own noxfile, the build
package and the shared environment linked in). ``NoxRun`` starts a session in a new process group, so a test can
send a signal to the whole group, exactly as a terminal's Ctrl-C or a CI runner's cancel does, and then check
that nothing the session started is still running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO_ROOT


def nox_checkout(root: Path) -> Path:
    """Make ``root`` (a monorepo copy) a checkout nox can run sessions in, sharing this one's environment."""
    shutil.copy2(REPO_ROOT / "noxfile.py", root / "noxfile.py")  # a copy: nox runs where its noxfile really is
    for name in ("build", ".nox"):
        link = root / name
        if not link.exists():
            link.symlink_to(REPO_ROOT / name)
    return root


def _parents() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children, ...), zombies left out."""
    children = _parents()
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if alive(child):
                found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def start_time(pid: int) -> str:
    """When ``pid`` started (clock ticks since boot): with the pid, names one process even if pids are reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
    except OSError:
        return ""


@dataclass
class NoxRun:
    """One ``python -m nox ...`` in its own process group (it leads the group)."""

    checkout: Path
    args: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] = field(init=False)
    seen: dict[int, str] = field(default_factory=dict, init=False)  # pid -> start time, below nox while it ran
    stdout: str = field(default="", init=False)
    stderr: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nox", *self.args],
            cwd=self.checkout,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def processes(self) -> list[int]:
        found = descendants(self.process.pid)
        for pid in found:
            self.seen.setdefault(pid, start_time(pid))
        return found

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 180.0) -> None:
        """Poll until ``condition()``; fail (after stopping the session) if nox ends or the time runs out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.processes()
            if condition():
                return
            if self.process.poll() is not None:
                self.finish()
                raise AssertionError(f"the session ended before {what}:\n{self.stderr[-3000:]}")
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"{what} did not happen within {timeout:.0f} s:\n{self.stderr[-3000:]}")

    def running(self, pattern: str) -> bool:
        """A process below nox whose command line matches ``pattern`` runs now."""
        return any(re.search(pattern, command_line(pid)) for pid in self.processes())

    def signal(self, signum: int) -> None:
        """Send ``signum`` to nox's whole process group, as a terminal or a CI runner does."""
        self.processes()
        os.killpg(self.process.pid, signum)

    def finish(self, timeout: float = 180.0) -> int:
        self.stdout, self.stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode

    def kill(self) -> None:
        for pid in [*self.processes(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.finish()

    def leftovers(self) -> list[str]:
        """Processes the session started that still run (after it ended): their command lines."""
        return [
            command_line(pid)
            for pid, started in sorted(self.seen.items())
            if alive(pid) and start_time(pid) == started and command_line(pid)
        ]


def pinned_version(version: str) -> dict[str, str]:
    """The environment that gives every component ``version`` (upstream's variables: ACN_VERSION for the repo-wide
    components, the component's own for those tagged apart), so a test's images and tags are its own.
    ``VERSION`` is not read by the build; it is kept for the test to find its own images."""
    names = ("ACN_VERSION", "AZURE_IPAM_VERSION", "IPV6_HP_BPF_VERSION", "VERSION")
    return dict.fromkeys(names, version)
