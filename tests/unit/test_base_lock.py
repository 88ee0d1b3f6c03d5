"""requirements/base-images.lock pins every base; BUILD.yaml and the lock must agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from acnbuild import discover
from acnbuild.baselock import LOCK_FILE, BaseLock
from acnbuild.errors import UserError

from tests.conftest import REPO_ROOT

HPC = "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0"
OTHER = "sha256:" + "9" * 64


def test_the_repository_and_its_lock_agree() -> None:
    lock = BaseLock.read(REPO_ROOT)
    repo = discover.load_repository(REPO_ROOT, lock)
    assert discover.lock_problems(repo, lock) == []
    assert repo.component("cns").images["windows"].base == f"{HPC}@{lock.entries[HPC].digest}"
    assert "@sha256:" not in (REPO_ROOT / "components/cns/BUILD.yaml").read_text()  # the digest lives in the lock


def error_of(root: Path) -> str:
    with pytest.raises(UserError) as info:
        discover.load_repository(root)
    return str(info.value)


def test_a_tag_the_lock_does_not_pin_is_floating(monorepo_copy: Path) -> None:
    lock = monorepo_copy / LOCK_FILE
    lock.write_text("\n".join(line for line in lock.read_text().splitlines() if "host-process" not in line) + "\n")
    message = error_of(monorepo_copy)
    assert "components/azure-ipam/BUILD.yaml:21: images.windows.base" in message
    assert f"{HPC} is not pinned by digest here or in requirements/base-images.lock" in message


def test_a_pin_in_build_yaml_must_agree_with_the_lock(monorepo_copy: Path) -> None:
    build_file = monorepo_copy / "components/cns/BUILD.yaml"
    build_file.write_text(build_file.read_text().replace(f"base: {HPC}", f"base: {HPC}@{OTHER}"))
    message = error_of(monorepo_copy)
    assert f"components/cns/BUILD.yaml:20: images.windows.base: {HPC}@{OTHER} disagrees with " in message
    assert "requirements/base-images.lock:3, which pins sha256:b4c9" in message


def test_a_malformed_lock_line_is_named(monorepo_copy: Path) -> None:
    (monorepo_copy / LOCK_FILE).write_text("# comment\nmcr.microsoft.com/windows/servercore:ltsc2022\n")
    assert "requirements/base-images.lock:2: mcr.microsoft.com/windows/servercore:ltsc2022 is not name:tag@sha256" in (
        error_of(monorepo_copy)
    )


def test_check_names_unused_lock_lines_and_pins_outside_the_lock(monorepo_copy: Path) -> None:
    lock_file = monorepo_copy / LOCK_FILE
    lock_file.write_text(lock_file.read_text() + f"example.io/unused:1@{OTHER}\n")
    build_file = monorepo_copy / "components/npm/BUILD.yaml"
    build_file.write_text(build_file.read_text().replace("    base: scratch", f"    base: example.io/pinned:2@{OTHER}"))
    lock = BaseLock.read(monorepo_copy)
    problems = discover.lock_problems(discover.load_repository(monorepo_copy, lock), lock)
    assert "requirements/base-images.lock:5: example.io/unused:1 is used by no BUILD.yaml" in problems
    assert any(p.startswith("components/npm/BUILD.yaml:") and "example.io/pinned:2 is pinned in BUILD.yaml" in p
               for p in problems)  # fmt: skip
