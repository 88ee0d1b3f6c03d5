"""The README's runner pattern across all components, against a real registry: each runner pushes its platform's
images, then runs `nox -s manifest -- --platform <theirs> --append --push`. A Linux runner and a Windows runner,
in either order, leave every component a list holding both runners' entries; ipv6-hp-bpf (Linux-only) is left out
of the Windows runner's lists with a note instead of failing it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from acnbuild.references import Reference
from acnbuild.registry.client import RegistryClient

from tests.conftest import REPO_ROOT, git
from tests.integration.conftest import acnbuild, override_args, require

pytestmark = pytest.mark.integration

WINDOWS_COMPONENTS = ["azure-ipam", "cni", "cns", "npm"]
LINUX_COMPONENTS = [*WINDOWS_COMPONENTS, "ipv6-hp-bpf"]
IMAGES = {"azure-ipam": "azure-ipam", "cni": "azure-cni", "cns": "azure-cns", "npm": "azure-npm",
          "ipv6-hp-bpf": "ipv6-hp-bpf"}  # fmt: skip
VERSIONS = {"azure-ipam": "v0.4.1", "ipv6-hp-bpf": "v0.0.3", "cni": "v1.8.12", "cns": "v1.8.12", "npm": "v1.8.12"}
STANDIN_OS_VERSION = "10.0.20348.643"  # what the stand-in Windows base (ltsc2022) carries

RUNNER = """\
import sys
from acnbuild import sessions
components, args = sys.argv[1].split(","), sys.argv[2:]
for component in components:
    sessions.image_push(args, component)
"""


def push_platform(checkout: Path, components: list[str], *args: str) -> None:
    """One runner's image pushes: `nox -s <c>-image-push -- ARGS` for each of its components, in its own process."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "build")}
    result = subprocess.run([sys.executable, "-c", RUNNER, ",".join(components), *args], cwd=checkout, env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


def manifest(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`nox -s manifest -- ARGS`, exactly as a runner calls it."""
    return acnbuild("manifest", *args, cwd=checkout)


def digest_of(reference: str) -> str | None:
    ref = Reference.parse(reference)
    found = RegistryClient.for_reference(ref).get(ref)
    return found.digest if found else None


def entries(registry: str, component: str) -> dict[tuple[str, str], dict]:
    ref = Reference.parse(f"{registry}/{IMAGES[component]}:{VERSIONS[component]}")
    found = RegistryClient.for_reference(ref).get(ref)
    assert found is not None, f"no list {ref}"
    return {(e["platform"]["os"], e["platform"]["architecture"]): e for e in found.json["manifests"]}


def assert_lists_hold_both_runners(registry: str) -> None:
    for component in LINUX_COMPONENTS:
        listed = entries(registry, component)
        wanted = {("linux", "amd64")} | ({("windows", "amd64")} if component in WINDOWS_COMPONENTS else set())
        assert set(listed) == wanted, component
        for (os_name, arch), entry in listed.items():
            child = f"{registry}/{IMAGES[component]}:{os_name}-{arch}-{VERSIONS[component]}"
            assert entry["digest"] == digest_of(child), child
            assert entry["platform"].get("os.version") == (STANDIN_OS_VERSION if os_name == "windows" else None)


@pytest.fixture
def runners(monorepo_copy: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A Linux runner's and a Windows runner's checkouts of the same commit, each with its own build state."""
    checkouts = []
    for name in ("linux-runner", "windows-runner"):
        git(tmp_path, "clone", "-q", str(monorepo_copy), str(tmp_path / name))
        checkouts.append(tmp_path / name)
    return checkouts[0], checkouts[1]


def test_runner_pair_appends_in_both_orders(runners: tuple[Path, Path], registry, windows_overrides) -> None:
    require(shutil.which("buildah") is not None, "buildah")
    linux, windows = runners
    windows_args = ["--platform", "windows/amd64", "--builder", "buildah", *override_args(windows_overrides)]

    def linux_runner(ns: str) -> None:
        push_platform(linux, LINUX_COMPONENTS, "--registry", ns, "--platform", "linux/amd64")
        result = manifest(linux, "--registry", ns, "--platform", "linux/amd64", "--append", "--push")
        assert result.returncode == 0, result.stderr

    def windows_runner(ns: str) -> None:
        push_platform(windows, WINDOWS_COMPONENTS, "--registry", ns, *windows_args)
        # The headline command: every component's list for windows/amd64, the Linux-only one left out.
        built = manifest(windows, "--registry", ns, "--platform", "windows/amd64", "--json")
        assert built.returncode == 0, built.stderr
        assert "note: ipv6-hp-bpf does not ship windows/amd64; left out" in built.stderr
        lists = json.loads(built.stdout)
        assert sorted(lists) == WINDOWS_COMPONENTS
        for result in lists.values():
            (entry,) = result["entries"]
            assert entry["platform"] == {"architecture": "amd64", "os": "windows", "os.version": STANDIN_OS_VERSION}
            assert (windows / result["file"]).is_file() and not result["pushed"]
        pushed = manifest(windows, "--registry", ns, "--platform", "windows/amd64", "--append", "--push")
        assert pushed.returncode == 0, pushed.stderr

    linux_first = f"{registry.host}/pair-linux-first"
    linux_runner(linux_first)
    windows_runner(linux_first)
    assert_lists_hold_both_runners(linux_first)

    windows_first = f"{registry.host}/pair-windows-first"
    windows_runner(windows_first)
    assert {c: set(entries(windows_first, c)) for c in WINDOWS_COMPONENTS} == {
        c: {("windows", "amd64")} for c in WINDOWS_COMPONENTS
    }
    linux_runner(windows_first)
    assert_lists_hold_both_runners(windows_first)


def test_named_component_without_the_platform_is_an_error(monorepo_copy: Path) -> None:
    for args in (["manifest", "--platform", "windows/amd64", "--component", "ipv6-hp-bpf"],
                 ["manifest-build", "ipv6-hp-bpf", "--platform", "windows/amd64"]):  # fmt: skip
        result = acnbuild(*args, "--registry", "127.0.0.1:9", cwd=monorepo_copy)
        assert result.returncode == 2, result.stderr
        assert "ipv6-hp-bpf does not support platform windows/amd64" in result.stderr
