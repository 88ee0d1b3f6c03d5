"""Upstream's binary recipes as sessions: `binaries` (all-binaries-platforms), `<c>-binary`, `binary-archives` and
`<c>-binary-archive` (upstream's <c>-archive), through the plan: real compiles, real archives, upstream's paths."""

from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import git
from tests.integration.conftest import acnbuild

pytestmark = pytest.mark.integration

# ELF e_machine by GOARCH; Windows binaries start with "MZ".
ELF_MACHINES = {"amd64": 0x3E, "arm64": 0xB7}
# Upstream's build directory, binary and archive name per component, and the platforms it archives
# (azure-ipam and ipv6-hp-bpf archives are Linux-only: `ifeq ($(GOOS),linux)`).
LINUX = ("linux/amd64", "linux/arm64")
ALL = (*LINUX, "windows/amd64")
UPSTREAM = {
    "cns": ("cns", "azure-cns", "azure-cns", ALL, ALL),
    "cni": ("cni", "azure-vnet", "azure-vnet-cni", ALL, ALL),
    "npm": ("npm", "azure-npm", "azure-npm", ALL, ALL),
    "azure-ipam": ("azure-ipam", "azure-ipam", "azure-ipam", ALL, LINUX),
    "ipv6-hp-bpf": ("bpf-prog/ipv6-hp-bpf", "ipv6-hp-bpf", "ipv6-hp-bpf", LINUX, LINUX),
}
ARCHIVE_ENTRIES = {
    "cns": ["azure-cns{exe}"],
    "cni": ["10-azure.conflist", "azure-vnet{exe}"],
    "npm": ["azure-npm{exe}"],
    "azure-ipam": ["azure-ipam"],
    "ipv6-hp-bpf": ["ipv6-hp-bpf"],
}


def run_json(root: Path, *args: str) -> list[dict]:
    result = acnbuild(*args, "--json", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    rows: list[dict] = json.loads(result.stdout)
    return rows


def versions(root: Path) -> dict[str, str]:
    short = git(root, "rev-parse", "--short", "HEAD")
    assert short  # the fixture's tags sit on HEAD: versions are the bare tags
    return {"azure-ipam": "v0.4.1", "ipv6-hp-bpf": "v0.0.3", "cns": "v1.8.12", "cni": "v1.8.12", "npm": "v1.8.12"}


def test_binaries_and_archives_for_every_declared_platform(monorepo_copy: Path, tmp_path: Path) -> None:
    version = versions(monorepo_copy)

    built = run_json(monorepo_copy, "binaries")
    expected = {
        f"output/{p.replace('/', '_')}/{directory}/{binary}{'.exe' if p.startswith('windows') else ''}"
        for directory, binary, _, platforms, _ in UPSTREAM.values()
        for p in platforms
    }
    assert {row["output"] for row in built if row["kind"] == "go-binary"} == expected
    for relative in expected:
        head = (monorepo_copy / relative).read_bytes()[:20]
        os_name, arch = Path(relative).parts[1].split("_")
        if os_name == "windows":
            assert head[:2] == b"MZ", relative
        else:
            assert head[:4] == b"\x7fELF" and head[18] == ELF_MACHINES[arch], relative

    archived = run_json(monorepo_copy, "binary-archives")
    archives = {row["output"]: row for row in archived if row["kind"] == "archive"}
    expected_archives = {
        f"output/{p.replace('/', '_')}/{directory}/{name}-{p.replace('/', '-')}-{version[c]}."
        + ("zip" if p.startswith("windows") else "tgz")
        for c, (directory, _, name, _, platforms) in UPSTREAM.items()
        for p in platforms
    }
    assert set(archives) == expected_archives and len(expected_archives) == 13
    assert {r["status"] for r in archived if r["kind"] == "go-binary"} == {"cached"}  # compiled once, above
    for relative, row in archives.items():
        path = monorepo_copy / relative
        exe = ".exe" if relative.endswith(".zip") else ""
        wanted = [e.format(exe=exe) for e in ARCHIVE_ENTRIES[row["component"]]]
        binary_dir = path.parent
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zipped:
                assert zipped.namelist() == wanted
                for name in wanted:
                    data = zipped.read(name)
                    source = (binary_dir / name).read_bytes() if name.endswith(".exe") else None
                    assert data == source if source is not None else b"\r\n" in data
        else:
            with tarfile.open(path) as tar:
                assert tar.getnames() == wanted
                for member in tar.getmembers():
                    assert (member.uid, member.gid, member.mtime) == (0, 0, 1_700_000_000)
                    handle = tar.extractfile(member)
                    assert handle is not None
                    if member.mode == 0o755:
                        assert handle.read() == (binary_dir / member.name).read_bytes()

    again = run_json(monorepo_copy, "binary-archives")
    assert {r["status"] for r in again} == {"cached"}

    # Another checkout of the same commit makes byte-identical archives.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(monorepo_copy), str(clone))
    for component, platform in (("cni", "windows/amd64"), ("cns", "linux/arm64")):
        (row,) = [r for r in run_json(clone, "binary-archive", component, "--platform", platform)
                  if r["kind"] == "archive"]  # fmt: skip
        assert (clone / row["output"]).read_bytes() == (monorepo_copy / row["output"]).read_bytes()


def test_an_archive_upstream_does_not_make_is_refused(monorepo_copy: Path) -> None:
    result = acnbuild("binary-archive", "azure-ipam", "--platform", "windows/amd64", cwd=monorepo_copy)
    assert result.returncode == 2
    assert "azure-ipam has no binary archive for windows/amd64 (it has: linux/amd64, linux/arm64)" in result.stderr
    assert not (monorepo_copy / "output").exists()
