"""COPY-only Dockerfiles with pinned references; where binaries land (for the SBOM); files kept in their component."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from acnbuild import contained
from acnbuild.errors import UserError
from acnbuild.image.dockerfile import Dockerfile
from acnbuild.image.provenance import binary_locations

from tests.conftest import REPO_ROOT

PIN = "@sha256:" + "a" * 64


def problems(text: str) -> list[str]:
    return Dockerfile(Path("x.Dockerfile"), "x.Dockerfile", text).problems()


def test_stages_indexes_pins_and_the_base_argument_are_allowed() -> None:
    text = (
        "# escape=`\nARG BASE_IMAGE\nFROM ${BASE_IMAGE} AS build\nFROM scratch AS linux\n"
        f"COPY --from=build /a /a\nCOPY --from=0 /b /b\nCOPY --from=x{PIN} /c `\n  /c\nFROM x{PIN}\n"
    )
    assert problems(text) == []


def test_each_problem_names_its_line() -> None:
    text = (
        "FROM scratch AS linux\n"
        "COPY --from=busybox:latest \\\n  /bin/sh /sh\n"  # lines 2-3
        "RUN --mount=type=cache,target=/c --mount=from=alpine,target=/x \\\n  true\n"  # lines 4-5
        "ADD bin/x /x\n"  # line 6
        "FROM golang:1.26 AS later\n"  # line 7
        "COPY --from=5 /a /a\n"  # line 8: no such stage index
    )
    floating = "is a floating reference (it would be pulled as it is at build time)"
    assert problems(text) == [
        f"x.Dockerfile:2: COPY --from=busybox:latest {floating}",
        f"x.Dockerfile:4: RUN --mount=from=alpine {floating}",
        "x.Dockerfile:4: RUN is not allowed: images are COPY-only (the binaries are compiled before the image build, "
        "and a RUN step cannot build a Windows image on Linux)",
        "x.Dockerfile:6: ADD is not allowed (it can fetch URLs and unpack archives): use COPY",
        f"x.Dockerfile:7: FROM golang:1.26 {floating}",
        f"x.Dockerfile:8: COPY --from=5 {floating}",
    ]


def test_a_missing_target_stage_is_cited_at_the_build_file() -> None:
    with pytest.raises(
        UserError, match=r"BUILD\.yaml:9: images\.linux\.target: x\.Dockerfile has no stage named 'linux'"
    ):
        Dockerfile(Path("x"), "x.Dockerfile", "FROM scratch AS other\n").check(
            "linux", "BUILD.yaml:9: images.linux.target"
        )


def test_a_dockerfile_that_is_not_utf8_is_named() -> None:
    with pytest.raises(UserError, match=r"x.Dockerfile:2: not UTF-8 text \(byte 0xff\)"):
        Dockerfile.read(Path("x"), "x.Dockerfile", b"FROM scratch\nLABEL a=\xff\n")


@pytest.mark.parametrize(
    ("component", "os_name", "staged", "expected"),
    [
        ("cns", "linux", ["azure-cns"], {"azure-cns": "/usr/local/bin/azure-cns"}),
        ("cni", "linux", ["azure-vnet", "azure-ipam", "dropgz"], {"dropgz": "/dropgz"}),
        ("cni", "windows", ["azure-vnet.exe", "azure-ipam.exe", "dropgz.exe"],
         {"azure-vnet.exe": "/Windows/System32/azure-vnet.exe", "azure-ipam.exe": "/Windows/System32/azure-ipam.exe"}),
        ("npm", "windows", ["azure-npm.exe"], {"azure-npm.exe": "/npm.exe"}),
    ],
)  # fmt: skip
def test_where_the_target_stage_copies_each_binary(component: str, os_name: str, staged: list[str], expected) -> None:
    path = REPO_ROOT / "components" / component / f"{os_name}.Dockerfile"
    assert binary_locations(Dockerfile.read(path, path.name), os_name, staged) == expected


def test_links_inside_the_component_are_followed_links_out_are_not(tmp_path: Path) -> None:
    component = tmp_path / "cns"
    (component / "conf").mkdir(parents=True)
    (component / "conf" / "a.json").write_text("{}")
    os.symlink("conf/a.json", component / "inside")
    os.symlink("/etc/passwd", component / "leak")
    os.symlink("missing", component / "dangling")
    assert contained.read_bytes(component, "inside") == b"{}"
    with pytest.raises(
        contained.NotContained, match=r"leak is a symbolic link that leads outside cns/ \(to /etc/passwd\)"
    ):
        contained.resolve(component, "leak")
    with pytest.raises(contained.NotContained, match="does not exist"):
        contained.resolve(component, "dangling")
    target = tmp_path / "copy"
    contained.copy(component, "conf/a.json", target)
    assert target.read_text() == "{}"
