"""Files that must stay inside a directory (a component): symbolic links may not lead out of it.

``resolve`` answers up front (discovery names the BUILD.yaml line); ``read_bytes`` and ``copy`` read the file
without following any link on the way, relative to the directory's own descriptor, so a link swapped in after the
check fails instead of putting a host file (``/etc/passwd``) into an image.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError


class NotContained(UserError):
    """``relative`` cannot be used as a file of ``base``; ``reason`` says why (discovery adds the file and line)."""

    def __init__(self, relative: str, reason: str) -> None:
        super().__init__(f"{relative}: {reason}", hint="symbolic links may not lead out of the component")
        self.relative = relative
        self.reason = reason


def resolve(base: Path, relative: str) -> Path:
    """The real path of ``base/relative``: a regular file inside ``base`` once every link is followed."""
    real_base = Path(os.path.realpath(base))
    if Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise NotContained(relative, "must be a path inside the directory, without '..' or a leading '/'")
    _check_links(real_base, relative)
    real = Path(os.path.realpath(real_base / relative))
    if not real.exists():
        raise NotContained(relative, "does not exist")
    if real.is_dir():
        raise NotContained(relative, "is a directory; list the files in it one by one")
    if not stat.S_ISREG(real.stat().st_mode):
        raise NotContained(relative, "is not a regular file")
    return real


def _check_links(real_base: Path, relative: str) -> None:
    """Name the first link on the way whose target lies outside ``real_base``."""
    current = real_base
    for part in Path(relative).parts:
        current = current / part
        if current.is_symlink():
            target = Path(os.path.realpath(current))
            if not inside(real_base, target):
                shown = current.relative_to(real_base).as_posix()
                raise NotContained(
                    relative,
                    f"{shown} is a symbolic link that leads outside {real_base.name}/ (to {os.readlink(current)})",
                )
            current = target


def inside(base: Path, path: Path) -> bool:
    """``path`` is ``base`` or lies under it (both already resolved)."""
    return path == base or base in path.parents


@contextlib.contextmanager
def _open(base: Path, relative: str) -> Iterator[int]:
    """A descriptor of the resolved file, reached from ``base`` one name at a time with O_NOFOLLOW."""
    real_base = Path(os.path.realpath(base))
    parts = resolve(base, relative).relative_to(real_base).parts
    descriptors: list[int] = []
    try:
        try:
            descriptors.append(os.open(real_base, os.O_RDONLY | os.O_DIRECTORY))
            for part in parts[:-1]:
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                descriptors.append(os.open(part, flags, dir_fd=descriptors[-1]))
            descriptors.append(os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW, dir_fd=descriptors[-1]))
        except OSError as error:  # ELOOP / ENOTDIR: a link appeared on the way since resolve()
            raise NotContained(relative, f"changed while it was read ({error.strerror})") from None
        if not stat.S_ISREG(os.fstat(descriptors[-1]).st_mode):
            raise NotContained(relative, "is not a regular file")
        yield descriptors[-1]
    finally:
        for descriptor in reversed(descriptors):
            os.close(descriptor)


def read_bytes(base: Path, relative: str) -> bytes:
    with _open(base, relative) as descriptor, os.fdopen(os.dup(descriptor), "rb") as handle:
        return handle.read()


def copy(base: Path, relative: str, target: Path) -> None:
    """Copy ``base/relative`` to ``target`` (contents and permission bits), never through a link out of ``base``."""
    with _open(base, relative) as descriptor, os.fdopen(os.dup(descriptor), "rb") as source:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as handle:
            shutil.copyfileobj(source, handle)
        os.chmod(target, stat.S_IMODE(os.fstat(descriptor).st_mode))
