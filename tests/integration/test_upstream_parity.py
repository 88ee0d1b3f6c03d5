"""Every upstream variable and printing recipe of the issue, compared with upstream's Makefile on one tagged fixture.

The expected values are upstream's rules worked out by hand from its Makefile (Azure/azure-container-networking at
cbd7560; the README's "Upstream make targets and variables" table names each rule). They are computed here from
the fixture's history, never from our code. Set ``ACNBUILD_UPSTREAM_MAKEFILE`` to upstream's Makefile (with its
``cilium-log-collector/Makefile`` beside it) and ``make`` on PATH, and every row is also checked against what
``make`` itself prints (or, for build commands, shows with ``make -n``) on the same fixture. Go is not needed:
GOOS/GOARCH stand in for ``go env``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from acnbuild.__main__ import main
from acnbuild.settings import host_arch

from tests.conftest import copy_monorepo, git

pytestmark = pytest.mark.integration

# Variables that select what upstream builds; the test process's own values must not leak into a row.
UPSTREAM_VARIABLES = re.compile(
    r"^(PLATFORMS?|OS|ARCH|GOOS|GOARCH|IMAGE_REGISTRY|IMAGE_ARCHIVE_DIR|REVISION|DEBUG|VERSION|CONTAINER_BUILDER"
    r"|[A-Z0-9_]*_VERSION|[A-Z0-9_]*_PLATFORM_TAG|OS_SKU_WIN|BASE_IMAGE_OVERRIDES)$"
)
HOST = host_arch()
IMAGES = {"cns": "azure-cns", "cni": "azure-cni", "npm": "azure-npm", "azure-ipam": "azure-ipam",
          "ipv6-hp-bpf": "ipv6-hp-bpf"}  # fmt: skip
# Upstream's build directory (<C>_BUILD_DIR under output/$(GOOS)_$(GOARCH)/), binary and archive name prefix.
BUILD_DIRS = {
    "cns": "cns",
    "cni": "cni",
    "npm": "npm",
    "azure-ipam": "azure-ipam",
    "ipv6-hp-bpf": "bpf-prog/ipv6-hp-bpf",
}
BINARIES = {"cns": "azure-cns", "cni": "azure-vnet", "npm": "azure-npm", "azure-ipam": "azure-ipam",
            "ipv6-hp-bpf": "ipv6-hp-bpf"}  # fmt: skip
ARCHIVES = {"cns": "azure-cns", "cni": "azure-vnet-cni", "npm": "azure-npm", "azure-ipam": "azure-ipam",
            "ipv6-hp-bpf": "ipv6-hp-bpf"}  # fmt: skip
# Upstream's make targets for our sessions.
BINARY_TARGETS = {"cns": "azure-cns-binary", "cni": "azure-vnet-binary", "npm": "azure-npm-binary",
                  "azure-ipam": "azure-ipam-binary", "ipv6-hp-bpf": "ipv6-hp-bpf-binary"}  # fmt: skip


@dataclass(frozen=True)
class Fixture:
    root: Path
    acn: str  # ACN_VERSION: git describe excluding the prefixed families
    ipam: str  # AZURE_IPAM_VERSION: notdir of describe --match "azure-ipam*"
    bpf: str  # IPV6_HP_BPF_VERSION
    revision: str

    def version(self, component: str) -> str:
        return {"azure-ipam": self.ipam, "ipv6-hp-bpf": self.bpf}.get(component, self.acn)


@pytest.fixture(scope="module")
def fixture(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    """v1.8.12, azure-ipam/v0.4.1 and ipv6-hp-bpf/v0.0.3 two commits back; an excluded family (dropgz/) one back."""
    root = copy_monorepo(tmp_path_factory.mktemp("parity") / "mono")
    git(root, "commit", "-q", "--allow-empty", "-m", "second", date=1_700_000_100)
    git(root, "tag", "dropgz/v0.0.12")
    git(root, "commit", "-q", "--allow-empty", "-m", "third", date=1_700_000_200)
    short = git(root, "rev-parse", "--short", "HEAD")
    return Fixture(root, f"v1.8.12-2-g{short}", f"v0.4.1-2-g{short}", f"v0.0.3-2-g{short}", short)


# --- reading our answers and upstream's -----------------------------------------------------------


def printed(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"expected one line on stdout, got {result.stdout!r}"
    return lines[0]


def plan_value(kind: str, pick: Callable[[dict[str, Any]], str]) -> Callable[[subprocess.CompletedProcess[str]], str]:
    def read(result: subprocess.CompletedProcess[str]) -> str:
        rows = [row for row in json.loads(result.stdout)["actions"] if row["kind"] == kind]
        assert len(rows) == 1, rows
        return pick(rows[0])

    return read


def stderr_match(pattern: str) -> Callable[[subprocess.CompletedProcess[str]], str]:
    def read(result: subprocess.CompletedProcess[str]) -> str:
        found = re.findall(pattern, result.stderr)
        assert found, result.stderr
        return " ".join(found)

    return read


def make_printed(output: str, root: Path) -> str:
    return output.splitlines()[0]


def make_build_line(output: str) -> str:
    """The builder command ``make -n <c>-image`` shows (``buildah bud ...`` or ``docker buildx build ...``)."""
    lines = output.replace("\\\n", " ").splitlines()
    return next(line for line in lines if line.startswith(("buildah bud", "docker buildx build")))


def make_build_arg(name: str) -> Callable[[str, Path], str]:
    def read(output: str, root: Path) -> str:
        values = dict(re.findall(r"--build-arg (\w+)=(\S*)", make_build_line(output)))  # the last one wins
        return values[name]

    return read


def make_image_reference(output: str, root: Path) -> str:
    return re.findall(r"\s-t (\S+)", make_build_line(output))[-1]


def make_output_path(output: str, root: Path) -> str:
    """``go build ... -o <path>`` (a binary) or ``cd <dir> && tar|zip <name> ...`` (an archive), repo-relative."""
    if match := re.search(r"cd (\S+) && (?:tar -czvf|zip -9lq) (\S+)", output):
        path = Path(match.group(1)) / match.group(2)
    else:
        path = Path(re.findall(r" -o (\S+)", output)[-1])
    return path.relative_to(root.resolve()).as_posix()


def make_archive_path(output: str, root: Path) -> str:
    return re.findall(r"oci-archive:(\S+)", output)[0]


def make_list_children(output: str, root: Path) -> str:
    return " ".join(re.findall(r"docker://(\S+)", output))


@dataclass(frozen=True)
class Row:
    covers: str  # the upstream variable or recipe
    env: dict[str, str]
    ours: tuple[str, ...]  # python -m acnbuild arguments
    read: Callable[[subprocess.CompletedProcess[str]], str]
    expected: str  # upstream's rule, by hand
    make: tuple[str, ...]  # the upstream make invocation that shows the same value
    make_read: Callable[[str, Path], str] = make_printed
    dry_run: bool = field(default=False)  # make -n

    @property
    def id(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return f"{self.covers} [{env}]" if env else self.covers


def rows(f: Fixture) -> list[Row]:
    linux = {"GOOS": "linux", "GOARCH": "amd64"}
    reg = "acnpublic.azurecr.io"
    image = plan_value("image", lambda row: row["reference"])
    out: list[Row] = [
        Row("version", {}, ("version",), printed, f.acn, ("version",)),
        Row("ACN_VERSION -> version", {"ACN_VERSION": "v2.0.0-rc1"}, ("version",), printed, "v2.0.0-rc1",
            ("version",)),
        Row("revision", {}, ("revision",), printed, f.revision, ("revision",)),
        Row("REVISION -> revision", {"REVISION": "0123abc"}, ("revision",), printed, "0123abc", ("revision",)),
        Row("VERSION is no pin", {"VERSION": "v9.9.9"}, ("component-version", "cns"), printed, f.acn,
            ("cns-version",)),
        Row("VERSION is no pin (azure-ipam)", {"VERSION": "v9.9.9", **linux}, ("image-name-and-tag", "azure-ipam"),
            printed, f"{reg}/azure-ipam:linux-amd64-{f.ipam}", ("azure-ipam-image-name-and-tag",)),
        Row("IMAGE_REGISTRY", {"IMAGE_REGISTRY": "example.io/acn", **linux}, ("image-name-and-tag", "cns"), printed,
            f"example.io/acn/azure-cns:linux-amd64-{f.acn}", ("cns-image-name-and-tag",)),
    ]  # fmt: skip
    for c, name in IMAGES.items():
        version = f.version(c)
        variable = c.upper().replace("-", "_") + "_VERSION"
        tag_variable = "IPV6_HP_BPF_IMAGE_PLATFORM_TAG" if c == "ipv6-hp-bpf" else variable[:-8] + "_PLATFORM_TAG"
        out += [
            Row(f"{c}-version", {}, ("component-version", c), printed, version, (f"{c}-version",)),
            Row(f"{variable} -> {c}-version", {variable: "v3.1.4"}, ("component-version", c), printed, "v3.1.4",
                (f"{c}-version",)),
            Row(f"{c}-image-name", {}, ("image-name", c), printed, name, (f"{c}-image-name",)),
            Row(f"{c}-image-name-and-tag", linux, ("image-name-and-tag", c), printed,
                f"{reg}/{name}:linux-amd64-{version}", (f"{c}-image-name-and-tag",)),
            Row(f"{tag_variable}", {tag_variable: "ci-tag", **linux}, ("image-name-and-tag", c), printed,
                f"{reg}/{name}:ci-tag", (f"{c}-image-name-and-tag",)),
            Row(f"{c}-binary output", linux, ("binary", c, "--dry-run", "--json"),
                plan_value("go-binary", lambda row: row["output"]),
                f"output/linux_amd64/{BUILD_DIRS[c]}/{BINARIES[c]}", (BINARY_TARGETS[c],), make_output_path, True),
            Row(f"{c}-archive name", linux, ("binary-archive", c, "--dry-run", "--json"),
                plan_value("archive", lambda row: row["output"]),
                f"output/linux_amd64/{BUILD_DIRS[c]}/{ARCHIVES[c]}-linux-amd64-{version}.tgz", (f"{c}-archive",),
                make_output_path, True),
        ]  # fmt: skip
        if c in ("cns", "cni", "npm"):
            windows = {"GOOS": "windows", "GOARCH": "amd64"}
            out += [
                Row(f"ACN_VERSION -> {c}-version", {"ACN_VERSION": "v2.0.0"}, ("component-version", c), printed,
                    "v2.0.0", (f"{c}-version",)),
                Row(f"{variable} over ACN_VERSION", {"ACN_VERSION": "v2.0.0", variable: "v2.0.1"},
                    ("component-version", c), printed, "v2.0.1", (f"{c}-version",)),
                Row(f"{c}-binary output (windows)", windows, ("binary", c, "--dry-run", "--json"),
                    plan_value("go-binary", lambda row: row["output"]),
                    f"output/windows_amd64/{BUILD_DIRS[c]}/{BINARIES[c]}.exe", (BINARY_TARGETS[c],),
                    make_output_path, True),
                Row(f"{c}-archive name (windows)", windows, ("binary-archive", c, "--dry-run", "--json"),
                    plan_value("archive", lambda row: row["output"]),
                    f"output/windows_amd64/{BUILD_DIRS[c]}/{ARCHIVES[c]}-windows-amd64-{version}.zip",
                    (f"{c}-archive",), make_output_path, True),
            ]  # fmt: skip
        else:
            out.append(
                Row(f"ACN_VERSION does not version {c}", {"ACN_VERSION": "v2.0.0"}, ("component-version", c), printed,
                    version, (f"{c}-version",))
            )  # fmt: skip
    # PLATFORM > OS/ARCH > GOOS/GOARCH > host (go env), on npm-image-name-and-tag.
    for env, platform in (
        ({}, f"linux-{HOST}"),
        ({"GOOS": "windows", "GOARCH": "amd64"}, "windows-amd64"),
        ({"OS": "windows", "ARCH": "amd64"}, "windows-amd64"),
        ({"OS": "windows", "GOOS": "linux", "GOARCH": "amd64"}, "windows-amd64"),
        ({"ARCH": "arm64", "GOOS": "linux", "GOARCH": "amd64"}, "linux-arm64"),
        ({"PLATFORM": "linux/arm64", "OS": "windows", "ARCH": "amd64"}, "linux-arm64"),
    ):
        out.append(Row("PLATFORM/OS/ARCH/GOOS/GOARCH", env, ("image-name-and-tag", "npm"), printed,
                       f"{reg}/azure-npm:{platform}-{f.acn}", ("npm-image-name-and-tag",)))  # fmt: skip
    build = ("--builder", "buildah", "--dry-run", "--json")
    out += [
        Row("VERSION build arg = platform tag", linux, ("image", "cns", *build),
            plan_value("image", lambda row: row["build_args"]["VERSION"]), f"linux-amd64-{f.acn}", ("cns-image",),
            make_build_arg("VERSION"), True),
        Row("VERSION build arg = NPM_PLATFORM_TAG", {"NPM_PLATFORM_TAG": "cyclonus", **linux}, ("image", "npm", *build),
            plan_value("image", lambda row: row["build_args"]["VERSION"]), "cyclonus", ("npm-image",),
            make_build_arg("VERSION"), True),
        Row("OS/ARCH -> build args", {"OS": "windows", "ARCH": "amd64"}, ("image", "cns", *build),
            plan_value("image", lambda row: " ".join(row["build_args"][k] for k in ("OS", "ARCH", "PLATFORM"))),
            "windows amd64 windows/amd64", ("cns-image",),
            lambda o, r: " ".join(make_build_arg(k)(o, r) for k in ("OS", "ARCH", "PLATFORM")), True),
        Row("image reference", {"OS": "windows", "ARCH": "amd64"}, ("image", "cns", *build), image,
            f"{reg}/azure-cns:windows-amd64-{f.acn}", ("cns-image",),
            make_image_reference, True),
        Row("DEBUG unset", linux, ("image", "ipv6-hp-bpf", *build),
            plan_value("image", lambda row: row["build_args"]["DEBUG"]), "", ("ipv6-hp-bpf-image",),
            make_build_arg("DEBUG"), True),
        Row("DEBUG", {"DEBUG": "true", **linux}, ("image", "ipv6-hp-bpf", *build),
            plan_value("image", lambda row: row["build_args"]["DEBUG"]), "true", ("ipv6-hp-bpf-image",),
            make_build_arg("DEBUG"), True),
        Row("IMAGE_ARCHIVE_DIR", {"IMAGE_ARCHIVE_DIR": "/srv/acn-archives"}, ("manifest-archive", "cns", "--dry-run"),
            stderr_match(r"-> (\S+)"), f"/srv/acn-archives/azure-cns-{f.acn}.tar", ("cns-skopeo-archive",),
            make_archive_path, True),
        Row("PLATFORMS", {"PLATFORMS": "linux/amd64 linux/arm64 windows/amd64"},
            ("manifest-build", "cns", "--dry-run"), stderr_match(r"(?m)^\s+(\S+)$"),
            " ".join(f"{reg}/azure-cns:{p}-{f.acn}" for p in ("linux-amd64", "linux-arm64", "windows-amd64")),
            ("cns-manifest-build",), make_list_children, True),
    ]  # fmt: skip
    return out


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not UPSTREAM_VARIABLES.match(k)}
    return {**env, **extra}


def in_process(args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m acnbuild ARGS`` (what every nox session runs) in this process, with exactly ``env``: one
    interpreter start for the whole table instead of one per row."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:
                code = int(exit_.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def ours(f: Fixture, row: Row) -> str:
    result = in_process(row.ours, f.root, clean_env(row.env))
    assert result.returncode == 0, f"{row.id}: {result.stderr}"
    return row.read(result)


def test_every_variable_row_matches_upstreams_rule(fixture: Fixture) -> None:
    table = rows(fixture)
    answers = [ours(fixture, row) for row in table]
    mismatches = [f"{row.id}: ours {got!r}, upstream {row.expected!r}"
                  for row, got in zip(table, answers, strict=True) if got != row.expected]  # fmt: skip
    assert not mismatches, "\n".join(mismatches)


def upstream(checkout: Path, row: Row) -> str:
    env = clean_env({"GOOS": "linux", "GOARCH": HOST, **row.env, "PATH": "/usr/bin:/bin"})  # no go: GOOS stands in
    flags = ["-n"] if row.dry_run else ["-s"]
    command = ["make", "--no-print-directory", *flags, *row.make]
    result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{row.id}: {result.stderr}"
    return row.make_read(result.stdout, checkout)


def test_the_hand_worked_rules_are_what_upstreams_makefile_does(fixture: Fixture, tmp_path: Path) -> None:
    """Opt-in (upstream's Makefile is not ours to copy): ACNBUILD_UPSTREAM_MAKEFILE=/path/to/Makefile."""
    location = os.environ.get("ACNBUILD_UPSTREAM_MAKEFILE")
    if not location:
        pytest.skip("set ACNBUILD_UPSTREAM_MAKEFILE to upstream's Makefile to run it on the fixture")
    assert shutil.which("make"), "make is needed to run upstream's Makefile"
    makefile = Path(location).resolve()
    # A clone of the fixture (same commits and tags) with upstream's Makefile linked in, so its recursive
    # $(MAKE) calls find it.
    checkout = tmp_path / "upstream"
    git(tmp_path, "clone", "-q", str(fixture.root), str(checkout))
    (checkout / "GNUmakefile").symlink_to(makefile)
    (checkout / "cilium-log-collector").mkdir()
    (checkout / "cilium-log-collector" / "Makefile").symlink_to(makefile.parent / "cilium-log-collector" / "Makefile")
    mismatches = []
    for row in rows(fixture):
        got = upstream(checkout, row)
        if got != row.expected:
            mismatches.append(f"{row.id}: make {' '.join(row.make)} gives {got!r}, the table says {row.expected!r}")
    assert not mismatches, "\n".join(mismatches)
