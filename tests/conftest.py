"""Shared fixtures: temporary git repositories and monorepo copies."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(cwd: Path, *args: str, date: int | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{date} +0000"
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


GitFactory = Callable[..., Path]


@pytest.fixture
def make_git_repo(tmp_path: Path) -> GitFactory:
    """A git repository with one commit per entry of ``history`` (tag names per commit)."""

    def make(history: list[list[str]], name: str = "repo") -> Path:
        root = tmp_path / name
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        for index, tags in enumerate(history):
            (root / "file.txt").write_text(f"{index}\n")
            git(root, "add", "file.txt")
            git(root, "commit", "-q", "-m", f"commit {index}", date=1_700_000_000 + index)
            for tag in tags:
                git(root, "tag", tag)
        return root

    return make


def copy_monorepo(root: Path) -> Path:
    """This repository's components, go.mod, locks and tools in a fresh one-commit git repo at ``root``, tagged
    v1.8.12, azure-ipam/v0.4.1 and ipv6-hp-bpf/v0.0.3."""
    root.mkdir(parents=True)
    for item in ("components", "go.mod", "requirements"):
        source = REPO_ROOT / item
        if source.is_dir():
            shutil.copytree(source, root / item)
        else:
            shutil.copy2(source, root / item)
    if (REPO_ROOT / "tools").is_dir():
        shutil.copytree(REPO_ROOT / "tools", root / "tools")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "import", date=1_700_000_000)
    git(root, "tag", "v1.8.12")
    git(root, "tag", "azure-ipam/v0.4.1")
    git(root, "tag", "ipv6-hp-bpf/v0.0.3")
    return root


@pytest.fixture
def monorepo_copy(tmp_path: Path) -> Path:
    """A copy of this repository's components, go.mod and locks in a fresh one-commit git repo."""
    return copy_monorepo(tmp_path / "mono")
