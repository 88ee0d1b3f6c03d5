"""Hermetic Go compilation: the pinned toolchain, a scrubbed environment, reproducible flags."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import process
from ..atomic import atomic_path, atomic_write
from ..engine.fingerprint import combine, files_digest
from ..errors import BuildFailed, UserError
from ..model import GoBinary
from ..paths import Layout
from ..platforms import Platform
from .toolchain import GoToolchain

BUILD_FLAGS = ("-trimpath", "-buildvcs=false")


@dataclass(frozen=True)
class GoBuild:
    """One binary for one platform, with the version it embeds."""

    binary: GoBinary
    platform: Platform
    version: str

    def ldflags(self) -> str:
        flags = ["-s", "-w", "-buildid="]
        for var in self.binary.version_vars:
            flags.append(f"-X={var}={self.version}")
        for var, value in self.binary.x_vars:
            flags.append(f"-X={var}={value}")
        return " ".join(flags)

    def command(self, go: Path, output: Path) -> list[str]:
        return [str(go), "build", *BUILD_FLAGS, f"-ldflags={self.ldflags()}", "-o", str(output), self.binary.package]


_SKIP = {".git", ".nox", ".acnbuild", "output", "__pycache__", ".pytest_cache", ".ruff_cache"}


def tree_state(root: Path) -> str:
    """Paths, sizes and mtimes of every file under the module: if none changed, neither did the import graph."""
    h = hashlib.sha256()
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP)
        for name in sorted(files):
            stat = os.stat(os.path.join(directory, name))
            h.update(f"{directory}/{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def source_files(toolchain: GoToolchain, root: Path, build: GoBuild) -> list[Path]:
    """The package's files and those of every non-standard package it imports, for this GOOS/GOARCH.

    ``go list`` answers; its answer is kept until any file in the tree changes (size, mtime, name).
    """
    cache_file = Layout(root).caches / "golist.json"
    key = f"{build.binary.package}|{build.platform}|{toolchain.version}|{tree_state(root)}"
    try:
        cached = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cached = {}
    slot = f"{build.binary.package}|{build.platform}"
    if cached.get(slot, {}).get("key") == key:
        return [root / f for f in cached[slot]["files"]]
    files = _go_list(toolchain, root, build)
    cached[slot] = {"key": key, "files": [str(f.relative_to(root)) for f in files]}
    with contextlib.suppress(OSError):  # a read-only checkout just asks go list every time
        atomic_write(cache_file, json.dumps(cached))
    return files


def _go_list(toolchain: GoToolchain, root: Path, build: GoBuild) -> list[Path]:
    template = (
        "{{if not .Standard}}{{.Dir}}\t{{range .GoFiles}}{{.}} {{end}}{{range .EmbedFiles}}{{.}} {{end}}"
        "{{range .SFiles}}{{.}} {{end}}{{end}}"
    )
    result = subprocess.run(
        [str(toolchain.go), "list", "-deps", "-f", template, build.binary.package],
        cwd=root,
        env=toolchain.env(build.platform),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise UserError(f"go list {build.binary.package} failed:\n{result.stderr.strip()}")
    files = [root / "go.mod"]
    if (root / "go.sum").is_file():
        files.append(root / "go.sum")
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        directory, _, names = line.partition("\t")
        files.extend(Path(directory) / name for name in names.split())
    return files


def fingerprint(toolchain: GoToolchain | None, root: Path, build: GoBuild) -> str | None:
    """Everything that can change the binary; None when the toolchain is not installed (a plan does not install it)."""
    if toolchain is None:
        return None
    return combine(
        {
            "kind": "go-binary",
            "toolchain": toolchain.version,
            "package": build.binary.package,
            "platform": str(build.platform),
            "flags": BUILD_FLAGS,
            "ldflags": build.ldflags(),
            "env": {
                k: v
                for k, v in toolchain.env(build.platform).items()
                if k.startswith(("GO", "CGO")) and k not in ("GOROOT", "GOPATH", "GOCACHE", "GOMODCACHE")
            },
            "sources": files_digest(root, source_files(toolchain, root, build)),
        }
    )


def compile_binary(
    toolchain: GoToolchain,
    root: Path,
    build: GoBuild,
    output: Path,
    log: Path,
    verify: Callable[[], None] | None = None,
) -> None:
    """Compile to a temporary name, then rename: a failed or interrupted build never leaves a partial binary.

    Go's work directory goes into a temporary directory of this build's own, removed afterwards whatever happened:
    go leaves its work directory behind when it is stopped by a signal.

    ``verify`` runs after the compiler succeeded and before the rename; if it raises (the sources changed while
    they were compiled), the new binary is discarded and the previous one stays.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    env = toolchain.env(build.platform)
    with atomic_path(output) as partial, toolchain.scratch() as scratch:
        env["TMPDIR"] = str(scratch)
        command = build.command(toolchain.go, partial)
        log.write_text(json.dumps(env, indent=1) + "\n")
        try:
            process.run(command, log, what=f"go build of {build.binary.name}", env=env, cwd=root)
        except process.ToolFailed as failure:
            tail = log.read_text().splitlines()[-15:]
            raise BuildFailed(
                f"go build of {build.binary.name} for {build.platform} failed:\n" + "\n".join(tail), log=str(log)
            ) from failure
        if verify is not None:
            verify()


# File systems stamp writes with a coarse clock that may lag time.time_ns() by a tick: count edits made this long
# before a compile started as made during it (a needless rerun at worst, never a wrong record).
CLOCK_SLACK_NS = 50_000_000


def check_unchanged(
    root: Path, files: Iterable[Path], since_ns: int, planned: str | None, current: str | None, what: str, log: Path
) -> None:
    """Refuse a result whose inputs moved under it: a fingerprint other than the plan's (the content changed
    between planning and now) or a file written after ``since_ns`` (an edit during the build, even one undone)."""
    touched = sorted(p.relative_to(root).as_posix() for p in set(files) if _mtime_ns(p) >= since_ns)
    if touched or current != planned:
        named = f" ({', '.join(touched[:5])}{' ...' if len(touched) > 5 else ''})" if touched else ""
        raise BuildFailed(
            f"the sources of {what} changed while it was being built{named}: the result was discarded and nothing "
            "was recorded; run the build again",
            log=str(log),
        )


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return time.time_ns()  # gone: it changed
