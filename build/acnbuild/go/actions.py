"""The Go actions of a plan: one compile per (binary, platform), one dropgz installer per (component, platform)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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
from .compile import (
    BUILD_FLAGS,
    CLOCK_SLACK_NS,
    GoBuild,
    batchable,
    check_unchanged,
    compile_batch,
    compile_binary,
    fingerprint,
    prefetch_sources,
    source_files,
    source_key,
)
from .toolchain import GoToolchain
from .toolchain import lock_path as toolchain_lock_path

RESOURCE = "go"  # compiles: the pipeline holds them to one per CPU
Verifier = Callable[[int, Path], None]  # (compile start in ns, log): raises when the sources moved under the result


@dataclass(frozen=True)
class FileStep:
    """An action whose product is one file: recorded by its sha256, current while the file still matches.

    The record also keeps the file's identity (size, mtime, ctime, inode) as it was hashed. While that identity is
    unchanged the file is not read again: nothing can set a ctime back, so a file changed in any way since has
    another identity. A write within the same clock tick as the one before could keep the ctime, so the identity is
    taken (and the file hashed) only once the file's ctime is a tick in the past.
    """

    layout: Layout
    output: Path
    produce: Callable[[Path], None]

    def run(self, log: Path) -> Result:
        self.layout.make_room(self.output.parent)
        self.produce(log)
        return self.result()

    def result(self) -> Result:
        """What a run of this step records: the file, by path and sha256, and the identity it had when hashed."""
        before = _identity(self.output)
        if before is not None and (young := IDENTITY_MARGIN_NS - (time.time_ns() - before[2])) > 0:
            time.sleep(young / 1e9)  # a later write can no longer share its ctime
        digest = file_digest(self.output)
        size = self.output.stat().st_size
        recorded: Result = {"path": self.layout.relative(self.output), "sha256": digest, "size": size}
        if before is not None and _identity(self.output) == before:
            recorded["identity"] = list(before)
        return recorded

    def check(self, result: Result, *, offline: bool) -> Check:
        identity = _identity(self.output)
        if identity is None:
            return Check(Freshness.STALE, "output missing")
        if result.get("identity") == list(identity):
            return Check(Freshness.CURRENT, "unchanged")
        if file_digest(self.output) != result.get("sha256"):
            return Check(Freshness.STALE, "output changed since it was built")
        return Check(Freshness.CURRENT, "unchanged")


IDENTITY_MARGIN_NS = 20_000_000  # longer than a coarse file-system clock tick (4 ms at HZ=250, 10 ms at HZ=100)


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@dataclass
class GoBatch:
    """The binaries of one platform that must be compiled at the same time, compiled by one ``go build``."""

    key: str
    layout: Layout
    toolchain: Callable[[], GoToolchain]
    root: Path
    members: dict[str, tuple[GoBuild, Path, Verifier]] = field(default_factory=dict)

    def run(self, actions: Sequence[Action], log: Path) -> Mapping[str, Result]:
        since = time.time_ns() - CLOCK_SLACK_NS
        members = [self.members[a.id] for a in actions]
        for _, output, _ in members:
            self.layout.make_room(output.parent)
        checks = [lambda verifier=verifier: verifier(since, log) for _, _, verifier in members]
        builds = [(build, output) for build, output, _ in members]
        if batchable([build for build, _ in builds]):
            compile_batch(self.toolchain(), self.root, builds, log, checks)
        else:
            for (build, output), check in zip(builds, checks, strict=True):
                compile_binary(self.toolchain(), self.root, build, output, log, verify=check)
        done = zip(actions, builds, strict=True)
        return {action.id: FileStep(self.layout, output, _nothing).result() for action, (_, output) in done}


def _nothing(log: Path) -> None:
    return None


class GoPlanner:
    """Adds compile, installer and archive actions to a plan; every image and archive of a platform shares them."""

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

    def output(self, binary: GoBinary, platform: Platform) -> Path:
        """Where ``binary`` is compiled to: upstream's ``output/<os>_<arch>/<build dir>/<name>[.exe]``."""
        return self.layout.binary(binary.name, platform, directory=binary.directory)

    def binary(self, binary: GoBinary, platform: Platform, version: str) -> Action:
        action_id = f"go:{binary.name}:{platform}"
        if (known := self.graph.get(action_id)) is not None:
            return known
        build = GoBuild(binary=binary, platform=platform, version=version)
        output = self.output(binary, platform)
        planned = fingerprint(self.toolchain, self.root, build, self.toolchain_lock, self._sources(build))

        def verify(since: int, log: Path) -> None:  # the binary must come from the sources the plan fingerprinted
            chain = self._toolchain()
            current = fingerprint(chain, self.root, build, self.toolchain_lock)
            check_unchanged(self.root, source_files(chain, self.root, build), since, planned, current,
                            f"{binary.name} for {platform}", log)  # fmt: skip

        def produce(log: Path) -> None:
            since = time.time_ns() - CLOCK_SLACK_NS
            compile_binary(self._toolchain(), self.root, build, output, log, verify=lambda: verify(since, log))

        batch = self.batches.setdefault(platform, GoBatch(f"go:{platform}", self.layout, self._toolchain, self.root))
        batch.members[action_id] = (build, output, verify)

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
                "toolchain_lock": self.toolchain_lock,
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
                    "binary": "dropgz",
                    "platform": str(platform),
                    "toolchain": toolchain_version,
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
