"""dropgz installers: the payload (each file gzipped, plus sum.txt) embedded into tools/dropgz per platform.

The payload holds binaries built for the installer's own platform, so a change to any of them rebuilds the
installer and, through it, the image: the installer is a real node of the build graph.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from ..model import GoBinary
from ..platforms import Platform
from .compile import GoBuild, compile_binary
from .toolchain import GoToolchain

SOURCE = Path("tools") / "dropgz"
BINARY = GoBinary(name="dropgz", package=".", version_vars=("main.version",))


def source_files(root: Path) -> list[Path]:
    """dropgz's own sources (not its placeholder payload)."""
    base = root / SOURCE
    return sorted(p for p in base.rglob("*") if p.is_file() and "payload" not in p.relative_to(base).parts[:1])


def payload(files: Mapping[str, Path | bytes]) -> dict[str, bytes]:
    """``<name>.gz`` for every file (a path, or contents already read) and ``sum.txt.gz`` (sha256sum format over
    the uncompressed files).

    gzip headers carry no name and mtime 0, so the same inputs give the same bytes.
    """
    result: dict[str, bytes] = {}
    sums = []
    for name in sorted(files):
        source = files[name]
        data = source if isinstance(source, bytes) else source.read_bytes()
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
        result[f"{name}.gz"] = gzip.compress(data, compresslevel=9, mtime=0)
    result["sum.txt.gz"] = gzip.compress("".join(sums).encode(), compresslevel=9, mtime=0)
    return result


def stage(root: Path, directory: Path, files: Mapping[str, Path | bytes]) -> Path:
    """A private copy of tools/dropgz with ``payload/`` holding exactly this installer's payload."""
    if directory.exists():
        shutil.rmtree(directory)
    for source in source_files(root):
        target = directory / source.relative_to(root / SOURCE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (directory / "payload").mkdir(parents=True, exist_ok=True)
    for name, data in payload(files).items():
        (directory / "payload" / name).write_bytes(data)
    return directory


def compile_installer(
    toolchain: GoToolchain,
    stage_dir: Path,
    platform: Platform,
    version: str,
    output: Path,
    log: Path,
    verify: Callable[[], None] | None = None,
) -> None:
    build = GoBuild(binary=BINARY, platform=platform, version=version)
    compile_binary(toolchain, stage_dir, build, output, log, verify)
