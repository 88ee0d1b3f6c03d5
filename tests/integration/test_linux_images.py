"""Each Linux image, built through the session code by the docker builder, runs and reports its version."""

from __future__ import annotations

import pytest
from testcontainers.core.container import DockerContainer

from tests.integration.conftest import build, image_outcomes

pytestmark = pytest.mark.integration

COMPONENTS = ["cns", "cni", "npm", "azure-ipam", "ipv6-hp-bpf"]
# How each image is asked for its version (entrypoint override, command) and what it prints.
VERSION_PROBES = {
    "cns": (None, ["-v"], "Azure Container Network Service\nVersion {v}"),
    "cni": (None, ["version"], "dropgz {v}"),
    "npm": (["/usr/bin/azure-npm"], ["-v"], "azure-npm {v}"),
    "azure-ipam": (None, ["version"], "dropgz {v}"),
    "ipv6-hp-bpf": (None, ["/ipv6-hp-bpf", "-v"], "ipv6-hp-bpf {v}"),
}


def run_to_completion(image: str, entrypoint: list[str] | None, command: list[str] | None) -> tuple[int, str]:
    container = DockerContainer(image)
    if command:
        container.with_command(command)
    if entrypoint:
        container.with_kwargs(entrypoint=entrypoint)
    with container:
        wrapped = container.get_wrapped_container()
        status = wrapped.wait(timeout=60)
        output = wrapped.logs(stdout=True, stderr=False).decode()
    return status["StatusCode"], output


@pytest.fixture(scope="module")
def built(docker_client) -> dict:
    return image_outcomes(build(COMPONENTS))


@pytest.mark.parametrize("component", COMPONENTS)
def test_image_runs_and_prints_the_version_in_its_tag(built: dict, component: str) -> None:
    outcome = built[component]
    reference = outcome.action.details["reference"]
    version = outcome.action.details["version"]
    assert reference.endswith(f":linux-amd64-{version}")
    entrypoint, command, expected = VERSION_PROBES[component]
    code, output = run_to_completion(reference, entrypoint, command)
    assert code == 0, output
    assert output.strip() == expected.format(v=version)


def test_image_config_matches_upstream(built: dict, docker_client) -> None:
    image = docker_client.images.get(built["cns"].action.details["reference"])
    assert (image.attrs["Os"], image.attrs["Architecture"]) == ("linux", "amd64")
    assert image.attrs["Config"]["Entrypoint"] == ["/usr/local/bin/azure-cns"]
    assert "10090/tcp" in image.attrs["Config"]["ExposedPorts"]
    labels = image.attrs["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == built["cns"].action.details["version"]
    assert len(labels["org.opencontainers.image.revision"]) == 40


def test_second_build_is_all_cached(built: dict) -> None:
    again = build(["cns", "azure-ipam"])
    assert {o.action.id: o.status for o in again} == {o.action.id: "cached" for o in again}
    assert image_outcomes(again)["cns"].result["image_id"] == built["cns"].result["image_id"]


def test_new_registry_retags_without_rebuilding(built: dict, docker_client) -> None:
    outcomes = build(["cns"], "--registry", "other.local/acn")
    assert [(o.action.kind, o.status) for o in outcomes] == [("go-binary", "cached"), ("image", "cached"),
                                                             ("smoke", "cached")]  # fmt: skip
    reference = image_outcomes(outcomes)["cns"].action.details["reference"]
    assert reference.startswith("other.local/acn/azure-cns:linux-amd64-")
    assert docker_client.images.get(reference).id == built["cns"].result["image_id"]
