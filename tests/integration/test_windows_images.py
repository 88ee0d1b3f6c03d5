"""Windows images built on Linux (buildah, podman): image config, layer contents and the .exe files in them."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pefile
import pytest
from acnbuild.image import ociarchive

from tests.conftest import REPO_ROOT
from tests.integration.conftest import acnbuild, build, image_outcomes, override_args, require
from tests.support.wine import prefix as wineprefix

pytestmark = pytest.mark.integration

WINDOWS = ["cns", "cni", "npm", "azure-ipam"]
# What upstream's Windows images look like (reference §6): entrypoint, cmd, and where the binaries sit.
EXPECTED: dict[str, dict[str, Any]] = {
    "cns": {"entrypoint": ["azure-cns.exe"], "cmd": None, "exes": {"azure-cns.exe": "cns/azure-cns.exe"}},
    "cni": {
        "entrypoint": ["powershell.exe"],
        "cmd": None,
        "exes": {
            "Windows/System32/azure-vnet.exe": "cni/azure-vnet.exe",
            "Windows/System32/azure-ipam.exe": "azure-ipam/azure-ipam.exe",
        },
        "files": ["Windows/System32/azure.conflist"],
    },
    "npm": {
        "entrypoint": None,
        "cmd": ["npm.exe", "start", "--kubeconfig=.\\kubeconfig"],
        "exes": {"npm.exe": "npm/azure-npm.exe"},
        "files": ["kubeconfigtemplate.yaml", "setkubeconfigpath.ps1"],
    },
    "azure-ipam": {"entrypoint": ["dropgz.exe"], "cmd": None, "exes": {"dropgz.exe": "dropgz-azure-ipam/dropgz.exe"}},
}
WINE = wineprefix.WINE


@pytest.fixture(scope="module", params=["buildah", "podman"])
def windows_build(request: pytest.FixtureRequest, windows_overrides: list[str]) -> dict:
    builder = request.param
    require(shutil.which(builder) is not None, builder)
    outcomes = build(WINDOWS, "--platform", "windows/amd64", "--builder", builder, *override_args(windows_overrides))
    return image_outcomes(outcomes)


def archive_of(outcome) -> ociarchive.OciImage:
    return ociarchive.read(REPO_ROOT / outcome.result["archive"])


@pytest.mark.parametrize("component", WINDOWS)
def test_windows_image_config_and_layers(windows_build: dict, component: str) -> None:
    outcome = windows_build[component]
    details = outcome.action.details
    assert details["reference"].endswith(f"/{outcome.action.details['reference'].split('/')[-1]}")
    assert ":windows-amd64-" in details["reference"]
    assert outcome.result["archive"] == f"output/images/{details['reference'].split('/')[-1].replace(':', '-')}.tar"
    image = archive_of(outcome)
    assert (image.os, image.architecture) == ("windows", "amd64")
    assert image.os_version == "10.0.20348.643"  # inherited from the ltsc2022 stand-in base
    expected = EXPECTED[component]
    assert image.entrypoint == expected["entrypoint"]
    if expected["cmd"] is not None:
        assert image.cmd == expected["cmd"]
    assert image.labels["org.opencontainers.image.version"] == details["version"]
    files = image.layer_files()
    for path, binary in expected["exes"].items():
        built = (REPO_ROOT / "output" / "windows_amd64" / binary).read_bytes()
        assert files[path] == built, f"{path} in the image differs from output/windows_amd64/{binary}"
    for path in expected.get("files", []):
        assert path in files


def windows_exes() -> Iterator[tuple[str, Path]]:
    seen = set()
    for component, expected in EXPECTED.items():
        for binary in expected["exes"].values():
            if binary not in seen:
                seen.add(binary)
                yield component, REPO_ROOT / "output" / "windows_amd64" / binary


@pytest.mark.parametrize(("component", "exe"), list(windows_exes()), ids=[c for c, _ in windows_exes()])
def test_exe_is_a_pe32plus_x64_console_binary_without_cgo(windows_build: dict, component: str, exe: Path) -> None:
    pe = pefile.PE(str(exe), fast_load=False)
    assert pe.FILE_HEADER.Machine == pefile.MACHINE_TYPE["IMAGE_FILE_MACHINE_AMD64"]
    assert pe.OPTIONAL_HEADER.Magic == 0x20B  # PE32+
    assert pe.OPTIONAL_HEADER.Subsystem == pefile.SUBSYSTEM_TYPE["IMAGE_SUBSYSTEM_WINDOWS_CUI"]
    dlls = {entry.dll.decode().lower() for entry in pe.DIRECTORY_ENTRY_IMPORT}
    assert dlls == {"kernel32.dll"}, f"cgo or extra imports: {dlls}"


def test_builders_agree_on_the_binaries(windows_build: dict) -> None:
    digests = {hashlib.sha256(exe.read_bytes()).hexdigest() for _, exe in windows_exes()}
    assert len(digests) == len(list(windows_exes()))


# --- wine ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    require(wineprefix.available(), "wine64 and binutils-mingw-w64-x86-64 (Debian packages)")
    return wineprefix.make_prefix(tmp_path_factory.mktemp("wine"))


def run_wine(env: dict[str, str], exe: Path, *args: str, extra: dict[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        [str(WINE), str(exe), *args], env={**env, **(extra or {})}, capture_output=True, text=True, timeout=120
    )
    return result.returncode, result.stdout.replace("\r\n", "\n")


# binary -> (component whose version it embeds, arguments, expected output)
VERSION_OUTPUT = {
    "cns/azure-cns.exe": ("cns", ["-v"], "Azure Container Network Service\nVersion {v}\n"),
    "cni/azure-vnet.exe": ("cni", ["-v"], "Azure CNI Version {v}\n"),
    "npm/azure-npm.exe": ("npm", ["-v"], "azure-npm {v}\n"),
    "azure-ipam/azure-ipam.exe": ("azure-ipam", [], "CNI azure-ipam plugin {v}\n"),
    "dropgz-azure-ipam/dropgz.exe": ("azure-ipam", ["version"], "dropgz {v}\n"),
}


@pytest.mark.parametrize("component", WINDOWS)
def test_exe_prints_its_version_under_wine(windows_build: dict, wine: dict[str, str], component: str) -> None:
    for binary in EXPECTED[component]["exes"].values():
        owner, args, expected = VERSION_OUTPUT[binary]
        version = windows_build[owner].action.details["version"]
        code, output = run_wine(wine, REPO_ROOT / "output" / "windows_amd64" / binary, *args)
        assert (code, output) == (0, expected.format(v=version))


def test_azure_ipam_exe_answers_cni_version_under_wine(windows_build: dict, wine: dict[str, str]) -> None:
    code, output = run_wine(
        wine, REPO_ROOT / "output/windows_amd64/azure-ipam/azure-ipam.exe", extra={"CNI_COMMAND": "VERSION"}
    )
    assert code == 0, output
    assert "1.0.0" in json.loads(output)["supportedVersions"]


def test_azure_cns_exe_serves_health_under_wine(windows_build: dict, wine: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = REPO_ROOT / "output/windows_amd64/cns/azure-cns.exe"
    args = ["-listen", f"127.0.0.1:{port}", "-ip-pool", "10.240.0.0/28", "-state-file", "state.json"]
    process = subprocess.Popen([str(WINE), str(exe), *args], env=wine, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/network/health", timeout=2) as response:
                    body = json.loads(response.read())
            except OSError:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                time.sleep(0.3)
        assert body is not None, "azure-cns.exe never answered under wine"
        assert body["version"] == windows_build["cns"].action.details["version"]
    finally:
        process.kill()
        process.wait()


# --- SKUs, reproducibility, refusals ---------------------------------------------------------------

SKU_BLOCK = """\
    skus:
      ltsc2019:
        os_version: 10.0.17763.3887
        base: mcr.microsoft.com/windows/servercore:ltsc2019@sha256:{a}
      ltsc2022:
        os_version: 10.0.20348.643
        base: mcr.microsoft.com/windows/servercore:ltsc2022  # pinned in requirements/base-images.lock
