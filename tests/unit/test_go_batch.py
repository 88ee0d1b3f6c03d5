"""One ``go build`` over several packages gives the same bytes as one build per package."""

from __future__ import annotations

from pathlib import Path

from acnbuild import discover
from acnbuild.go import toolchain
from acnbuild.go.compile import GoBuild, batch_command, batchable, compile_batch, compile_binary
from acnbuild.model import GoBinary
from acnbuild.platforms import Platform


def test_batched_binaries_are_byte_identical_to_single_builds(monorepo_copy: Path, tmp_path: Path) -> None:
    repo = discover.load_repository(monorepo_copy)
    chain = toolchain.ensure(monorepo_copy)
    platform = Platform("windows", "amd64")
    builds = [
        GoBuild(repo.component("cns").binaries[0], platform, "v1.8.12"),
        GoBuild(repo.component("azure-ipam").binaries[0], platform, "v0.4.1"),  # other flags: its own version
    ]
    assert batchable(builds)
    single = {b.binary.name: tmp_path / "single" / b.batch_name for b in builds}
    for build in builds:
        compile_binary(chain, monorepo_copy, build, single[build.binary.name], tmp_path / "single.log")
    batched = [(b, tmp_path / "batch" / b.batch_name) for b in builds]
    compile_batch(chain, monorepo_copy, batched, tmp_path / "batch.log")
    for build, output in batched:
        assert output.read_bytes() == single[build.binary.name].read_bytes(), build.binary.name
    assert b"v0.4.1" in batched[1][1].read_bytes() and b"v0.4.1" not in batched[0][1].read_bytes()
    assert not list((tmp_path / "batch").glob(".batch-*"))  # the staging directory is gone


def test_packages_named_alike_are_not_batched() -> None:
    platform = Platform("linux", "amd64")
    a = GoBuild(GoBinary("a", "./x/cmd/tool"), platform, "v1")
    b = GoBuild(GoBinary("b", "./y/cmd/tool"), platform, "v1")
    assert not batchable([a, b])
    assert not batchable([GoBuild(GoBinary("c", "./z/v2"), platform, "v1")])
    command = batch_command(Path("/go"), [a], Path("/out"))
    assert "-ldflags=./x/cmd/tool=-s -w -buildid= -X=main.version=v1" not in command  # no version vars declared
    assert "-ldflags=./x/cmd/tool=-s -w -buildid=" in command and command[-1] == "./x/cmd/tool"
