"""The whole pipeline, composed: select targets, plan them (Go, image, push actions), execute the plan.

Sessions call this; it is the only place that knows every layer, and the one place that decides which
(component, platform) pairs a session works on. Planning never touches an engine, a registry or a record:
``plan(..., offline=True)`` even works without the Go toolchain or the builder installed, and reports what it
cannot know as unknown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import naming, versioning
from .engine.executor import Executor, Observer, Outcome, Status
from .engine.plan import Plan, PlanBuilder
from .engine.records import RecordStore
from .engine.remote import RemoteCache, RemoteMode
from .errors import BuildFailed, UserError
from .go import actions as go_actions
from .go import toolchain
from .image import builders
from .image import planner as image_planner
from .image.recipe import archive_path
from .image.smoke import smoke_action
from .model import ActionKind, Component, Repository
from .paths import Layout
from .platforms import Platform
from .settings import Settings
from .targets import BinaryTarget, ImageTarget, binary_target, image_targets

if TYPE_CHECKING:
    from .registry.lists import ListRequest


def resource_limits(cores: int | None = None) -> dict[str, int]:
    """At most one compile per CPU. The binaries of one platform are compiled together (one ``go build`` shares
    the standard library), so compiles that run side by side are other platforms' batches or dropgz installers,
    which share nothing a single compiler could."""
    cores = cores or os.cpu_count() or 2
    return {go_actions.RESOURCE: max(1, cores)}


RESOURCE_LIMITS = resource_limits()


T = TypeVar("T")

# The CI matrix (plan -- --matrix): the runner label a cell needs. Go is cross-compiled outside the image build,
# so a COPY-only Dockerfile builds any platform (Windows included) on the amd64 Linux runner without emulation;
# only a Dockerfile that RUNs something needs a runner of the target architecture.
CI_DEFAULT_RUNNER = "ubuntu-24.04"
# The builder of every CI cell unless --builder/CONTAINER_BUILDER says otherwise: upstream's default, it builds
# Windows images on Linux, and its images are digest-identical across runs, so a rerun pushes nothing new.
CI_BUILDER = "buildah"


@dataclass(frozen=True)
class Selection(Generic[T]):
    targets: list[T]
    notes: list[str]  # one line per (component, platform) left out


def select_components(repo: Repository, config: Settings, names: Sequence[str]) -> tuple[list[Component], bool]:
    """The components asked for, and whether the user named them: the session's own component (``cns-image``),
    else those of --component, else every component (not named)."""
    named = list(dict.fromkeys(names or config.components))
    if named:
        return [repo.component(n) for n in named], True
    return list(repo.components.values()), False


def _pairs(
    repo: Repository,
    config: Settings,
    names: Sequence[str],
    platforms_of: Callable[[Component], Sequence[Platform]],
    ships: Callable[[Component, Platform], bool],
    refuse: Callable[[Component, Platform], UserError],
    missing: str,
) -> tuple[list[tuple[Component, Platform]], list[str]]:
    """(component, platform) pairs to work on. A pair the component does not ship is left out with a note, or is
    an error when the user named the component."""
    components, named = select_components(repo, config, names)
    pairs: list[tuple[Component, Platform]] = []
    notes = []
    for component in components:
        for platform in platforms_of(component):
            if ships(component, platform):
                pairs.append((component, platform))
            elif named:
                raise refuse(component, platform)
            else:
                notes.append(f"note: {component.name} {missing} {platform}; left out")
    return pairs, notes


def _platforms(config: Settings, every_platform: bool) -> Callable[[Component], Sequence[Platform]]:
    """PLATFORM (or --platform); with ``every_platform`` and no --platform, each component's declared ones."""
    if every_platform and not config.explicit_platforms:
        return lambda component: component.platforms
    return lambda component: config.platforms


def _nothing_for(config: Settings, what: str) -> UserError:
    return UserError(f"nothing to {what} for " + ", ".join(str(p) for p in config.platforms))


def select(
    repo: Repository, config: Settings, names: Sequence[str] = (), *, every_platform: bool = False
) -> Selection[ImageTarget]:
    """Image targets for the components x platforms (``names``: the session's own component, if any)."""
    pairs, notes = _pairs(repo, config, names, _platforms(config, every_platform), Component.supports,
                          Component.unsupported, "does not ship")  # fmt: skip
    components = list({component.name: component for component, _ in pairs}.values())
    payload_owners = [repo.binary(b)[0] for c in components if c.installer for b in c.installer.binaries]
    versioning.prefetch([*components, *payload_owners], repo.root)  # git describe side by side, once each
    targets: list[ImageTarget] = []
    for component, platform in pairs:
        targets += image_targets(repo, component, platform, config.registry, config.skus)
    if not targets:
        raise _nothing_for(config, "build")
    seen: dict[str, ImageTarget] = {}
    for target in targets:
        other = seen.setdefault(str(target.reference), target)
        if other is not target:
            raise UserError(
                f"{target.reference} would name both the {other.platform} and the {target.platform} image of "
                f"{target.component.name} (${target.component.tag_variable} is set)",
                hint=f"build one platform at a time with {target.component.tag_variable}, or unset it",
            )
    return Selection(targets, notes)


