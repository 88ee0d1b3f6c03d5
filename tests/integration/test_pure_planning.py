"""Planning is pure: `plan` and every `--dry-run` contact no engine and no registry and write nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from acnbuild import discover

from tests.integration.conftest import acnbuild, build
from tests.support.spies import snapshot, spy_engine, spy_registry

pytestmark = pytest.mark.integration

DRY_RUNS = [
    ["plan", "--json"],
    ["plan"],
    ["images", "--dry-run"],
    ["image", "cns", "--dry-run"],
    ["image-push", "cns", "--dry-run"],
    ["image-pull", "cns", "--dry-run"],
    ["manifest-build", "cns", "--dry-run"],
    ["manifest-push", "cns", "--dry-run"],
    ["manifest", "--push", "--append", "--dry-run"],
    ["manifest-archive", "cns", "--dry-run"],
    ["manifest-archives", "--dry-run"],
    ["manifest", "--platform", "windows/amd64", "--dry-run"],
    ["binary", "cns", "--dry-run"],
    ["binaries", "--dry-run", "--json"],
    ["binary-archive", "cni", "--dry-run"],
    ["binary-archives", "--dry-run"],
    ["plan", "--matrix"],
]


def state(root: Path) -> dict[str, int]:
    """Records, logs, contexts and outputs. (``.acnbuild/cache`` holds answers to read-only queries, such as
    `go list`, kept to make later plans faster; writing them changes nothing a build or a plan reports.)"""
    files = snapshot(root / ".acnbuild", root / "output")
    return {path: mtime for path, mtime in files.items() if "/.acnbuild/cache/" not in path}


def test_dry_runs_touch_no_engine_registry_or_record(monorepo_copy: Path, tmp_path: Path, docker_client) -> None:
    build(["cns"], root=monorepo_copy)  # records, binaries and an image exist: there is something to disturb
    before = state(monorepo_copy)
    with spy_registry() as (registry, registry_spy), spy_engine(tmp_path) as (engine, engine_spy):
        env = {"IMAGE_REGISTRY": registry, "DOCKER_HOST": engine}
        for args in DRY_RUNS:
            result = acnbuild(*args, cwd=monorepo_copy, env=env)
            assert result.returncode == 0, f"{args}: {result.stderr}"
        assert registry_spy.connections == 0
        assert engine_spy.connections == 0
    assert state(monorepo_copy) == before


def test_plan_json_needs_no_engine_and_installs_no_toolchain(monorepo_copy: Path, tmp_path: Path) -> None:
    """A CI setup job: only Python, nox and git; no engine, no builder, no Go toolchain. Fingerprints that need the
    toolchain are reported as unknown, and the matrix has a cell per (component, declared platform)."""
    cache = tmp_path / "empty-cache"
    bare_path = tmp_path / "bin"  # git and nothing else: no docker, buildah, podman or go
    bare_path.mkdir()
    git = shutil.which("git")
    assert git is not None
    (bare_path / "git").symlink_to(git)
    output_file = tmp_path / "github-output"
    env = {"ACNBUILD_CACHE": str(cache), "PATH": str(bare_path), "GITHUB_OUTPUT": str(output_file)}
    with spy_engine(tmp_path) as (engine, engine_spy):
        result = acnbuild("plan", "--json", cwd=monorepo_copy, env={**env, "DOCKER_HOST": engine})
        matrix = acnbuild("plan", "--matrix", "--github-output", cwd=monorepo_copy, env={**env, "DOCKER_HOST": engine})
        assert engine_spy.connections == 0
    assert result.returncode == 0, result.stderr
    assert matrix.returncode == 0, matrix.stderr
    data = json.loads(result.stdout)
    repo = discover.load_repository(monorepo_copy)
    cells = {(c["component"], c["platform"]) for c in data["matrix"]}
    assert cells == {(c.name, str(p)) for c in repo.components.values() for p in c.platforms} and len(cells) == 14
    assert {(c["runner"], c["builder"]) for c in data["matrix"]} == {("ubuntu-24.04", "buildah")}
    assert json.loads(matrix.stdout) == {"include": data["matrix"]}
    assert output_file.read_text() == f"matrix={matrix.stdout.strip()}\n"
    go_rows = [row for row in data["actions"] if row["kind"] == "go-binary"]
    assert go_rows and all(row["fingerprint"] is None and row["would_run"] is None for row in go_rows)
    assert not cache.exists() or not any(cache.rglob("*"))
    assert not (monorepo_copy / ".acnbuild" / "records").exists()


def test_every_ci_cell_runs_on_the_amd64_linux_runner(monorepo_copy: Path) -> None:
    """COPY-only images over cross-compiled binaries: arm64 and Windows cells need no emulation or other runner."""
    result = acnbuild("plan", "--matrix", "--component", "npm", cwd=monorepo_copy)
    assert result.returncode == 0, result.stderr
    runners = {c["platform"]: c["runner"] for c in json.loads(result.stdout)["include"]}
    assert runners == {"linux/amd64": "ubuntu-24.04", "linux/arm64": "ubuntu-24.04", "windows/amd64": "ubuntu-24.04"}
