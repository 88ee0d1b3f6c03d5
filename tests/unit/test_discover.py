from __future__ import annotations

from pathlib import Path

import pytest
from acnbuild import discover
from acnbuild.errors import UserError
from acnbuild.image import dockerfile
from acnbuild.platforms import Platform

from tests.conftest import REPO_ROOT

DIGEST = "sha256:" + "a" * 64


def test_the_repository_declares_five_components() -> None:
    repo = discover.load_repository(REPO_ROOT)
    assert sorted(repo.components) == ["azure-ipam", "cni", "cns", "ipv6-hp-bpf", "npm"]
    images = {c.name: c.image for c in repo.components.values()}
    assert images == {
        "azure-ipam": "azure-ipam",
        "cni": "azure-cni",
        "cns": "azure-cns",
        "ipv6-hp-bpf": "ipv6-hp-bpf",
        "npm": "azure-npm",
    }
    assert not repo.component("ipv6-hp-bpf").supports(Platform.parse("windows/amd64"))


def test_unknown_component_lists_known_ones() -> None:
    repo = discover.load_repository(REPO_ROOT)
    with pytest.raises(UserError) as info:
        repo.component("cnz")
    assert "cns" in str(info.value) and "azure-ipam" in str(info.value)


def test_unsupported_platform_lists_supported_ones() -> None:
    repo = discover.load_repository(REPO_ROOT)
    with pytest.raises(UserError) as info:
        repo.component("ipv6-hp-bpf").require_platform(Platform.parse("windows/amd64"))
    assert "linux/amd64" in str(info.value)


def write(monorepo: Path, text: str, component: str = "cns") -> Path:
    path = monorepo / "components" / component / "BUILD.yaml"
    path.write_text(text)
    return path


VALID = """\
image: azure-cns
version:
  rule: repo
binaries:
  - name: azure-cns
    package: ./cmd/azure-cns
    version_vars: [main.version]
platforms: [linux/amd64]
images:
  linux:
    dockerfile: linux.Dockerfile
    target: linux
    base: scratch
    smoke: {args: ["-v"], output: "Version {version}"}
"""


def load_error(monorepo: Path) -> str:
    with pytest.raises(UserError) as info:
        discover.load_repository(monorepo)
    return str(info.value)


def test_floating_base_is_refused_with_file_line_and_key(monorepo_copy: Path) -> None:
    write(monorepo_copy, VALID.replace("base: scratch", "base: mcr.microsoft.com/azurelinux/base/core:3.0"))
    message = load_error(monorepo_copy)
    assert "components/cns/BUILD.yaml:13: images.linux.base" in message
    assert "pinned by digest" in message


def test_digest_pinned_base_is_accepted(monorepo_copy: Path) -> None:
    write(monorepo_copy, VALID.replace("base: scratch", f"base: mcr.microsoft.com/x/base:3.0@{DIGEST}"))
    repo = discover.load_repository(monorepo_copy)
    assert repo.component("cns").images["linux"].base.endswith(DIGEST)


@pytest.mark.parametrize(
    ("mutation", "where"),
    [
        (("  rule: repo", "  rule: newest"), "BUILD.yaml:3: version.rule"),
        (("platforms: [linux/amd64]", "platforms: [linux/s390x]"), "BUILD.yaml:8: platforms.0"),
        (("image: azure-cns", "image: Azure_CNS!"), "BUILD.yaml:1: image"),
        (("    package: ./cmd/azure-cns", "    package: cmd/azure-cns"), "BUILD.yaml:6: binaries.0.package"),
        (("image: azure-cns\n", "image: azure-cns\nimgae: typo\n"), "BUILD.yaml:2: imgae: unknown key 'imgae'"),
    ],
)
def test_schema_errors_name_file_line_and_key(monorepo_copy: Path, mutation: tuple[str, str], where: str) -> None:
    write(monorepo_copy, VALID.replace(*mutation))
    message = load_error(monorepo_copy)
    assert "components/cns/" + where in message, message


def test_missing_required_key(monorepo_copy: Path) -> None:
    write(monorepo_copy, VALID.replace("image: azure-cns\n", ""))
    assert "'image' is a required property" in load_error(monorepo_copy)


def test_yaml_syntax_error_has_a_line(monorepo_copy: Path) -> None:
    write(monorepo_copy, VALID + "  - : [unclosed\n")
    assert "components/cns/BUILD.yaml:15: not valid YAML" in load_error(monorepo_copy)


def test_missing_dockerfile_and_package(monorepo_copy: Path) -> None:
    write(monorepo_copy, VALID.replace("linux.Dockerfile", "nope.Dockerfile"))
    assert "BUILD.yaml:11: images.linux.dockerfile: nope.Dockerfile does not exist" in load_error(monorepo_copy)
    write(monorepo_copy, VALID.replace("./cmd/azure-cns", "./cmd/missing"))
    assert "binaries[0].package: ./cmd/missing is not a directory" in load_error(monorepo_copy)


def test_platform_without_image_entry(monorepo_copy: Path) -> None:
    write(monorepo_copy, VALID.replace("[linux/amd64]", "[linux/amd64, windows/amd64]"))
    assert "windows/amd64 needs an `images.windows` entry" in load_error(monorepo_copy)


def test_duplicate_binary_names_across_components(monorepo_copy: Path) -> None:
    write(monorepo_copy, VALID.replace("package: ./cmd/azure-cns", "package: ./cmd/azure-npm"), "npm")
    message = load_error(monorepo_copy)
    assert (
        "components/npm/BUILD.yaml:5: binary name 'azure-cns' is already declared at components/cns/BUILD.yaml:"
        in message
    )


def test_floating_from_in_dockerfile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "linux.Dockerfile"
    path.write_text(f"FROM golang:1.26 AS build\nFROM x@{DIGEST} AS ok\nFROM build AS linux\n")
    with pytest.raises(UserError, match=r"linux\.Dockerfile:1: FROM golang:1\.26 is a floating reference"):
        dockerfile.check_pinned(path, "linux.Dockerfile")
    path.write_text("ARG BASE_IMAGE=scratch\nFROM ${BASE_IMAGE} AS linux\nFROM linux AS extra\n")
    dockerfile.check_pinned(path, "linux.Dockerfile")
    with pytest.raises(UserError, match="no stage named 'windows'"):
        dockerfile.require_target(path, "windows", "linux.Dockerfile")
