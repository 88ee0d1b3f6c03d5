"""Publishing against a real registry (Debian docker-registry on loopback): push, pull, manifest lists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from acnbuild import sessions
from acnbuild.image import emulation
from acnbuild.references import Reference, Registry
from acnbuild.registry import local as localregistry
from acnbuild.registry.client import DOCKER_LIST, OCI_INDEX, RegistryClient

from tests.conftest import REPO_ROOT
from tests.integration.conftest import acnbuild, override_args, require

pytestmark = pytest.mark.integration


def push(names: list[str], registry: str, *args: str, root: Path = REPO_ROOT) -> dict:
    outcomes = sessions.build_images(["--registry", registry, *args], names, prog="test", root=root,
                                     push=True)  # fmt: skip
    return {o.action.details["component"]: o for o in outcomes if o.action.kind == "push"}


def remote_digest(reference: str) -> str | None:
    ref = Reference.parse(reference)
    manifest = RegistryClient.for_reference(ref).get(ref)
    return manifest.digest if manifest else None


@pytest.mark.parametrize("builder", ["docker", "podman", "buildah"])
def test_push_pull_round_trip(builder: str, registry, docker_client) -> None:
    require(shutil.which(builder) is not None, builder)
    pushed = push(["azure-ipam"], registry.host, "--builder", builder)["azure-ipam"]
    reference = pushed.result["reference"]
    assert pushed.status == "built"
    assert remote_digest(reference) == pushed.result["digest"]
    again = push(["azure-ipam"], registry.host, "--builder", builder)["azure-ipam"]
    assert again.status == "cached" and again.result["digest"] == pushed.result["digest"]
    if builder == "docker":
        docker_client.images.remove(reference, force=True)
    result = acnbuild("image-pull", "azure-ipam", "--registry", registry.host, "--builder", builder)
    assert result.returncode == 0, result.stderr
    if builder == "docker":
        assert docker_client.images.get(reference)


def test_pull_of_a_missing_tag_names_the_reference(registry) -> None:
    result = acnbuild("image-pull", "npm", "--registry", registry.host, env={"NPM_VERSION": "v0.0.0-missing"})
    assert result.returncode == 2
    assert f"{registry.host}/azure-npm:linux-amd64-v0.0.0-missing does not exist in the registry" in result.stderr


SKUS = """\
    skus:
      ltsc2019:
        os_version: 10.0.17763.3887
        base: mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:ltsc2019@sha256:{a}
      ltsc2022:
        os_version: 10.0.20348.643
        base: mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:ltsc2022@sha256:{b}
