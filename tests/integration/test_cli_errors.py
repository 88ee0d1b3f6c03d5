"""Errors for people: exit code 2, a message naming the problem and the fix, nothing built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import acnbuild

pytestmark = pytest.mark.integration


def test_no_engine_says_how_to_start_one() -> None:
    result = acnbuild("image", "cns", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 2, result.stderr
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in result.stderr
    assert "dockerd" in result.stderr and "CONTAINER_BUILDER=podman" in result.stderr


def test_unknown_component_lists_the_known_ones() -> None:
    result = acnbuild("image-name-and-tag", "cnz")
    assert result.returncode == 2
    assert "unknown component 'cnz'" in result.stderr and "azure-ipam" in result.stderr
    assert result.stdout == ""


def test_unsupported_platform_lists_supported_ones() -> None:
    result = acnbuild("image", "ipv6-hp-bpf", "--platform", "windows/amd64")
    assert result.returncode == 2
    assert "ipv6-hp-bpf does not support platform windows/amd64" in result.stderr
    assert "linux/amd64" in result.stderr


def test_unknown_platform_lists_known_ones() -> None:
    result = acnbuild("image-name-and-tag", "cns", "--platform", "linux/riscv64")
    assert result.returncode == 2 and "linux/arm64" in result.stderr


def test_invalid_build_yaml_names_file_line_and_key(monorepo_copy: Path) -> None:
    build_file = monorepo_copy / "components" / "npm" / "BUILD.yaml"
    build_file.write_text(build_file.read_text().replace("image: azure-npm", "image: 42"))
    result = acnbuild("image", "npm", cwd=monorepo_copy)
    assert result.returncode == 2
    assert "components/npm/BUILD.yaml:2: image: 42 is not of type 'string'" in result.stderr
    assert not (monorepo_copy / "output").exists()


def test_name_and_tag_prints_exactly_one_line() -> None:
    result = acnbuild("image-name-and-tag", "cns", env={"IMAGE_REGISTRY": "example.io", "PLATFORM": "linux/arm64"})
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("example.io/azure-cns:linux-arm64-")


def test_images_for_windows_leave_out_linux_only_components() -> None:
    result = acnbuild("images", "--platform", "windows/amd64", "--builder", "buildah", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    assert "ipv6-hp-bpf does not ship windows/amd64; left out" in result.stderr
    images = [a for a in json.loads(result.stdout)["actions"] if a["kind"] == "image"]
    assert sorted(a["component"] for a in images) == ["azure-ipam", "cni", "cns", "npm"]
    assert all(":windows-amd64-" in a["reference"] for a in images)
