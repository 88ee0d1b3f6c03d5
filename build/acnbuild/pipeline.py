"""The whole pipeline, composed: select targets, plan them (Go, image, push actions), execute the plan.

Sessions call this; it is the only place that knows every layer. Planning never touches an engine, a registry
or a record: ``plan(..., offline=True)`` even works without the Go toolchain or the builder installed, and reports
what it cannot know as unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import naming
from .engine.executor import Executor, Observer, Outcome, Status
from .engine.plan import Plan, PlanBuilder
from .engine.records import RecordStore
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
from .registry.lists import ListRequest
from .registry.publish import push_action
from .settings import Settings
from .targets import ImageTarget, image_targets

# Go already uses every core: two compilers at once would only redo each other's standard library work.
RESOURCE_LIMITS = {go_actions.RESOURCE: 1}


@dataclass(frozen=True)
class Selection:
    targets: list[ImageTarget]
    notes: list[str]  # one line per component left out


def select(repo: Repository, config: Settings, names: Sequence[str], *, strict: bool) -> Selection:
    """Image targets for the components x platforms; ``strict`` makes an unsupported platform an error."""
    components: list[Component] = [repo.component(n) for n in names] if names else list(repo.components.values())
    targets: list[ImageTarget] = []
    notes = []
    for component in components:
        for platform in config.platforms:
            if not component.supports(platform) and not strict:
                notes.append(f"note: {component.name} does not ship {platform}; left out")
                continue
            targets += image_targets(repo, component, platform, config.registry, config.skus)
    if not targets:
        raise UserError("nothing to build for " + ", ".join(str(p) for p in config.platforms))
    return Selection(targets, notes)


def plan(
    repo: Repository, config: Settings, targets: Sequence[ImageTarget], *, push: bool = False, offline: bool = False
) -> Plan:
    """The actions that build (and with ``push``, publish) ``targets``.

    ``offline`` (plan, --dry-run): installs nothing and contacts no engine; the toolchain and the builder are used
    only if already installed, else the fingerprints that need them are unknown.
    """
    layout = Layout(repo.root)
    for target in targets:  # bad input first: nothing installed, no engine or registry contacted
        image_planner.check_dockerfile(target, layout)
    chain = toolchain.locate(repo.root) if offline else toolchain.ensure(repo.root)
    builder = builders.select_for_plan(config.builder) if offline else builders.select(config.builder, engine=False)
    if builder is not None:
        for target in targets:
            builder.check_platform(target.platform)
    graph = PlanBuilder()
    go = go_actions.GoPlanner(repo, chain, graph)
    images = image_planner.ImagePlanner(go, builder, config.builder, config.base_overrides, graph)
    for target in targets:
        image = images.add(target)
        gate = image
        spec = target.component.os_image(target.platform).smoke
        if spec is not None:  # build -> start -> push: an image that does not start is never pushed
            archive = archive_path(layout, target) if target.platform.os == "windows" else None
            gate = graph.add(smoke_action(target, spec, builder, config.builder, image, archive))
        if push:
            graph.add(push_action(builder, config.builder, layout, target, image, gate))
    built = graph.plan()
    if not offline:
        builders.select(config.builder)  # the engine must answer before anything runs (exit 2 if not)
    return built


def execute(repo: Repository, config: Settings, build_plan: Plan, observer: Observer | None = None) -> list[Outcome]:
    layout = Layout(repo.root)
    executor = Executor(RecordStore(layout.records), layout.logs, config.jobs, limits=RESOURCE_LIMITS,
                        observer=observer, locks=layout.locks)  # fmt: skip
    return executor.run(build_plan)


def raise_for_failures(outcomes: Sequence[Outcome]) -> None:
    failed = [o for o in outcomes if o.status is Status.FAILED]
    if failed:
        raise BuildFailed(f"{len(failed)} action(s) failed: " + ", ".join(o.action.id for o in failed))


def describe(repo: Repository, build_plan: Plan) -> dict[str, Any]:
    """The plan as data (read-only, offline): every action, and the CI matrix of image builds."""
    rows = build_plan.rows(RecordStore(Layout(repo.root).records))
    matrix = [
        {k: row[k] for k in ("component", "platform", "sku", "reference") if k in row}
        for row in rows
        if row["kind"] == ActionKind.IMAGE
    ]
    return {"actions": rows, "matrix": matrix}


def list_platforms(component: Component, config: Settings, env_platforms: str | None) -> tuple[Platform, ...]:
    """The platforms a component's list points at: --platform, else $PLATFORMS, else all it declares."""
    if config.explicit_platforms:
        return config.platforms
    if env_platforms:
        return tuple(Platform.parse(p) for p in env_platforms.split())
    return component.platforms


def list_requests(
    repo: Repository, config: Settings, names: Sequence[str], env_platforms: str | None
) -> list[ListRequest]:
    """One manifest list per component: ``<registry>/<image>:<version>`` over its platform images."""
    components = [repo.component(n) for n in names] if names else list(repo.components.values())
    requests = []
    for component in components:
        children: list[ImageTarget] = []
        platforms = list_platforms(component, config, env_platforms)
        for platform in platforms:
            if component.supports(platform):
                children += image_targets(repo, component, platform, config.registry, config.skus)
            elif config.explicit_platforms and len(names) == 1:
                component.require_platform(platform)
        if not children:
            raise UserError(f"{component.name}: no platform to put in its list ({', '.join(map(str, platforms))})")
        version = children[0].version
        reference = naming.list_reference(config.registry, component.image, version)
        requests.append(ListRequest(component.name, component.image, version, reference, tuple(children)))
    return requests
