"""Runs at the same time: two ``nox -s images`` in one checkout, and two checkouts sharing one ACNBUILD_CACHE
installing the Go toolchain at the same moment. Both finish correctly, every piece of work is done once (the
other run waits, says so, then finds it recorded), and the records, outputs and caches stay consistent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import docker
import pytest
from acnbuild.go import toolchain

from tests.conftest import REPO_ROOT
from tests.integration.test_interrupts import assert_records_hold, environment, partial_files, records
from tests.support import slow_component
from tests.support.sessions import NoxRun, nox_checkout

pytestmark = pytest.mark.integration


def statuses(run: NoxRun) -> dict[str, str]:
    assert run.finish() == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    return {o["id"]: o["status"] for o in json.loads(run.stdout)}


def test_two_images_runs_in_one_checkout_do_each_action_once(
    monorepo_copy: Path, own_cache: Path, docker_client: docker.DockerClient
) -> None:
    """The issue's case: after an edit, two `nox -s images` at once. Before the per-action locks one failed with a
    FileNotFoundError (both staging the same context) or both did all the work."""
    checkout = nox_checkout(monorepo_copy)
    env = environment(own_cache)
    args = ["-s", "images", "--", "--json"]
    statuses(NoxRun(checkout, args, env))
    source = checkout / "components" / "azure-ipam" / "cmd" / "azure-ipam" / "main.go"
    source.write_text(source.read_text() + "\n// edited by test_concurrent_runs\n")
    first, second = NoxRun(checkout, args, env), NoxRun(checkout, args, env)
    one, two = statuses(first), statuses(second)

    assert set(one) == set(two)
    rebuilt = {action for action in one if "built" in (one[action], two[action])}
    assert "go:azure-ipam:linux/amd64" in rebuilt and "image:azure-ipam:linux/amd64:docker" in rebuilt
    for action in rebuilt:
        assert sorted((one[action], two[action])) == ["built", "cached"], action  # done once, found done once
    assert partial_files(checkout) == []
    assert_records_hold(checkout, docker_client)
    third = statuses(NoxRun(checkout, args, env))
    assert set(third.values()) == {"cached"}


def test_a_run_reaching_work_in_progress_waits_for_it_and_says_so(
    monorepo_copy: Path, own_cache: Path, docker_client: docker.DockerClient
) -> None:
    checkout = nox_checkout(monorepo_copy)
    slow_component.slower_compile(checkout, closures=12000)
    env = environment(own_cache)
    args = ["-s", f"{slow_component.COMPONENT}-image", "--", "--json"]
    first = NoxRun(checkout, args, env)
    first.wait_for(lambda: first.running(rf"go build .*/cmd/{slow_component.COMPONENT}(\s|$)"), "the slow compile")
    second = NoxRun(checkout, args, env)
    one, two = statuses(first), statuses(second)

    action = f"go:{slow_component.COMPONENT}:linux/amd64"
    assert (one[action], two[action]) == ("built", "cached")
    assert re.search(rf"waiting for another run in this checkout to finish: compile {slow_component.COMPONENT}\b",
                     second.stderr), second.stderr  # fmt: skip
    assert_records_hold(checkout, docker_client)


def test_two_checkouts_install_the_toolchain_once_into_a_shared_cache(tmp_path: Path, monorepo_copy: Path) -> None:
    cache = tmp_path / "fresh-cache"  # nothing installed yet; the Go build cache is shared to keep this quick
    cache.mkdir()
    (cache / "go-build").symlink_to(toolchain.ensure(REPO_ROOT).cache / "go-build")
    checkouts = [nox_checkout(monorepo_copy)]
    second = tmp_path / "second"
    shutil.copytree(monorepo_copy, second, symlinks=True)
    checkouts.append(second)
    env = environment(cache)
    runs = [NoxRun(c, ["-s", f"{slow_component.COMPONENT}-image", "--", "--json"], env) for c in checkouts]
    results = [statuses(run) for run in runs]

    stderr = "".join(run.stderr for run in runs)
    assert stderr.count("installing the pinned Go toolchain") == 1
    assert stderr.count("waiting for another build installing the Go toolchain") == 1
    installed = sorted(p.name for p in (cache / "toolchains").iterdir() if not p.name.startswith(".install"))
    assert len(installed) == 1 and installed[0].startswith("go-"), installed  # no staging directory left
    assert all(set(r.values()) == {"built"} for r in results)
    binaries = [next(p for p in (c / "output").rglob(slow_component.COMPONENT) if p.is_file()).read_bytes()
                for c in checkouts]  # fmt: skip
    assert binaries[0] == binaries[1]
    go = cache / "toolchains" / installed[0] / "go" / "bin" / "go"
    assert subprocess.run([str(go), "version"], capture_output=True, check=True).returncode == 0
    for checkout in checkouts:
        assert records(checkout)
