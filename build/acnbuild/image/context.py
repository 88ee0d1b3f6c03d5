"""Staged build contexts: a fresh directory with only the declared inputs, so nothing else is visible."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from .. import contained


def stage(
    directory: Path,
    binaries: Mapping[str, Path],
    files: Mapping[str, Path],
    *,
    within: Path | None = None,
    extra: Mapping[str, bytes] | None = None,
) -> Path:
    """Lay out ``bin/<name>``, ``files/<relative path>`` and ``extra`` (generated files, by context path).

    Anything left from before is removed. With ``within`` (the component directory), every file is read inside it
    without following a link out of it (``contained``), so a link swapped in after discovery fails the build.
    """
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "bin").mkdir(parents=True)
    for name, source in sorted(binaries.items()):
        shutil.copy2(source, directory / "bin" / name)
    for relative, source in sorted(files.items()):
        target = directory / "files" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if within is not None:
            contained.copy(within, source.relative_to(within).as_posix(), target)
        else:
            shutil.copy2(source, target)
    for relative, data in sorted((extra or {}).items()):
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return directory
