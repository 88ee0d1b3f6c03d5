"""The Go actions of a plan: one compile per (binary, platform), one dropgz installer per (component, platform)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.fingerprint import combine_known, file_digest, files_digest
from ..engine.plan import Action, Check, Freshness, PlanBuilder, Result
from ..model import ActionKind, Component, GoBinary, Repository
from ..paths import Layout
from ..platforms import Platform
from ..versioning import component_version
from . import installer
from .compile import (
    BUILD_FLAGS,
    GoBuild,
    batchable,
    compile_batch,
    compile_binary,
    fingerprint,
    prefetch_sources,
    source_key,
)
from .toolchain import GoToolchain
from .toolchain import lock_path as toolchain_lock_path

RESOURCE = "go"  # compiles: the pipeline holds them to one per CPU


@dataclass(frozen=True)
class FileStep:
    """An action whose product is one file: recorded by its sha256, current while the file still matches."""

    layout: Layout
    output: Path
    produce: Callable[[Path], None]

    def run(self, log: Path) -> Result:
        self.produce(log)
        return self.result()

    def result(self) -> Result:
        """What a run of this step records: the file, by path and sha256."""
        return {"path": self.layout.relative(self.output), "sha256": file_digest(self.output)}

    def check(self, result: Result, *, offline: bool) -> Check:
        if not self.output.is_file():
            return Check(Freshness.STALE, "output missing")
        if file_digest(self.output) != result.get("sha256"):
            return Check(Freshness.STALE, "output changed since it was built")
        return Check(Freshness.CURRENT, "unchanged")


@dataclass
class GoBatch:
    """The binaries of one platform that must be compiled at the same time, compiled by one ``go build``."""

    key: str
    layout: Layout
    toolchain: Callable[[], GoToolchain]
    root: Path
    members: dict[str, tuple[GoBuild, Path]] = field(default_factory=dict)

    def run(self, actions: Sequence[Action], log: Path) -> Mapping[str, Result]:
        builds = [self.members[a.id] for a in actions]
        if batchable([b for b, _ in builds]):
            compile_batch(self.toolchain(), self.root, builds, log)
        else:
            for build, output in builds:
                compile_binary(self.toolchain(), self.root, build, output, log)
        return {
            a.id: FileStep(self.layout, output, _nothing).result()
            for a, (_, output) in zip(actions, builds, strict=True)
        }


def _nothing(log: Path) -> None:
    return None


class GoPlanner:
    """Adds compile and installer actions to a plan; every image of a platform shares them."""

    def __init__(self, repo: Repository, toolchain: GoToolchain | None, graph: PlanBuilder) -> None:
        self.repo = repo
        self.root = repo.root
        self.layout = Layout(repo.root)
        self.toolchain = toolchain
        self.graph = graph
        self.batches: dict[Platform, GoBatch] = {}
        self.sources: dict[str, list[Path]] = {}  # go list answers of this plan (prefetch), by source_key
        lock = toolchain_lock_path(repo.root)
        self.toolchain_lock = file_digest(lock) if lock.is_file() else ""

    def prefetch(self, wanted: Iterable[tuple[Component, Platform, str]]) -> None:
        """Ask go list once per platform for every binary these components need (theirs and their installers')."""
        if self.toolchain is None:
            return
        builds = []
        for component, platform, version in wanted:
            builds += [GoBuild(b, platform, version) for b in component.binaries]
            for name in component.installer.binaries if component.installer else ():
                builds.append(GoBuild(self.repo.binary(name)[1], platform, version))
        self.sources.update(prefetch_sources(self.toolchain, self.root, builds))

    def _sources(self, build: GoBuild) -> list[Path] | None:
        return self.sources.get(source_key(self.toolchain, build)) if self.toolchain else None

    def _toolchain(self) -> GoToolchain:
        if self.toolchain is None:
            raise AssertionError("a plan made without the toolchain cannot be run")
        return self.toolchain

    def binary(self, binary: GoBinary, platform: Platform, version: str) -> Action:
        action_id = f"go:{binary.name}:{platform}"
        if (known := self.graph.get(action_id)) is not None:
            return known
        build = GoBuild(binary=binary, platform=platform, version=version)
        output = self.layout.binary(binary.name, platform)
        step = FileStep(
            self.layout, output, lambda log: compile_binary(self._toolchain(), self.root, build, output, log)
        )
        batch = self.batches.setdefault(platform, GoBatch(f"go:{platform}", self.layout, self._toolchain, self.root))
        batch.members[action_id] = (build, output)
        return self.graph.add(
            Action(
                id=action_id,
                kind=ActionKind.GO_BINARY,
                summary=f"compile {binary.name}{platform.exe_suffix} for {platform} ({version})",
                fingerprint=fingerprint(self.toolchain, self.root, build, self.toolchain_lock, self._sources(build)),
                resource=RESOURCE,
                step=step,
                details={
                    "binary": binary.name,
                    "platform": str(platform),
                    "version": version,
                    "toolchain": self.toolchain.version if self.toolchain else None,
                    "output": self.layout.relative(output),
                },
                batch=batch,
            )
        )

    def installer(self, component: Component, platform: Platform, version: str) -> list[Action]:
        """The payload binaries' actions and the installer's own, in dependency order."""
        assert component.installer is not None
        payload_actions = []
        for name in component.installer.binaries:
            owner, binary = self.repo.binary(name)
            payload_actions.append(self.binary(binary, platform, component_version(owner, self.root)))
        action_id = f"dropgz:{component.name}:{platform}"
        if (known := self.graph.get(action_id)) is not None:
            return [*payload_actions, known]
        output = self.layout.installer(component.name, platform)
        files = {Path(f).name: component.directory / f for f in component.installer.files}
        payload = {name + platform.exe_suffix: self.layout.binary(name, platform)
                   for name in component.installer.binaries}  # fmt: skip
        stage_dir = self.layout.installer_stages / component.name / platform.tag_prefix
        toolchain_version = self.toolchain.version if self.toolchain else None
        parts = {
            "kind": "dropgz",
            "toolchain": toolchain_version,
            "toolchain_lock": self.toolchain_lock,
            "source": files_digest(self.root, installer.source_files(self.root)),
            "payload_binaries": {a.id: a.fingerprint for a in payload_actions},
            "payload_files": files_digest(component.directory, files.values()),
            "platform": str(platform),
            "version": version,
            "flags": BUILD_FLAGS,
        }
        fingerprint_ = combine_known(parts, [toolchain_version, *(a.fingerprint for a in payload_actions)])

        def produce(log: Path) -> None:
            installer.stage(self.root, stage_dir, {**payload, **files})
            installer.compile_installer(self._toolchain(), stage_dir, platform, version, output, log)

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
                    "binary": "dropgz",
                    "platform": str(platform),
                    "toolchain": toolchain_version,
                    "output": self.layout.relative(output),
                },
            )
        )
        return [*payload_actions, action]
