"""SIGINT and SIGTERM to the nox process group in the middle of a Go compile, an image build, a push and an
archive write, as a terminal's Ctrl-C or a CI runner's cancel sends them.

Each must end with exit 130/143 and one line (no traceback), every process the session started stopped, no
record for unfinished work, no partial file (and nothing under its final name that is not complete), no buildah
working container left behind, Go's temporary work directories reclaimed; and the rerun rebuilds exactly what
the interrupted run did not finish.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from acnbuild.paths import Layout
from acnbuild.references import Reference
from acnbuild.registry import local as localregistry
from acnbuild.registry.client import RegistryClient

from tests.integration.conftest import TEST_REGISTRY, require
from tests.support import slow_component
from tests.support.sessions import NoxRun, nox_checkout, pinned_version

pytestmark = pytest.mark.integration

EXIT: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.fixture
def checkout(monorepo_copy: Path) -> Path:
    return nox_checkout(monorepo_copy)


def environment(cache: Path, **extra: str) -> dict[str, str]:
    version = f"v0.0.0-relnet-{secrets.token_hex(3)}"  # tags of this test's own in the shared engine and registry
    return {"ACNBUILD_CACHE": str(cache), "IMAGE_REGISTRY": TEST_REGISTRY, **pinned_version(version), **extra}


def records(root: Path) -> dict[str, dict]:
    directory = Layout(root).records
    found = {}
    for path in directory.glob("*.json") if directory.is_dir() else []:
        record = json.loads(path.read_text())
        found[record["action"]] = record
    return found


def partial_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".partial" in p.name]


def assert_records_hold(root: Path, engine: docker.DockerClient | None = None) -> None:
    """Every record describes something that exists, complete: files by sha256, docker images by id."""
    for action, record in records(root).items():
        result = record["result"]
        if "sha256" in result:
            data = (root / result["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == result["sha256"], action
        if action.startswith("image:") and action.endswith(":docker") and engine is not None:
            assert engine.images.get(result["reference"]).id == result["image_id"], action


def assert_stopped_cleanly(run: NoxRun, code: int, signum: int, root: Path, cache: Path) -> None:
    name = signal.Signals(signum).name
    assert code == EXIT[signum], run.stderr[-3000:]
    assert "Traceback" not in run.stderr + run.stdout
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: interrupted by {name}: unfinished work was discarded; rerun to continue"
    )
    assert run.leftovers() == []
    assert partial_files(root) == []
    assert sorted((cache / "tmp").iterdir()) == []  # go's work directories included


def rerun(checkout: Path, env: dict[str, str], *args: str) -> dict[str, str]:
    """Run the session again to the end; {action id: status}."""
    again = NoxRun(checkout, [*args, *([] if "--" in args else ["--"]), "--json"], env)
    assert again.finish() == 0, again.stderr[-3000:]
    return {o["id"]: o["status"] for o in json.loads(again.stdout)}


def assert_reruns_exactly(statuses: dict[str, str], recorded_before: set[str], interrupted: str) -> None:
    built = {action for action, status in statuses.items() if status == "built"}
    assert interrupted in built
    assert built == set(statuses) - recorded_before


def test_sigint_during_a_go_compile(checkout: Path, own_cache: Path, docker_client: docker.DockerClient) -> None:
    slow_component.slower_compile(checkout)
    env = environment(own_cache)
    args = ["-s", "images", "--", "--component", "azure-ipam", "--component", slow_component.COMPONENT]
    run = NoxRun(checkout, args, env)
    compiling = rf"go build .*/cmd/{slow_component.COMPONENT}(\s|$)"
    run.wait_for(lambda: run.running(compiling), "the slow compile")
    run.signal(signal.SIGINT)
    code = run.finish()

    assert_stopped_cleanly(run, code, signal.SIGINT, checkout, own_cache)
    interrupted = f"go:{slow_component.COMPONENT}:linux/amd64"
    done = records(checkout)
    assert interrupted not in done
    assert not [p for p in Layout(checkout).output.rglob(slow_component.COMPONENT) if p.is_file()]
    assert_records_hold(checkout, docker_client)

    statuses = rerun(checkout, env, *args)
    assert_reruns_exactly(statuses, set(done), interrupted)
    assert_records_hold(checkout, docker_client)


@pytest.fixture
def big_image(checkout: Path, own_cache: Path) -> Iterator[dict[str, str]]:
    """The slow component with a large file in its image; its images are removed afterwards."""
    slow_component.bigger_image(checkout)
    env = environment(own_cache)
    yield env
    client = docker.from_env()
    for image in client.images.list(name=f"*/{slow_component.COMPONENT}"):
        if any(env["VERSION"] in tag for tag in image.tags):
            for tag in image.tags:
                client.images.remove(tag, force=True)
    subprocess.run(["buildah", "rmi", "--force", *_buildah_images(env["VERSION"])], capture_output=True, check=False)


def _buildah_images(version: str) -> list[str]:
    listing = subprocess.run(["buildah", "images", "--format", "{{.Name}}:{{.Tag}}"], capture_output=True, text=True,
                             check=False)  # fmt: skip
    return [line for line in listing.stdout.split() if version in line]


def test_sigterm_during_a_docker_image_build(
    checkout: Path, own_cache: Path, big_image: dict[str, str], docker_client: docker.DockerClient
) -> None:
    env = big_image
    args = ["-s", f"{slow_component.COMPONENT}-image"]
    run = NoxRun(checkout, args, env)
    run.wait_for(lambda: run.running(r"docker (buildx )?build .*--iidfile"), "the image build")
    run.signal(signal.SIGTERM)
    code = run.finish()

    assert_stopped_cleanly(run, code, signal.SIGTERM, checkout, own_cache)
    interrupted = f"image:{slow_component.COMPONENT}:linux/amd64:docker"
    done = records(checkout)
    assert interrupted not in done
    reference = f"{TEST_REGISTRY}/{slow_component.COMPONENT}:linux-amd64-{env['VERSION']}"
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(reference)
    assert_records_hold(checkout, docker_client)

    statuses = rerun(checkout, env, *args)
    assert_reruns_exactly(statuses, set(done), interrupted)
    assert_records_hold(checkout, docker_client)


def buildah_containers() -> set[str]:
    listing = subprocess.run(["buildah", "containers", "--quiet", "--notruncate"], capture_output=True, text=True,
                             check=True)  # fmt: skip
    return set(listing.stdout.split())


def test_sigint_during_a_buildah_build_leaves_no_working_container(
    checkout: Path, own_cache: Path, big_image: dict[str, str]
) -> None:
    require(shutil.which("buildah") is not None, "buildah")
    env = {**big_image, "CONTAINER_BUILDER": "buildah"}
    args = ["-s", f"{slow_component.COMPONENT}-image"]
    before = buildah_containers()
    run = NoxRun(checkout, args, env)
    run.wait_for(lambda: run.running(r"buildah build "), "the image build")
    created: set[str] = set()

    def working_container() -> bool:
        created.update(buildah_containers() - before)
        return bool(created)

    run.wait_for(working_container, "buildah's working container")
    run.signal(signal.SIGINT)
    code = run.finish()

    assert_stopped_cleanly(run, code, signal.SIGINT, checkout, own_cache)
    # Its working container is gone. (Containers other builds on this machine made meanwhile go away by themselves.)
    deadline = time.monotonic() + 20
    while created & buildah_containers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert created & buildah_containers() == set()
    done = records(checkout)
    image = f"image:{slow_component.COMPONENT}:linux/amd64:buildah"
    if image in done:  # buildah was let finish: then the image is complete and recorded
        result = done[image]["result"]
        inspected = subprocess.run(["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}",
                                    result["reference"]], capture_output=True, text=True, check=True)  # fmt: skip
        assert "sha256:" + inspected.stdout.strip() == result["image_id"]
    statuses = rerun(checkout, env, *args)
    assert {a for a, s in statuses.items() if s == "built"} == set(statuses) - set(done)


def pushing(root: Path) -> bool:
    """The engine reports uploading a layer of the push in progress."""
    return any('"Pushing"' in log.read_text(errors="replace") for log in Layout(root).logs.glob("push_*.log"))


def test_sigint_during_a_push_then_sigterm_during_an_archive_write(
    checkout: Path,
    own_cache: Path,
    big_image: dict[str, str],
    registry: localregistry.LocalRegistry,
    tool,
) -> None:
    tool("skopeo")
    env = big_image
    component = slow_component.COMPONENT
    reference = Reference.parse(f"{registry.host}/{component}:linux-amd64-{env['VERSION']}")
    client = RegistryClient.for_reference(reference)
    push_args = ["-s", f"{component}-image-push", "--", "--registry", registry.host]
    run = NoxRun(checkout, push_args, env)
    run.wait_for(lambda: pushing(checkout), "the upload of the image")
    run.signal(signal.SIGINT)
    code = run.finish()

    assert_stopped_cleanly(run, code, signal.SIGINT, checkout, own_cache)
    interrupted = f"push:{component}:linux/amd64:docker"
    done = records(checkout)
    assert interrupted not in done and f"image:{component}:linux/amd64:docker" in done
    time.sleep(3)  # the engine gave the push up with our connection: the tag never appears
    assert client.get(reference) is None
    statuses = rerun(checkout, env, *push_args)
    assert_reruns_exactly(statuses, set(done), interrupted)
    assert client.get(reference) is not None

    lists = NoxRun(checkout, ["-s", "manifest", "--", "--component", component, "--platform", "linux/amd64",
                              "--push", "--registry", registry.host], env)  # fmt: skip
    assert lists.finish() == 0, lists.stderr[-3000:]
    archive_args = ["-s", f"{component}-manifest-archive", "--", "--registry", registry.host]
    archive = Layout(checkout).images / f"{component}-{env['VERSION']}.tar"
    run = NoxRun(checkout, archive_args, env)
    run.wait_for(lambda: any(p.stat().st_size > 0 for p in partial_files(checkout)), "the archive write")
    run.signal(signal.SIGTERM)
    code = run.finish()

    assert_stopped_cleanly(run, code, signal.SIGTERM, checkout, own_cache)
    assert not archive.exists()
    again = NoxRun(checkout, archive_args, env)
    assert again.finish() == 0, again.stderr[-3000:]
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert index["manifests"]
