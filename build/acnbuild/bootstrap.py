"""The one Python environment every session shares, created once per lock file (standard library only).

``noxfile.py`` imports this before anything else exists, so it must not import third-party packages.
The environment lives in ``.nox/_acnbuild`` and is rebuilt only when ``requirements/lock.txt`` changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

LOCK = Path("requirements") / "lock.txt"
ENV_DIR = Path(".nox") / "_acnbuild"
STAMP = "acnbuild-lock.sha256"


def tool_python(root: Path) -> Path:
    """The interpreter of the shared environment, installing the locked dependencies if needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - nox may run on an older interpreter than ours
        found = ".".join(map(str, sys.version_info[:2]))
        raise SystemExit(f"error: the build needs Python >= 3.11 to run nox (found {found})")
    lock = root / LOCK
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    env_dir = root / ENV_DIR
    python = env_dir / "bin" / "python"
    if _current(env_dir, digest):
        return python
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(env_dir.parent / "_acnbuild.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if _current(env_dir, digest):
            return python
        print(f"acnbuild: installing {LOCK} into {ENV_DIR} (once per lock)", file=sys.stderr)
        if env_dir.exists():
            shutil.rmtree(env_dir)
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--require-hashes", "--no-deps", "-r", str(lock)]  # fmt: skip
        result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)
        if result.returncode != 0:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise SystemExit(f"error: installing {LOCK} failed (see above); is PyPI reachable?")
        (env_dir / STAMP).write_text(digest + "\n")
    return python


def _current(env_dir: Path, digest: str) -> bool:
    stamp = env_dir / STAMP
    return stamp.is_file() and stamp.read_text().strip() == digest and (env_dir / "bin" / "python").exists()


def tool_env(root: Path) -> dict[str, str]:
    """The caller's environment, with the build package importable from the shared environment."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root / "build") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("VIRTUAL_ENV", None)
    return env


def run(command: list[str], *, cwd: Path, env: dict[str, str]) -> int:
    """Run the build and return its exit code. A SIGINT or SIGTERM sent to nox alone is passed on to the build, and
    nox waits for it to stop cleanly (it exits 130/143 by itself) instead of dying first or killing it."""
    child = subprocess.Popen(command, cwd=cwd, env=env)

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)  # the build ignores a second copy of a signal sent to the whole group

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code  # killed by signal N: the shell's 128 + N
