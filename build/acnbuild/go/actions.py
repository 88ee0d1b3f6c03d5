"""The Go actions of a plan: one compile per (binary, platform), one dropgz installer per (component, platform)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import contained, naming
from ..engine.fingerprint import combine_known, file_digest, files_digest
from ..engine.plan import Action, Check, Freshness, PlanBuilder, Result
from ..model import ActionKind, Component, GoBinary, Repository
from ..paths import Layout
from ..platforms import Platform
from ..targets import BinaryTarget
from ..versioning import component_version, revision
from . import archive, installer
from .compile import BUILD_FLAGS, CLOCK_SLACK_NS, GoBuild, check_unchanged, compile_binary, fingerprint, source_files
from .toolchain import GoToolchain

RESOURCE = "go"  # Go already uses every core: one compiler at a time


@dataclass(frozen=True)
class FileStep:
    """An action whose product is one file: recorded by its sha256, current while the file still matches."""

    layout: Layout
    output: Path
    produce: Callable[[Path], None]

    def run(self, log: Path) -> Result:
        self.layout.make_room(self.output.parent)
        self.produce(log)
        size = self.output.stat().st_size
        return {"path": self.layout.relative(self.output), "sha256": file_digest(self.output), "size": size}

    def check(self, result: Result, *, offline: bool) -> Check:
        if not self.output.is_file():
            return Check(Freshness.STALE, "output missing")
        if file_digest(self.output) != result.get("sha256"):
            return Check(Freshness.STALE, "output changed since it was built")
        return Check(Freshness.CURRENT, "unchanged")


class GoPlanner:
    """Adds compile, installer and archive actions to a plan; every image and archive of a platform shares them."""

    def __init__(self, repo: Repository, toolchain: GoToolchain | None, graph: PlanBuilder) -> None:
        self.repo = repo
        self.root = repo.root
        self.layout = Layout(repo.root)
        self.toolchain = toolchain
        self.graph = graph

    def _toolchain(self) -> GoToolchain:
        if self.toolchain is None:
            raise AssertionError("a plan made without the toolchain cannot be run")
        return self.toolchain

    def output(self, binary: GoBinary, platform: Platform) -> Path:
        """Where ``binary`` is compiled to: upstream's ``output/<os>_<arch>/<build dir>/<name>[.exe]``."""
        return self.layout.binary(binary.name, platform, directory=binary.directory)

    def binary(self, binary: GoBinary, platform: Platform, version: str) -> Action:
        action_id = f"go:{binary.name}:{platform}"
        if (known := self.graph.get(action_id)) is not None:
            return known
        build = GoBuild(binary=binary, platform=platform, version=version)
        output = self.output(binary, platform)
        planned = fingerprint(self.toolchain, self.root, build)

        def produce(log: Path) -> None:
            chain = self._toolchain()
            since = time.time_ns() - CLOCK_SLACK_NS

            def verify() -> None:  # the binary must come from the sources the plan fingerprinted
                check_unchanged(self.root, source_files(chain, self.root, build), since, planned,
                                fingerprint(chain, self.root, build), f"{binary.name} for {platform}", log)  # fmt: skip

            compile_binary(chain, self.root, build, output, log, verify=verify)

        return self.graph.add(
            Action(
                id=action_id,
                kind=ActionKind.GO_BINARY,
                summary=f"compile {binary.name}{platform.exe_suffix} for {platform} ({version})",
                fingerprint=planned,
                resource=RESOURCE,
                step=FileStep(self.layout, output, produce),
                details={
                    "binary": binary.name,
                    "platform": str(platform),
                    "version": version,
                    "output": self.layout.relative(output),
                },
            )
        )

    def installer(self, component: Component, platform: Platform, version: str) -> list[Action]:
        """The payload binaries' actions and the installer's own, in dependency order."""
        assert component.installer is not None
        payload_actions = []
        payload = {}
        for name in component.installer.binaries:
            owner, binary = self.repo.binary(name)
            payload_actions.append(self.binary(binary, platform, component_version(owner, self.root)))
            payload[binary.file_name(platform)] = self.output(binary, platform)
        action_id = f"dropgz:{component.name}:{platform}"
        if (known := self.graph.get(action_id)) is not None:
            return [*payload_actions, known]
        output = self.layout.installer(component.name, platform)
        component_files = {Path(f).name: f for f in component.installer.files}
        files = {name: component.directory / relative for name, relative in component_files.items()}
        stage_dir = self.layout.installer_stages / component.name / platform.tag_prefix
        toolchain_version = self.toolchain.version if self.toolchain else None

        def current() -> str | None:
            parts = {
                "kind": "dropgz",
                "toolchain": toolchain_version,
                "source": files_digest(self.root, installer.source_files(self.root)),
                "payload_binaries": {a.id: a.fingerprint for a in payload_actions},
                "payload_files": files_digest(component.directory, files.values()),
                "platform": str(platform),
                "version": version,
                "flags": BUILD_FLAGS,
            }
            return combine_known(parts, [toolchain_version, *(a.fingerprint for a in payload_actions)])

        fingerprint_ = current()

        def produce(log: Path) -> None:
            since = time.time_ns() - CLOCK_SLACK_NS
            contents = {name: contained.read_bytes(component.directory, relative)
                        for name, relative in component_files.items()}  # fmt: skip
            installer.stage(self.root, stage_dir, {**payload, **contents})
            watched = [*installer.source_files(self.root), *files.values()]
            what = f"dropgz for {component.name} on {platform}"

            def verify() -> None:
                check_unchanged(self.root, watched, since, fingerprint_, current(), what, log)

            installer.compile_installer(self._toolchain(), stage_dir, platform, version, output, log, verify)

        action = self.graph.add(
            Action(
                id=action_id,
                kind=ActionKind.INSTALLER,
                summary=f"pack dropgz{platform.exe_suffix} for {component.name} on {platform} "
                f"({', '.join([*payload, *files])})",
                fingerprint=fingerprint_,
                resource=RESOURCE,
                step=FileStep(self.layout, output, produce),
                deps=tuple(a.id for a in payload_actions),
                details={
                    "component": component.name,
                    "platform": str(platform),
                    "output": self.layout.relative(output),
                },
            )
        )
        return [*payload_actions, action]

    def archive(self, target: BinaryTarget) -> list[Action]:
        """The component's compile actions and its archive's (upstream's ``<c>-archive``), in dependency order."""
        component, platform = target.component, target.platform
        spec = component.archive
        assert spec is not None and component.archives(platform)
        compiles = [self.binary(b, platform, target.version) for b in component.binaries]
        action_id = f"archive:{target.key}"
        if (known := self.graph.get(action_id)) is not None:
            return [*compiles, known]
        entries = [archive.Entry(b.file_name(platform), self.output(b, platform), executable=True)
                   for b in component.binaries]  # fmt: skip
        entries += [archive.Entry(name, component.directory / path, executable=False) for name, path in spec.files]
        file_name = naming.archive_file_name(spec.name, platform, target.version)
        output = self.layout.platform_dir(platform) / component.output_dir / file_name
        mtime = revision(self.root).source_date_epoch

        def produce(log: Path) -> None:
            archive.write(output, entries, mtime)

        parts = {
            "kind": "archive",
            "file": file_name,
            "binaries": {
                b.file_name(platform): a.fingerprint for b, a in zip(component.binaries, compiles, strict=True)
            },
            "files": {name: file_digest(component.directory / path) for name, path in spec.files},
            "mtime": mtime,
        }
        return [
            *compiles,
            self.graph.add(
                Action(
                    id=action_id,
                    kind=ActionKind.ARCHIVE,
                    summary=f"archive {', '.join(e.name for e in entries)} as {file_name}",
                    fingerprint=combine_known(parts, [a.fingerprint for a in compiles]),
                    resource="archive",
                    step=FileStep(self.layout, output, produce),
                    deps=tuple(a.id for a in compiles),
                    details={
                        "component": component.name,
                        "platform": str(platform),
                        "version": target.version,
                        "output": self.layout.relative(output),
                    },
                )
            ),
        ]
