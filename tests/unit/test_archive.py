"""Binary archives: upstream's formats (.tgz, .zip with CRLF text as `zip -l`), but byte-for-byte reproducible."""

from __future__ import annotations

import gzip
import os
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest
from acnbuild.errors import UserError
from acnbuild.go import archive

EPOCH = 1_700_000_000
PROGRAM = b"\x7fELF\x00\x01binary\n\x00"
CONFLIST = b'{\n  "cniVersion": "1.0.0"\n}\n'


def sources(directory: Path, mtime: int) -> list[archive.Entry]:
    directory.mkdir(parents=True)
    (directory / "prog").write_bytes(PROGRAM)
    (directory / "azure.conflist").write_bytes(CONFLIST)
    for name in ("prog", "azure.conflist"):
        os.utime(directory / name, (mtime, mtime))
    (directory / "prog").chmod(0o700)
    # deliberately unsorted: the archive sorts
    return [archive.Entry("10-azure.conflist", directory / "azure.conflist", False),
            archive.Entry("azure-vnet", directory / "prog", True)]  # fmt: skip


@pytest.mark.parametrize("suffix", [".tgz", ".zip"])
def test_same_inputs_give_the_same_bytes_anywhere(tmp_path: Path, suffix: str) -> None:
    one = archive.write(tmp_path / f"a{suffix}", sources(tmp_path / "one", 1), EPOCH)
    two = archive.write(tmp_path / "elsewhere" / f"b{suffix}", sources(tmp_path / "two", 2_000_000_000), EPOCH)
    assert one.read_bytes() == two.read_bytes()
    assert archive.write(tmp_path / f"c{suffix}", sources(tmp_path / "three", 5), EPOCH + 3600).read_bytes() != (
        one.read_bytes()
    )


def test_tgz_entries_are_sorted_owned_by_root_at_the_epoch(tmp_path: Path) -> None:
    path = archive.write(tmp_path / "x.tgz", sources(tmp_path / "src", 1), EPOCH)
    raw = path.read_bytes()
    flags, header_mtime = raw[3], struct.unpack("<I", raw[4:8])[0]
    assert flags & 0x08 == 0, "the gzip header names a file"
    assert header_mtime == EPOCH
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["10-azure.conflist", "azure-vnet"]
        assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", EPOCH)}
        assert [m.mode for m in members] == [0o644, 0o755]
        program = tar.extractfile("azure-vnet")
        assert program is not None and program.read() == PROGRAM
    assert gzip.decompress(raw)[:10] == b"10-azure.c"  # a plain tar stream inside


def test_zip_is_like_upstreams_zip_9l(tmp_path: Path) -> None:
    path = archive.write(tmp_path / "x.zip", sources(tmp_path / "src", 1), EPOCH)
    with zipfile.ZipFile(path) as zipped:
        infos = zipped.infolist()
        assert [i.filename for i in infos] == ["10-azure.conflist", "azure-vnet"]
        assert zipped.read("10-azure.conflist") == CONFLIST.replace(b"\n", b"\r\n")  # -l: text gets CRLF
        assert zipped.read("azure-vnet") == PROGRAM  # binaries are left alone
        assert [i.internal_attr & 1 for i in infos] == [1, 0]
        assert {i.date_time for i in infos} == {(2023, 11, 14, 22, 13, 20)}
        assert [i.external_attr >> 16 for i in infos] == [0o100644, 0o100755]
        assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    entries = [*sources(tmp_path / "src", 1), archive.Entry("gone", tmp_path / "missing", True)]
    target = tmp_path / "out" / "x.tgz"
    with pytest.raises(FileNotFoundError):
        archive.write(target, entries, EPOCH)
    assert not target.exists() and not list(target.parent.iterdir())


def test_duplicate_entry_names_are_refused(tmp_path: Path) -> None:
    entries = sources(tmp_path / "src", 1)
    with pytest.raises(UserError, match="two archive entries are named azure-vnet"):
        archive.write(tmp_path / "x.tgz", [*entries, entries[1]], EPOCH)


def test_text_detection() -> None:
    assert archive.is_text(CONFLIST) and not archive.is_text(PROGRAM) and not archive.is_text(b"\xff\xfe")
