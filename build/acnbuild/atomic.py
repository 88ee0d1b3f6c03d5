"""Write files so that readers see the old content or the new, never a partial one.

The temporary name is unique per process and call, so two runs writing the same file never share a partial.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def partial_path(target: Path) -> Path:
    """A hidden sibling of ``target`` that no other process or call will pick."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target``, on failure it is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(target)
    try:
        yield partial
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def atomic_write(target: Path, data: bytes | str) -> Path:
    """Replace ``target`` with ``data`` in one step."""
    with atomic_path(target) as partial:
        if isinstance(data, str):
            partial.write_text(data)
        else:
            partial.write_bytes(data)
    return target
