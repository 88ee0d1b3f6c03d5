"""A file output is current while its bytes are: the recorded identity only spares reading an unchanged file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from acnbuild.engine.plan import Freshness
from acnbuild.go import actions
from acnbuild.go.actions import FileStep
from acnbuild.paths import Layout


def step(tmp_path: Path) -> FileStep:
    output = tmp_path / "output" / "binary"

    def produce(log: Path) -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(b"\x7fELF version one")

    return FileStep(Layout(tmp_path), output, produce)


def test_an_unchanged_file_is_current_without_being_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file_step = step(tmp_path)
    result = file_step.run(tmp_path / "log")
    assert result["identity"][0] == len(b"\x7fELF version one")

    def unread(path: Path) -> str:
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(actions, "file_digest", unread)
    assert file_step.check(result, offline=True).freshness is Freshness.CURRENT


def test_same_size_same_mtime_other_bytes_is_stale(tmp_path: Path) -> None:
    file_step = step(tmp_path)
    result = file_step.run(tmp_path / "log")
    stat = file_step.output.stat()
    file_step.output.write_bytes(b"\x7fELF version two")  # same length
    os.utime(file_step.output, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime put back; ctime cannot be
    assert file_step.check(result, offline=True).freshness is Freshness.STALE


def test_a_record_without_identity_still_compares_bytes(tmp_path: Path) -> None:
    file_step = step(tmp_path)
    result = {k: v for k, v in file_step.run(tmp_path / "log").items() if k != "identity"}
    assert file_step.check(result, offline=True).freshness is Freshness.CURRENT
    file_step.output.write_bytes(b"other")
    assert file_step.check(result, offline=True).freshness is Freshness.STALE