def select_binaries(
    repo: Repository, config: Settings, names: Sequence[str] = (), *, every_platform: bool = False
) -> Selection[BinaryTarget]:
    """Binary targets (component x platform): PLATFORM, or with ``every_platform`` each declared platform."""
    pairs, notes = _pairs(repo, config, names, _platforms(config, every_platform), Component.supports,
                          Component.unsupported, "does not ship")  # fmt: skip
    if not pairs:
        raise _nothing_for(config, "compile")
    return Selection([binary_target(repo, c, p) for c, p in pairs], notes)


def _no_archive(component: Component, platform: Platform) -> UserError:
    if component.archive is None:
        return UserError(f"{component.name} has no binary archive",
                         hint=f"add `archive` (its name pattern) to {component.build_file}")  # fmt: skip
    declared = ", ".join(str(p) for p in component.archive.platforms)
    return UserError(
        f"{component.name} has no binary archive for {platform} (it has: {declared})",
        hint=f"pick one of {declared}, or add it to `archive.platforms` in {component.build_file}",
    )


def select_archives(
    repo: Repository, config: Settings, names: Sequence[str] = (), *, every_platform: bool = False
) -> Selection[BinaryTarget]:
    """Archive targets: like ``select_binaries``, over the platforms each component archives."""

    def platforms_of(component: Component) -> Sequence[Platform]:
        if every_platform and not config.explicit_platforms:
            return component.archive.platforms if component.archive else ()
        return config.platforms

    pairs, notes = _pairs(repo, config, names, platforms_of, Component.archives, _no_archive, "has no archive for")
    if not pairs:
        raise _nothing_for(config, "archive")
    return Selection([binary_target(repo, c, p) for c, p in pairs], notes)


def _toolchain(repo: Repository, offline: bool) -> toolchain.GoToolchain | None:
    return toolchain.locate(repo.root) if offline else toolchain.ensure(repo.root)


def plan(
    repo: Repository,
    config: Settings,
    targets: Sequence[ImageTarget],
    *,
    push: bool = False,
    offline: bool = False,
    builder_names: Mapping[Platform, str] | None = None,
) -> Plan:
    """The actions that build (and with ``push``, publish) ``targets``.

    ``offline`` (plan, --dry-run): installs nothing and contacts no engine; the toolchain and the builder are used
    only if already installed, else the fingerprints that need them are unknown. ``builder_names`` picks the
    builder per platform (default: the configured one).
    """
    layout = Layout(repo.root)
    for target in targets:  # bad input first: nothing installed, no engine or registry contacted
        image_planner.check_dockerfile(target, layout)
    graph = PlanBuilder()
    go = go_actions.GoPlanner(repo, _toolchain(repo, offline), graph)
    names = {t.platform: (builder_names or {}).get(t.platform, config.builder) for t in targets}
    found = {
        n: builders.select_for_plan(n) if offline else builders.select(n, engine=False)
        for n in dict.fromkeys(names.values())
    }
    for target in targets:
        builder = found[names[target.platform]]
        if builder is not None:
            builder.check_platform(target.platform)
    planners = {n: image_planner.ImagePlanner(go, b, n, config.base_overrides, graph) for n, b in found.items()}
    go.prefetch((t.component, t.platform, t.version) for t in targets)  # one go list per platform
    for target in targets:
        name = names[target.platform]
        image = planners[name].add(target)
        gate = image
        spec = target.component.os_image(target.platform).smoke
        if spec is not None:  # build -> start -> push: an image that does not start is never pushed
            archive = archive_path(layout, target) if target.platform.os == "windows" else None
            gate = graph.add(smoke_action(target, spec, found[name], name, image, archive))
        if push:
            from .registry.publish import push_action  # the registry client is loaded only when it is used

            graph.add(push_action(found[name], name, layout, target, image, gate))
    built = graph.plan()
    if not offline:
        for name in found:
            builders.select(name)  # the engine must answer before anything runs (exit 2 if not)
    return built


