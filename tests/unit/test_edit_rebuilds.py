"""An edit to any kind of input changes the fingerprints of exactly the actions that depend on it.

The no-op path keeps answers it can trust (``go list`` by the state of the directories it named, BUILD.yaml data by
content digest); these tests warm those caches first, then edit one input and plan again, so a cache that served a
stale answer would show up as an action that did not change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from acnbuild import discover
from acnbuild.engine.plan import Plan, PlanBuilder
from acnbuild.go import toolchain
from acnbuild.go.actions import GoPlanner
from acnbuild.go.compile import RACY_MARGIN_NS
from acnbuild.image.bases import BaseOverrides
from acnbuild.image.builders import Builder
from acnbuild.image.planner import ImagePlanner
from acnbuild.paths import Layout
from acnbuild.platforms import Platform
from acnbuild.references import Registry
from acnbuild.targets import image_targets

from tests.unit.test_plan import RecordingBuilder

LINUX = Platform("linux", "amd64")
WINDOWS = Platform("windows", "amd64")
COMPONENTS = ["cns", "cni", "npm", "azure-ipam"]
HPC = "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image"
STANDIN = "127.0.0.1:5000/standin/hpc@sha256:" + "a" * 64


def make_plan(root: Path, platform: Platform = LINUX, overrides: BaseOverrides | None = None) -> Plan:
    repo = discover.load_repository(root)
    graph = PlanBuilder()
    builder: Builder = RecordingBuilder()
    chain = toolchain.locate(root) or toolchain.ensure(root)
    images = ImagePlanner(GoPlanner(repo, chain, graph), builder, "recording", overrides or BaseOverrides(), graph)
    for name in COMPONENTS:
        for target in image_targets(repo, repo.component(name), platform, Registry.parse("r.io")):
            images.add(target)
    return graph.plan()


def fingerprints(plan: Plan) -> dict[str, str | None]:
    return {a.id.removesuffix(":recording"): a.fingerprint for a in plan.actions}


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


@dataclass(frozen=True)
class Edit:
    change: Callable[[Path, pytest.MonkeyPatch], None]
    changed: set[str]  # action ids (without the builder) whose fingerprints must change; all others must not
    platform: Platform = LINUX
    prepare: Callable[[Path], None] | None = None  # before the caches are warmed


def go_source(root: Path, _: pytest.MonkeyPatch) -> None:
    append(root / "components/cns/cmd/azure-cns/main.go", "\nfunc unused() {}\n")


def local_package(root: Path, _: pytest.MonkeyPatch) -> None:
    package = root / "components/cns/internal/ipam"
    append(sorted(package.glob("*.go"))[0], "\nfunc unusedHelper() {}\n")


def shared_package(root: Path, _: pytest.MonkeyPatch) -> None:
    append(sorted((root / "components/internal/atomicfile").glob("*.go"))[0], "\nfunc unusedShared() {}\n")


def new_file_in_package(root: Path, _: pytest.MonkeyPatch) -> None:
    (root / "components/cns/internal/ipam/extra.go").write_text("package ipam\n\nfunc extra() int { return 1 }\n")


def go_mod(root: Path, _: pytest.MonkeyPatch) -> None:
    append(root / "go.mod", "\n// a comment is an edit\n")


def dockerfile(root: Path, _: pytest.MonkeyPatch) -> None:
    append(root / "components/cns/linux.Dockerfile", "LABEL extra=1\n")


def files_entry(root: Path, _: pytest.MonkeyPatch) -> None:
    append(root / "components/npm/examples/windows/kubeconfigtemplate.yaml", "\n# edited\n")


def build_yaml(root: Path, _: pytest.MonkeyPatch) -> None:
    append(root / "components/cns/BUILD.yaml", 'build_args:\n  EXTRA: "1"\n')


def environment_build_arg(_: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNS_VERSION", "v9.9.9")


def toolchain_lock(root: Path, _: pytest.MonkeyPatch) -> None:
    append(root / "requirements/go-toolchain.txt", "\n# rebuilt wheels\n")


def dropgz_source(root: Path, _: pytest.MonkeyPatch) -> None:
    append(root / "tools/dropgz/main.go", "\nfunc unusedInstaller() {}\n")


def installer_payload_file(root: Path, _: pytest.MonkeyPatch) -> None:
    conflist = root / "components/azure-ipam/conflist/azilium.conflist"
    data = json.loads(conflist.read_text())
    data["name"] = data.get("name", "") + "-edited"
    conflist.write_text(json.dumps(data, indent=2) + "\n")


def add_embed(root: Path) -> None:
    directory = root / "components/cns/cmd/azure-cns"
    (directory / "banner.txt").write_text("azure-cns\n")
    (directory / "banner.go").write_text(
        'package main\n\nimport _ "embed"\n\n//go:embed banner.txt\nvar banner string\n'
    )


def embedded_file(root: Path, _: pytest.MonkeyPatch) -> None:
    append(root / "components/cns/cmd/azure-cns/banner.txt", "edited\n")


def add_embedded_directory(root: Path) -> None:
    directory = root / "components/cns/cmd/azure-cns"
    (directory / "static").mkdir()
    (directory / "static/a.txt").write_text("a\n")
    (directory / "static.go").write_text('package main\n\nimport "embed"\n\n//go:embed static\nvar static embed.FS\n')


def new_embedded_file(root: Path, _: pytest.MonkeyPatch) -> None:
    (root / "components/cns/cmd/azure-cns/static/b.txt").write_text("b\n")


ALL_LINUX = {
    "go:azure-cns:linux/amd64", "image:cns:linux/amd64", "go:azure-vnet:linux/amd64", "go:azure-ipam:linux/amd64",
    "dropgz:cni:linux/amd64", "image:cni:linux/amd64", "go:azure-npm:linux/amd64", "image:npm:linux/amd64",
    "dropgz:azure-ipam:linux/amd64", "image:azure-ipam:linux/amd64",
}  # fmt: skip
CNS = {"go:azure-cns:linux/amd64", "image:cns:linux/amd64"}
DROPGZ = {
    "dropgz:cni:linux/amd64",
    "image:cni:linux/amd64",
    "dropgz:azure-ipam:linux/amd64",
    "image:azure-ipam:linux/amd64",
}

EDITS = {
    "go source of the package": Edit(go_source, CNS),
    "go source of a local imported package": Edit(local_package, CNS),
    "a new file in an imported package": Edit(new_file_in_package, CNS),
    "a package shared by two components": Edit(
        shared_package,
        CNS | {"go:azure-vnet:linux/amd64", "dropgz:cni:linux/amd64", "image:cni:linux/amd64"},
    ),
    "go.mod": Edit(go_mod, ALL_LINUX),
    "Dockerfile": Edit(dockerfile, {"image:cns:linux/amd64"}),
    "a files: entry": Edit(files_entry, {"image:npm:linux/amd64"}),
    "BUILD.yaml": Edit(build_yaml, {"image:cns:linux/amd64"}),
    "an environment build arg (CNS_VERSION)": Edit(environment_build_arg, CNS),
    "a base override": Edit(
        lambda root, mp: None,  # the override itself is the edit: see test_edit_rebuilds_its_dependents
        {"image:cns:windows/amd64", "image:cni:windows/amd64", "image:azure-ipam:windows/amd64"},
        platform=WINDOWS,
    ),
    "the toolchain lock": Edit(toolchain_lock, ALL_LINUX),
    "dropgz sources": Edit(dropgz_source, DROPGZ),
    "an installer payload file": Edit(
        installer_payload_file, {"dropgz:azure-ipam:linux/amd64", "image:azure-ipam:linux/amd64"}
    ),
    "a //go:embed-ded file": Edit(embedded_file, CNS, prepare=add_embed),
    "a new file in a //go:embed-ded directory": Edit(new_embedded_file, CNS, prepare=add_embedded_directory),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_edit_rebuilds_its_dependents(name: str, monorepo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edit = EDITS[name]
    monkeypatch.delenv("CNS_VERSION", raising=False)
    monkeypatch.delenv("VERSION", raising=False)
    if edit.prepare:
        edit.prepare(monorepo_copy)
    time.sleep(RACY_MARGIN_NS / 1e9 * 2)  # go list answers about files changed just now are not kept
    before = fingerprints(make_plan(monorepo_copy, edit.platform))
    assert before == fingerprints(make_plan(monorepo_copy, edit.platform))  # from the warm caches: same answer
    golist = json.loads((Layout(monorepo_copy).caches / "golist.json").read_text())
    assert len(golist) >= 4, "the go list answers were not kept: the cached path is not under test"

    edit.change(monorepo_copy, monkeypatch)
    overrides = BaseOverrides.parse([f"{HPC}={STANDIN}"], "test") if name == "a base override" else None
    after = fingerprints(make_plan(monorepo_copy, edit.platform, overrides))
    assert all(after.values())
    changed = {action for action in before if before[action] != after[action]}
    assert changed == edit.changed
