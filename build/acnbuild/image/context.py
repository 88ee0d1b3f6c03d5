"""Staged build contexts: a fresh directory with only the declared inputs, so nothing else is visible."""

from __future__ import annotations

import shutil
from pathlib import Path


def stage(directory: Path, binaries: dict[str, Path], files: dict[str, Path]) -> Path:
    """Lay out ``bin/<name>`` and ``files/<relative path>``; anything left from before is removed."""
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "bin").mkdir(parents=True)
    for name, source in sorted(binaries.items()):
        shutil.copy2(source, directory / "bin" / name)
    for relative, source in sorted(files.items()):
        target = directory / "files" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return directory
