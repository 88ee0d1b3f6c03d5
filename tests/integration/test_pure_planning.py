"""Planning is pure: `plan` and every `--dry-run` contact no engine and no registry and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    """A CI setup job: only Python and nox. Fingerprints that need the toolchain are reported as unknown."""
    cache = tmp_path / "empty-cache"
    with spy_engine(tmp_path) as (engine, engine_spy):
        result = acnbuild(
            "plan", "--json", cwd=monorepo_copy, env={"ACNBUILD_CACHE": str(cache), "DOCKER_HOST": engine}
        )
        assert engine_spy.connections == 0
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {row["component"] for row in data["matrix"]} == {"azure-ipam", "cni", "cns", "ipv6-hp-bpf", "npm"}
    go_rows = [row for row in data["actions"] if row["kind"] == "go-binary"]
    assert go_rows and all(row["fingerprint"] is None and row["would_run"] is None for row in go_rows)
    assert not cache.exists() or not any(cache.rglob("*"))
    assert not (monorepo_copy / ".acnbuild" / "records").exists()
