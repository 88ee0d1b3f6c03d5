"""The CI workflow (.github/workflows/images.yaml) is valid, holds no build logic, names only sessions that exist,
and takes its matrix from `nox -s plan`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.support import workflow as wf

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "images.yaml"
BIN = Path(sys.executable).parent


def nox_sessions() -> set[str]:
    result = subprocess.run([str(BIN / "nox"), "-l", "--json"], cwd=REPO_ROOT, capture_output=True, text=True,
                            check=True)  # fmt: skip
    return {s["session"] for s in json.loads(result.stdout)}


def plan_matrix() -> list[dict[str, str]]:
    env = {"PYTHONPATH": str(REPO_ROOT / "build"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "acnbuild", "plan", "--json"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    cells: list[dict[str, str]] = json.loads(result.stdout)["matrix"]
    return cells


def expand(line: str, cell: dict[str, str]) -> str:
    """``${{ matrix.X }}`` filled in from one matrix cell."""
    return wf.EXPRESSION.sub(lambda m: cell[m.group(1).removeprefix("matrix.")], line)


def test_actionlint_passes() -> None:
    result = subprocess.run([str(BIN / "actionlint"), str(WORKFLOW)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_run_step_is_a_nox_session_that_exists() -> None:
    workflow = wf.load(WORKFLOW)
    sessions = nox_sessions()
    cells = plan_matrix()
    named = set()
    for _job, line in wf.run_lines(workflow):
        for cell in cells if "${{ matrix." in line else [{}]:
            expanded = expand(line, cell)
            if wf.NOX_INSTALL.match(expanded):
                continue
            match = wf.NOX_COMMAND.match(expanded)
            assert match, f"not a nox session: {line}"
            named.add(match.group(1))
    assert named <= sessions, named - sessions
    assert {"plan", "manifest", "manifest-archives", "binary-archives"} <= named
    assert {f"{c['component']}-image-push" for c in cells} <= named


def test_the_matrix_comes_from_plan_and_picks_runner_and_builder() -> None:
    jobs = wf.load(WORKFLOW)["jobs"]
    plan_step = next(s for s in jobs["setup"]["steps"] if s.get("id") == "plan")
    assert plan_step["run"].strip() == "nox -s plan -- --matrix --github-output"
    assert jobs["setup"]["outputs"]["matrix"] == "${{ steps.plan.outputs.matrix }}"
    build = jobs["build"]
    assert build["needs"] == "setup" and build["runs-on"] == "${{ matrix.runner }}"
    assert build["strategy"]["matrix"] == "${{ fromJSON(needs.setup.outputs.matrix) }}"
    push = next(s["run"] for s in build["steps"] if "-image-push" in s.get("run", ""))
    assert "--platform ${{ matrix.platform }} --builder ${{ matrix.builder }}" in push
    assert "--report report.json --profile profile.json" in push
    assert wf.load(WORKFLOW)["env"]["ACNBUILD_REMOTE_CACHE"] == "${{ vars.IMAGE_REGISTRY }}/acnbuild-cache"
    assert jobs["merge"]["needs"] == "build"
    cache = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/cache@"))
    assert "hashFiles('requirements/go-toolchain.txt')" in cache["with"]["key"]