"""


def test_one_image_per_declared_sku_with_its_os_version(monorepo_copy: Path, registry) -> None:
    require(shutil.which("buildah") is not None, "buildah")
    from acnbuild import discover
    from acnbuild.references import Registry
    from acnbuild.registry import standin

    build_file = monorepo_copy / "components/cns/BUILD.yaml"
    text = build_file.read_text()
    marker = "    target: windows\n"
    build_file.write_text(text.replace(marker, marker + SKU_BLOCK.format(a="1" * 64)))
    overrides = standin.push_for_repository(discover.load_repository(monorepo_copy), Registry.parse(registry.host))
    assert len([o for o in overrides if "servercore:ltsc20" in o]) == 2
    outcomes = build(
        ["cns"], "--platform", "windows/amd64", "--builder", "buildah", *override_args(overrides), root=monorepo_copy
    )
    images = [o for o in outcomes if o.action.kind == "image"]
    by_sku = {o.action.details["sku"]: o for o in images}
    assert set(by_sku) == {"ltsc2019", "ltsc2022"}
    for sku, os_version in (("ltsc2019", "10.0.17763.3887"), ("ltsc2022", "10.0.20348.643")):
        details = by_sku[sku].action.details
        assert details["reference"].endswith(f":windows-amd64-{details['version']}-{sku}")
        image = ociarchive.read(monorepo_copy / by_sku[sku].result["archive"])
        assert (image.os, image.os_version) == ("windows", os_version)
    listed = acnbuild("image-name-and-tag", "cns", "--platform", "windows/amd64", "--sku", "ltsc2022",
                      cwd=monorepo_copy)  # fmt: skip
    assert listed.stdout.strip().endswith("-ltsc2022") and len(listed.stdout.splitlines()) == 1


def test_missing_base_is_a_clear_error(monorepo_copy: Path, registry) -> None:
    require(shutil.which("buildah") is not None, "buildah")
    absent = f"{registry.host}/nothing-here@sha256:{'3' * 64}"
    result = acnbuild(
        "image", "cns", "--platform", "windows/amd64", "--builder", "buildah",
        f"--base-override=mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image={absent}",
        cwd=monorepo_copy,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"base image {absent}" in result.stderr and "could not be pulled" in result.stderr
    assert "BASE_IMAGE_OVERRIDES" in result.stderr
    assert not list((monorepo_copy / "output").glob("images/*.tar"))


def test_docker_without_buildx_refuses_windows_up_front(docker_client) -> None:
    if subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False).returncode == 0:
        pytest.skip("this docker has buildx, which builds Windows images to OCI archives")
    before = {t for i in docker_client.images.list() for t in i.tags}
    result = acnbuild("image", "cns", "--platform", "windows/amd64", env={"CONTAINER_BUILDER": "docker"})
    assert result.returncode == 2
    assert "CONTAINER_BUILDER=buildah" in result.stderr and "install docker buildx" in result.stderr
    after = {t for i in docker_client.images.list() for t in i.tags}
    assert not {t for t in after - before if ":windows-" in t}
