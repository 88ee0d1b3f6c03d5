"""The CI workflow, run for real: the setup job plans the matrix, every cell runs its steps as its own process in
its own checkout (own .acnbuild state, own ACNBUILD_CACHE; only the Go cache is shared, as the actions/cache
restore would), all pushing to one loopback registry, then the merge job publishes the lists and the archives.
Rerunning the whole flow in fresh checkouts pushes nothing new: the builds are reproducible (buildah --timestamp),
so every tag and blob stays as it was."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from acnbuild.paths import user_cache
from acnbuild.references import Reference
from acnbuild.registry.client import RegistryClient

from tests.conftest import REPO_ROOT, git
from tests.integration.conftest import acnbuild, require
from tests.support import workflow as wf

pytestmark = pytest.mark.integration

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "images.yaml"
DECLARED = {
    "azure-ipam": ("azure-ipam", "v0.4.1", {"linux/amd64", "linux/arm64", "windows/amd64"}),
    "cni": ("azure-cni", "v1.8.12", {"linux/amd64", "linux/arm64", "windows/amd64"}),
    "cns": ("azure-cns", "v1.8.12", {"linux/amd64", "linux/arm64", "windows/amd64"}),
    "npm": ("azure-npm", "v1.8.12", {"linux/amd64", "linux/arm64", "windows/amd64"}),
    "ipv6-hp-bpf": ("ipv6-hp-bpf", "v0.0.3", {"linux/amd64", "linux/arm64"}),
}
STANDIN_OS_VERSION = "10.0.20348.643"
CELLS_AT_ONCE = 4  # the hosted runners run cells side by side; here two cores share them


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """This whole repository (what a checkout on a runner holds) as one tagged commit."""
    root = tmp_path / "origin"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "release", date=1_700_000_000)
    for tag in ("v1.8.12", "azure-ipam/v0.4.1", "ipv6-hp-bpf/v0.0.3"):
        git(root, "tag", tag)
    return root


def registry_state(storage: Path, namespace: str) -> dict[str, str]:
    """Every tag and manifest revision link of the namespace, and every blob the registry stores."""
    v2 = storage / "docker" / "registry" / "v2"
    state = {str(p.relative_to(v2)): p.read_text() for p in (v2 / "repositories" / namespace).rglob("link")}
    state |= {str(p.relative_to(v2)): "" for p in (v2 / "blobs").glob("sha256/*/*")}
    return state


def run_flow(runner: wf.Runner, workflow: dict, base: Path) -> tuple[list[dict[str, str]], Path]:
    """setup, then every matrix cell (in parallel, each in its own directory), then merge."""
    outputs = runner.run_job(workflow, "setup", base / "setup")
    matrix = json.loads(outputs["matrix"])
    cells = matrix["include"]
    with ThreadPoolExecutor(max_workers=CELLS_AT_ONCE) as pool:
        jobs = [
            pool.submit(runner.run_job, workflow, "build", base / f"cell-{i}", cell) for i, cell in enumerate(cells)
        ]
        for job in jobs:
            job.result()
    runner.run_job(workflow, "merge", base / "merge")
    return cells, base / "merge" / "checkout"


def test_the_workflow_builds_publishes_and_reruns_as_a_no_op(repository: Path, tmp_path: Path, registry,
                                                             windows_overrides) -> None:  # fmt: skip
    for tool in ("buildah", "skopeo"):
        require(shutil.which(tool) is not None, tool)
    tool_env = REPO_ROOT / ".nox" / "_acnbuild"
    nox = Path(sys.executable).parent / "nox"
    assert tool_env.is_dir() and nox.is_file(), "run the tests with the shared environment (nox -s tests)"
    namespace = "wf"
    image_registry = f"{registry.host}/{namespace}"
    runner = wf.Runner(
        origin=repository,
        nox=nox,
        tool_env=tool_env,
        go_cache=user_cache(),
        variables={"IMAGE_REGISTRY": image_registry},
        # MCR is reachable from hosted runners; here the Windows bases are stand-ins in the loopback registry.
        extra_env={"BASE_IMAGE_OVERRIDES": " ".join(windows_overrides)},
    )
    workflow = wf.load(WORKFLOW)

    cells, merged = run_flow(runner, workflow, tmp_path / "first")

    planned = acnbuild("plan", "--json", cwd=repository, env={"IMAGE_REGISTRY": image_registry})
    assert planned.returncode == 0, planned.stderr
    assert cells == json.loads(planned.stdout)["matrix"]  # the workflow's matrix is exactly plan --json's
    assert {(c["component"], c["platform"]) for c in cells} == {(c, p) for c, (_, _, ps) in DECLARED.items()
                                                                for p in ps}  # fmt: skip
    for component, (image, version, platforms) in DECLARED.items():
        reference = Reference.parse(f"{image_registry}/{image}:{version}")
        client = RegistryClient.for_reference(reference)
        listed = client.get(reference)
        assert listed is not None, reference
        entries = {f"{e['platform']['os']}/{e['platform']['architecture']}": e for e in listed.json["manifests"]}
        assert set(entries) == platforms, component
        for platform, entry in entries.items():
            child = Reference.parse(f"{image_registry}/{image}:{platform.replace('/', '-')}-{version}")
            pushed = client.get(child)
            assert pushed is not None and entry["digest"] == pushed.digest, child
            if platform.startswith("windows/"):
                assert entry["platform"]["os.version"] == STANDIN_OS_VERSION
        assert (merged / "output" / "images" / f"{image}-{version}.tar").is_file()
    assert len(list((merged / "output").glob("*_*/**/*.tgz"))) == 10
    assert len(list((merged / "output").glob("*_*/**/*.zip"))) == 3

    before = registry_state(registry.directory / "storage", namespace)
    first_round = len(runner.timings)
    run_flow(runner, workflow, tmp_path / "again")
    for line, seconds in runner.timings[:first_round]:
        print(f"{seconds:6.1f}s  {line}")
    assert registry_state(registry.directory / "storage", namespace) == before, "the rerun pushed something new"
    # The rerun's cells start cold (fresh checkouts, empty records) but share the workflow's remote cache: each
    # compiles nothing and builds no image, it fetches them (README: "Remote cache").
    for index, cell in enumerate(cells):
        report = json.loads((tmp_path / "again" / f"cell-{index}" / "checkout" / "report.json").read_text())
        assert report["remote_cache"]["location"] == f"{image_registry}/acnbuild-cache", cell
        ran = [a["id"] for a in report["actions"] if a["kind"] in ("go-binary", "installer", "image")
               and a["status"] == "built"]  # fmt: skip
        assert not ran, f"{cell}: ran again despite the remote cache: {ran}"
        assert any(a["status"] == "remote-hit" for a in report["actions"]), cell
