"""podman and buildah build Linux images through the same interface; reproducibility of their outputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from acnbuild import discover
from acnbuild.go import compile as gobuild
from acnbuild.go import toolchain
from acnbuild.image import builders, context
from acnbuild.image.builders import BuildRequest
from acnbuild.paths import Layout
from acnbuild.platforms import Platform
from acnbuild.references import Reference

from tests.conftest import REPO_ROOT
from tests.integration.conftest import build, image_outcomes

pytestmark = pytest.mark.integration
AMD64 = Platform("linux", "amd64")


@pytest.mark.parametrize("name", ["buildah", "podman"])
def test_daemonless_builder_builds_a_linux_image(tool, name: str) -> None:
    cli = tool(name)
    outcomes = image_outcomes(build(["cns"], "--builder", name))
    reference = outcomes["cns"].action.details["reference"]
    inspect = (
        [cli, "inspect", "--type", "image", reference] if name == "buildah" else [cli, "image", "inspect", reference]
    )
    data = json.loads(subprocess.run(inspect, capture_output=True, text=True, check=True).stdout)
    config = data["OCIv1"] if name == "buildah" else data[0]
    assert (config["os"] if name == "buildah" else config["Os"]) == "linux"
    assert (config["architecture"] if name == "buildah" else config["Architecture"]) == "amd64"
    labels = config["config"]["Labels"] if name == "buildah" else config["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == outcomes["cns"].action.details["version"]


@pytest.mark.parametrize("name", ["buildah", "podman"])
def test_daemonless_builds_are_digest_identical(tool, tmp_path: Path, name: str) -> None:
    tool(name)
    build(["cns"], "--builder", name)  # makes sure the binary exists
    repo = discover.load_repository(REPO_ROOT)
    component = repo.component("cns")
    builder = builders.select(name)
    ids = []
    for attempt in range(2):
        stage = context.stage(
            tmp_path / f"ctx{attempt}", {"azure-cns": Layout(REPO_ROOT).binary("azure-cns", AMD64, directory="cns")}, {}
        )
        request = BuildRequest(
            context=stage,
            dockerfile=component.images["linux"].dockerfile,
            target="linux",
            platform=AMD64,
            reference=Reference.parse(f"acntest.local/repro/azure-cns:{name}-{attempt}"),
            build_args=(("BASE_IMAGE", "scratch"), ("VERSION", "linux-amd64-vtest")),
            labels=(("org.opencontainers.image.created", "2023-11-14T22:13:20Z"),),
            source_date_epoch=1_700_000_000,
        )
        ids.append(builder.build(request, tmp_path / f"build{attempt}.log").image_id)
    assert ids[0] == ids[1]


def test_go_binaries_are_byte_identical_across_checkouts(monorepo_copy: Path, tmp_path: Path) -> None:
    chain = toolchain.ensure(REPO_ROOT)
    digests = []
    for root in (REPO_ROOT, monorepo_copy):
        repo = discover.load_repository(root)
        for platform in (AMD64, Platform("windows", "amd64"), Platform("linux", "arm64")):
            job = gobuild.GoBuild(repo.component("cns").binaries[0], platform, "v1.2.3-4-gabcdef0")
            output = tmp_path / root.name / str(platform).replace("/", "_") / "azure-cns"
            gobuild.compile_binary(chain, root, job, output, tmp_path / "go.log")
            digests.append(output.read_bytes())
    assert digests[:3] == digests[3:]
    assert len(set(digests[:3])) == 3
