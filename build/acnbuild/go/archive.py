"""Binary archives as upstream's ``<c>-archive`` recipes make them (``.tgz`` for Linux, ``.zip`` for Windows),
but deterministic: entries sorted, one fixed time (SOURCE_DATE_EPOCH), owner 0:0, no name or time of our own in
the gzip header. The same binaries give the same archive bytes in any checkout, and a reader sees the old archive
or the new one, never a partial one.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_path
from ..errors import UserError

EXECUTABLE = 0o755
REGULAR = 0o644
_ZIP_EPOCH = 315532800  # 1980-01-01: the earliest time a zip entry can carry
_UNIX = 3  # zip "version made by" host system


@dataclass(frozen=True)
class Entry:
    """One file in an archive: its name there, where it comes from, and whether it is a program."""

    name: str
    source: Path
    executable: bool


def write(target: Path, entries: Sequence[Entry], mtime: int) -> Path:
    """Write ``target`` (its suffix picks the format) from ``entries``, atomically."""
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"{target.name}: two archive entries are named {', '.join(duplicates)}")
    ordered = sorted(entries, key=lambda e: e.name)
    with atomic_path(target) as partial:
        if target.suffix == ".zip":
            _write_zip(partial, ordered, mtime)
        else:
            _write_tgz(partial, ordered, mtime)
    return target


def _write_tgz(path: Path, entries: Sequence[Entry], mtime: int) -> None:
    """Upstream runs `tar -czvf`: gzip at its default level, 6."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime, compresslevel=6) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for entry in entries:
            data = entry.source.read_bytes()
            info = tarfile.TarInfo(entry.name)
            info.size = len(data)
            info.mtime = mtime
            info.mode = EXECUTABLE if entry.executable else REGULAR
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))


def is_text(data: bytes) -> bool:
    """What ``zip -l`` would treat as text: no NUL byte, and readable as UTF-8."""
    if b"\0" in data:
        return False
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _write_zip(path: Path, entries: Sequence[Entry], mtime: int) -> None:
    """Upstream runs ``zip -9lq``: deflate at level 9, and text files get CRLF line ends (``-l``)."""
    stamp = time.gmtime(max(mtime, _ZIP_EPOCH))[:6]
    with zipfile.ZipFile(path, "w") as archive:
        for entry in entries:
            data = entry.source.read_bytes()
            info = zipfile.ZipInfo(entry.name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _UNIX
            info.external_attr = (0o100000 | (EXECUTABLE if entry.executable else REGULAR)) << 16
            if not entry.executable and is_text(data):
                data = data.replace(b"\n", b"\r\n")
                info.internal_attr = 1  # text, as zip marks it
            archive.writestr(info, data, compresslevel=9)