def remote_cache(config: Settings) -> RemoteCache | None:
    """The remote cache the settings name (``ACNBUILD_REMOTE_CACHE``), or None."""
    if config.remote_cache is None:
        return None
    from .registry.remote_cache import RegistryRemoteCache

    return RegistryRemoteCache(config.remote_cache, RemoteMode(config.remote_cache_mode))


def plan_binaries(
    repo: Repository, targets: Sequence[BinaryTarget], *, archives: bool = False, offline: bool = False
) -> Plan:
    """The compile actions of ``targets`` (upstream's ``<c>-binary``), and with ``archives`` their archives."""
    graph = PlanBuilder()
    go = go_actions.GoPlanner(repo, _toolchain(repo, offline), graph)
    go.prefetch((t.component, t.platform, t.version) for t in targets)
    for target in targets:
        if archives:
            go.archive(target)
        else:
            for binary in target.component.binaries:
                go.binary(binary, target.platform, target.version)
    return graph.plan()


def execute(repo: Repository, config: Settings, build_plan: Plan, observer: Observer | None = None) -> list[Outcome]:
    layout = Layout(repo.root)
    executor = Executor(RecordStore(layout.records), layout.logs, config.jobs, limits=RESOURCE_LIMITS,
                        observer=observer, remote=remote_cache(config), locks=layout.locks)  # fmt: skip
    return executor.run(build_plan)


def raise_for_failures(outcomes: Sequence[Outcome]) -> None:
    failed = [o for o in outcomes if o.status is Status.FAILED]
    if failed:
        raise BuildFailed(f"{len(failed)} action(s) failed: " + ", ".join(o.action.id for o in failed))


def ci_builders(config: Settings, targets: Sequence[ImageTarget]) -> dict[Platform, str]:
    """The builder of each CI cell: --builder/CONTAINER_BUILDER when given, else ``CI_BUILDER``."""
    return {t.platform: config.builder if config.builder_explicit else CI_BUILDER for t in targets}


def ci_runner(component: Component, platform: Platform) -> str:
    """The runner a CI cell needs. Every Dockerfile is COPY-only (RUN is refused at planning) and Go is
    cross-compiled before the image build, so no cell executes target code: one amd64 Linux runner kind serves
    linux/amd64, linux/arm64 and windows/amd64 alike."""
    return CI_DEFAULT_RUNNER


def describe(repo: Repository, build_plan: Plan) -> dict[str, Any]:
    """The plan as data (read-only, offline): every action, and the CI matrix, one cell per (component,
    platform) with the runner and builder it needs (GitHub's ``strategy.matrix.include`` entries)."""
    rows = build_plan.rows(RecordStore(Layout(repo.root).records))
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        if row["kind"] == ActionKind.IMAGE:
            platform = Platform.parse(row["platform"])
            cells.setdefault((row["component"], row["platform"]), {
                "component": row["component"],
                "platform": row["platform"],
                "runner": ci_runner(repo.component(row["component"]), platform),
                "builder": row["builder"],
            })  # fmt: skip
    return {"actions": rows, "matrix": list(cells.values())}


def list_platforms(component: Component, config: Settings, env_platforms: str | None) -> tuple[Platform, ...]:
    """The platforms a component's list points at: --platform, else $PLATFORMS, else all it declares."""
    if config.explicit_platforms:
        return config.platforms
    if env_platforms:
        return tuple(Platform.parse(p) for p in env_platforms.split())
    return component.platforms


def list_requests(
    repo: Repository, config: Settings, names: Sequence[str], env_platforms: str | None
) -> Selection[ListRequest]:
    """One manifest list per component: ``<registry>/<image>:<version>`` over its platform images.

    A platform asked for (--platform, $PLATFORMS) that a component does not ship is left out of its list with a
    note, or is an error when the user named the component; a component left with no platform gets no list.
    """
    from .registry.lists import ListRequest

    pairs, notes = _pairs(repo, config, names, lambda c: list_platforms(c, config, env_platforms),
                          Component.supports, Component.unsupported, "does not ship")  # fmt: skip
    children: dict[str, list[ImageTarget]] = {}
    for component, platform in pairs:
        targets = image_targets(repo, component, platform, config.registry, config.skus, tag_overrides=False)
        children.setdefault(component.name, []).extend(targets)
    if not children:
        components = select_components(repo, config, names)[0]
        asked = sorted({str(p) for c in components for p in list_platforms(c, config, env_platforms)})
        raise UserError("no component ships " + ", ".join(asked) + ": there is no list to build")
    requests = []
    for name, targets in children.items():
        component, version = repo.component(name), targets[0].version
        reference = naming.list_reference(config.registry, component.image, version)
        requests.append(ListRequest(component.name, component.image, version, reference, tuple(targets)))
    return Selection(requests, notes)
