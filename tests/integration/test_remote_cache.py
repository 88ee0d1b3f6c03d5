"""Two runners, one remote cache: what one runner built, another (cold) fetches instead of building.

Each runner is its own clone in its own directory, with its own ``ACNBUILD_CACHE`` (toolchain, Go build cache) and
its own buildah store; the only thing they share is a real registry on loopback used as the remote cache. Every
claim is read from the runners' JSON reports (``-- --report``) and checked against the files and stores.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from acnbuild.image import ociarchive
from acnbuild.paths import user_cache
from acnbuild.references import Reference
from acnbuild.registry.client import RegistryClient
from acnbuild.registry.local import LocalRegistry

from tests.conftest import git
from tests.integration.conftest import TEST_REGISTRY, acnbuild, override_args

pytestmark = pytest.mark.integration

BUILT_KINDS = ("go-binary", "installer", "image", "smoke")
STORAGE_CONF = """\
[storage]
driver = "vfs"
graphroot = "{root}/graph"
runroot = "{root}/run"
"""


class Runner:
    """One CI runner: a clone, an ACNBUILD_CACHE and a containers store of its own."""

    def __init__(self, source: Path, home: Path, cache: Path) -> None:
        self.root = home / "checkout"
        git(home, "clone", "-q", str(source), str(self.root))
        store = home / "containers"
        store.mkdir()
        conf = home / "storage.conf"
        conf.write_text(STORAGE_CONF.format(root=store))
        self.env = {"ACNBUILD_CACHE": str(cache), "CONTAINERS_STORAGE_CONF": str(conf)}
        self.runs = 0

    def build(self, *args: str) -> dict[str, Any]:
        self.runs += 1
        report = self.root.parent / f"report-{self.runs}.json"
        result = acnbuild("images", "--builder", "buildah", "--registry", TEST_REGISTRY, "--report", str(report),
                          *args, cwd=self.root, env=self.env)  # fmt: skip
        assert result.returncode == 0, result.stderr[-4000:]
        data: dict[str, Any] = json.loads(report.read_text())
        return data

    def buildah_image_id(self, reference: str) -> str:
        result = subprocess.run(["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", reference],
                                env={**os.environ, **self.env}, capture_output=True, text=True, check=True)  # fmt: skip
        return "sha256:" + result.stdout.strip().removeprefix("sha256:")


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in report["actions"] if a["kind"] in BUILT_KINDS}


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {action_id: a["status"] for action_id, a in by_id(report).items()}


def test_two_runners_share_one_remote_cache(
    monorepo_copy: Path, tmp_path: Path, registry: LocalRegistry, windows_overrides: list[str], tool: Any
) -> None:
    tool("buildah")
    tool("skopeo")
    cache = f"{registry.host}/acnbuild-cache-{uuid.uuid4().hex[:8]}"
    platforms = ["--platform", "linux/amd64", "--platform", "windows/amd64"]
    common = ["--remote-cache", cache, *override_args(windows_overrides)]
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = Runner(monorepo_copy, tmp_path / "one", user_cache())  # yesterday's runner: a warm cache of its own
    second = Runner(monorepo_copy, tmp_path / "two", tmp_path / "two" / "acnbuild-cache")  # a new runner: cold

    one = first.build(*platforms, *common)
    assert set(statuses(one).values()) == {"built"}
    assert all(a["stored"] for a in by_id(one).values()), [a["notes"] for a in by_id(one).values()]

    two = second.build(*platforms, *common)
    # compiled nothing, built no image, started no image (the first runner's smoke verdicts are for these images)
    assert set(statuses(two).values()) == {"remote-hit"}, statuses(two)
    assert statuses(two).keys() == statuses(one).keys()
    for action_id, action in by_id(two).items():
        assert action["output_digest"] == by_id(one)[action_id]["output_digest"], action_id
    for binary in sorted((first.root / "output").glob("*_*/**/*")):
        if binary.is_file() and binary.parent.name != "images":
            twin = second.root / binary.relative_to(first.root)
            assert twin.read_bytes() == binary.read_bytes(), twin
            assert os.access(twin, os.X_OK), twin
    sboms = sorted((first.root / "output/sbom").glob("*.cdx.json"))
    assert len(sboms) == 9
    assert all((second.root / "output/sbom" / s.name).read_bytes() == s.read_bytes() for s in sboms)
    smoke = [a for a in by_id(two).values() if a["kind"] == "smoke"]
    assert len(smoke) == 9 and all(a["output_digest"] for a in smoke if not a["details"]["platform"].startswith("w"))
    images = [a for a in by_id(two).values() if a["kind"] == "image"]
    assert len(images) == 9  # five Linux images, four Windows ones (ipv6-hp-bpf is Linux-only)
    for image in images:
        reference = image["details"]["reference"]
        assert second.buildah_image_id(reference) == image["output_digest"] == first.buildah_image_id(reference)
        if image["details"]["platform"] == "windows/amd64":
            archive = ociarchive.read(second.root / image["details"]["archive"])
            assert (archive.os, archive.manifest["config"]["digest"]) == ("windows", image["output_digest"])

    main_go = second.root / "components/cns/cmd/azure-cns/main.go"
    main_go.write_text(main_go.read_text() + "\n// an edit on the second runner\n")
    edited = second.build("--platform", "linux/amd64", *common, "--remote-cache-mode", "read")
    changed = {action_id for action_id, status in statuses(edited).items() if status != "cached"}
    assert changed == {"go:azure-cns:linux/amd64", "image:cns:linux/amd64:buildah", "smoke:cns:linux/amd64:buildah"}
    assert {statuses(edited)[action_id] for action_id in changed} == {"built"}
    assert not any(a["stored"] for a in by_id(edited).values())  # read-only: an untrusted run writes nothing
    client = RegistryClient.for_reference(Reference.parse(cache))
    new_binary = by_id(edited)["go:azure-cns:linux/amd64"]
    assert client.manifest(Reference.parse(cache).repository, f"go-binary-{new_binary['fingerprint']}") is None


def test_a_corrupt_entry_is_a_miss_and_an_unreachable_cache_never_fails_a_build(
    monorepo_copy: Path, tmp_path: Path, private_registry: LocalRegistry, docker_client: Any
) -> None:
    registry = private_registry  # its storage is corrupted below
    cache = Reference.parse(f"{registry.host}/acnbuild-cache-{uuid.uuid4().hex[:8]}")
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = Runner(monorepo_copy, tmp_path / "one", user_cache())
    second = Runner(monorepo_copy, tmp_path / "two", user_cache())
    args = ["--builder", "docker", "--component", "ipv6-hp-bpf", "--remote-cache", str(cache)]

    one = first.build(*args)
    binary = by_id(one)["go:ipv6-hp-bpf:linux/amd64"]
    assert binary["status"] == "built" and binary["stored"]
    client = RegistryClient.for_reference(cache)
    manifest = client.manifest(cache.repository, f"go-binary-{binary['fingerprint']}")
    assert manifest is not None
    layer = manifest.json["layers"][0]["digest"].removeprefix("sha256:")
    data = registry.directory / "storage/docker/registry/v2/blobs/sha256" / layer[:2] / layer / "data"
    data.write_bytes(b"\0" * data.stat().st_size)  # same size, other bytes: only the digest can tell

    image = by_id(one)["image:ipv6-hp-bpf:linux/amd64:docker"]
    docker_client.images.remove(image["details"]["reference"])  # the second runner must pull it: a registry hit
    two = second.build(*args)
    assert by_id(two)["go:ipv6-hp-bpf:linux/amd64"]["status"] == "built"  # compiled again, not failed
    assert any("corrupt" in note for note in by_id(two)["go:ipv6-hp-bpf:linux/amd64"]["notes"])
    output = by_id(two)["go:ipv6-hp-bpf:linux/amd64"]["details"]["output"]  # output/linux_amd64/bpf-prog/...
    assert (second.root / output).read_bytes() == (first.root / output).read_bytes()
    assert by_id(two)["image:ipv6-hp-bpf:linux/amd64:docker"]["status"] == "remote-hit"
    assert docker_client.images.get(image["details"]["reference"]).id == image["output_digest"]

    dockerfile = second.root / "components/ipv6-hp-bpf/linux.Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "LABEL unreachable=cache\n")
    unreachable = second.build("--builder", "docker", "--component", "ipv6-hp-bpf", "--remote-cache", "127.0.0.1:9/x")
    assert by_id(unreachable)["image:ipv6-hp-bpf:linux/amd64:docker"]["status"] == "built"