"""


@pytest.fixture
def cns_with_skus(monorepo_copy: Path, registry) -> tuple[Path, list[str]]:
    require(shutil.which("buildah") is not None, "buildah")
    from acnbuild import discover
    from acnbuild.registry import standin

    build_file = monorepo_copy / "components/cns/BUILD.yaml"
    marker = "    target: windows\n"
    build_file.write_text(build_file.read_text().replace(marker, marker + SKUS.format(a="4" * 64, b="5" * 64)))
    overrides = standin.push_for_repository(discover.load_repository(monorepo_copy), Registry.parse(registry.host))
    return monorepo_copy, overrides


def test_full_list_with_windows_skus_and_arm64(cns_with_skus, registry, docker_client) -> None:
    root, overrides = cns_with_skus
    push(["cns"], registry.host, "--platform", "linux/amd64", root=root)
    push(["cns"], registry.host, "--platform", "linux/arm64", root=root)
    windows = push(["cns"], registry.host, "--platform", "windows/amd64", "--builder", "buildah",
                   *override_args(overrides), root=root)  # fmt: skip
    lists = sessions.build_lists(["--registry", registry.host], ["cns"], push=True, prog="test", root=root)
    reference = lists["cns"]["reference"]
    version = windows["cns"].action.details["version"]
    assert reference == f"{registry.host}/azure-cns:{version}"
    ref = Reference.parse(reference)
    back = RegistryClient.for_reference(ref).get(ref)
    assert back is not None and back.digest == lists["cns"]["digest"]
    assert back.media_type in (OCI_INDEX, DOCKER_LIST)
    entries = {
        (e["platform"]["os"], e["platform"]["architecture"], e["platform"].get("variant"),
         e["platform"].get("os.version")): e["digest"]
        for e in back.json["manifests"]
    }  # fmt: skip
    expected_children = {
        ("linux", "amd64", None, None): f"linux-amd64-{version}",
        ("linux", "arm64", "v8", None): f"linux-arm64-{version}",
        ("windows", "amd64", None, "10.0.17763.3887"): f"windows-amd64-{version}-ltsc2019",
        ("windows", "amd64", None, "10.0.20348.643"): f"windows-amd64-{version}-ltsc2022",
    }
    assert set(entries) == set(expected_children)
    for key, tag in expected_children.items():
        assert entries[key] == remote_digest(f"{registry.host}/azure-cns:{tag}")
    # arm64 through the list, under emulation
    if not emulation.enabled():
        acnbuild("qemu-user-static")
    require(emulation.enabled(), "arm64 emulation (qemu-user-static + binfmt_misc, needs root)")
    subprocess.run(["docker", "pull", "-q", "--platform", "linux/arm64", reference], check=True, capture_output=True)
    run = subprocess.run(["docker", "run", "--rm", "--platform", "linux/arm64", reference, "-v"], capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert run.stdout.splitlines()[-1] == f"Version {version}"
    assert docker_client.images.get(reference).attrs["Architecture"] == "arm64"


def test_missing_child_pushes_nothing(monorepo_copy: Path, registry) -> None:
    push(["npm"], registry.host, "--platform", "linux/amd64", root=monorepo_copy)
    result = acnbuild("manifest", "--component", "npm", "--registry", registry.host, "--push", cwd=monorepo_copy)
    assert result.returncode == 2
    assert "linux-arm64-" in result.stderr and "is not in the registry" in result.stderr
    version = json.loads(acnbuild("plan", "--component", "npm", "--json", cwd=monorepo_copy).stdout)["actions"][0][
        "version"
    ]
    assert remote_digest(f"{registry.host}/azure-npm:{version}") is None


def runner(root: Path, registry: str, *args: str, env: dict[str, str] | None = None) -> None:
    """One CI runner: its own process, building, pushing and appending its platform to the list."""
    script = (
        "import sys; from acnbuild import sessions\n"
        "args = sys.argv[1:]\n"
        "sessions.image_push(args, 'cns')\n"
        "sessions.manifest(['--component', 'cns', '--append', '--push', *args])\n"
    )
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "build"), **(env or {})}
    result = subprocess.run([sys.executable, "-c", script, "--registry", registry, *args], cwd=root, env=full_env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


def test_two_runners_append_to_one_list(monorepo_copy: Path, registry, windows_overrides) -> None:
    require(shutil.which("buildah") is not None, "buildah")
    env = {"CNS_VERSION": "v1.9.0-runners"}  # a list of its own, not shared with other tests in this registry
    runner(monorepo_copy, registry.host, "--platform", "linux/amd64", "--builder", "docker", env=env)
    runner(monorepo_copy, registry.host, "--platform", "windows/amd64", "--builder", "buildah",
           *override_args(windows_overrides), env=env)  # fmt: skip
    ref = Reference.parse(f"{registry.host}/azure-cns:v1.9.0-runners")
    final = RegistryClient.for_reference(ref).get(ref)
    assert final is not None
    assert {(e["platform"]["os"], e["platform"]["architecture"]) for e in final.json["manifests"]} == {
        ("linux", "amd64"),
        ("windows", "amd64"),
    }
    for entry in final.json["manifests"]:
        tag = "-".join((entry["platform"]["os"], entry["platform"]["architecture"], "v1.9.0-runners"))
        assert entry["digest"] == remote_digest(f"{registry.host}/azure-cns:{tag}")


def test_authenticated_registry_never_shows_the_password(tmp_path: Path, monorepo_copy: Path) -> None:
    htpasswd_tool = shutil.which("htpasswd")
    require(htpasswd_tool is not None and shutil.which("docker-registry") is not None, "htpasswd (apache2-utils)")
    assert htpasswd_tool is not None
    password = "s3cret-Pa55-word-42"
    htpasswd = tmp_path / "htpasswd"
    subprocess.run([htpasswd_tool, "-Bbc", str(htpasswd), "ci-user", password], check=True, capture_output=True)
    secured = localregistry.start(tmp_path / "secured", htpasswd=htpasswd)
    try:
        env = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}
        denied = acnbuild("image-push", "azure-ipam", "--registry", secured.host, cwd=monorepo_copy, env=env)
        assert denied.returncode != 0
        login = subprocess.run(
            ["docker", "login", "--username", "ci-user", "--password-stdin", secured.host],
            input=password, capture_output=True, text=True, env={**os.environ, **env}, check=True,
        )  # fmt: skip
        assert password not in login.stdout + login.stderr
        pushed = acnbuild("image-push", "azure-ipam", "--registry", secured.host, cwd=monorepo_copy, env=env)
        assert pushed.returncode == 0, pushed.stderr
        listed = acnbuild("manifest", "--component", "azure-ipam", "--platform", "linux/amd64", "--push",
                          "--registry", secured.host, cwd=monorepo_copy, env=env)  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        captured = denied.stdout + denied.stderr + pushed.stdout + pushed.stderr + listed.stdout + listed.stderr
        state = monorepo_copy / ".acnbuild"
        written = "".join(p.read_text(errors="replace") for p in state.rglob("*") if p.is_file())
        assert password not in captured and password not in written
    finally:
        secured.stop()
