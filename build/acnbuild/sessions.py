"""What each nox session does; ``noxfile.py`` only registers these."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from . import builders, discover, gotools, naming, report, settings, toolchain, versioning
from .cachedirs import state_dir
from .errors import BuildFailed, UserError
from .executor import Executor, Outcome
from .model import Component, Repository
from .pipeline import ImageTarget, PlanBuilder, image_targets
from .plan import Plan
from .platforms import Platform
from .records import RecordStore

F = TypeVar("F", bound=Callable[..., Any])


def for_people(func: F) -> F:
    """Print UserError/BuildFailed plainly and exit with their code instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (UserError, BuildFailed) as exc:
            report.console.print(f"error: {exc}", style="bold red", markup=False)
            raise SystemExit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def load(root: Path | None = None) -> Repository:
    root = root or discover.find_root()
    return discover.load_repository(root)


def _selected(repo: Repository, names: Sequence[str]) -> list[Component]:
    return [repo.component(n) for n in names] if names else list(repo.components.values())


def targets(repo: Repository, config: settings.Settings, names: Sequence[str], *, strict: bool) -> list[ImageTarget]:
    """Image targets for the components x platforms; ``strict`` makes an unsupported platform an error."""
    result = []
    for component in _selected(repo, names):
        for platform in config.platforms:
            if not component.supports(platform) and not strict:
                report.console.print(f"note: {component.name} does not ship {platform}; left out", style="dim")
                continue
            result += image_targets(repo, component, platform, config.registry, config.skus)
    if not result:
        raise UserError("nothing to build for " + ", ".join(str(p) for p in config.platforms))
    return result


def build_plan(
    repo: Repository,
    builder: builders.Builder,
    config: settings.Settings,
    wanted: Sequence[ImageTarget],
    *,
    push: bool = False,
) -> Plan:
    for target in wanted:
        builder.check_platform(target.platform)
    planner = PlanBuilder(repo, toolchain.ensure(repo.root), builder, config.base_overrides)
    for target in wanted:
        image_action = planner.add_image(target)
        if push:
            from . import publish

            planner.add(publish.push_action(builder, repo.root, target, image_action))
    return planner.plan()


def execute(repo: Repository, config: settings.Settings, plan: Plan) -> list[Outcome]:
    records = RecordStore(state_dir(repo.root) / "records")
    executor = Executor(records, state_dir(repo.root) / "logs", config.jobs, progress=report.progress)
    outcomes = executor.run(plan)
    report.summary(outcomes)
    if config.json:
        print(json.dumps(report.outcomes_json(outcomes), indent=2))
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise BuildFailed(f"{len(failed)} action(s) failed: " + ", ".join(o.action.id for o in failed))
    return outcomes


def build_images(
    posargs: Sequence[str],
    names: Sequence[str],
    *,
    strict: bool,
    prog: str,
    root: Path | None = None,
    push: bool = False,
) -> list[Outcome]:
    """The image (and image-push) sessions' work, callable from tests: returns the outcomes of every action."""
    repo = load(root)
    config = settings.resolve(posargs, prog=prog)
    wanted = targets(repo, config, list(names) or list(config.components), strict=strict)
    builder = builders.select(config.builder)
    plan = build_plan(repo, builder, config, wanted, push=push)
    if config.dry_run:
        report.print_plan(plan, RecordStore(state_dir(repo.root) / "records"), config.json)
        return []
    report.console.print(f"builder: {builder.describe()}", style="dim")
    return execute(repo, config, plan)


# --- session bodies: each takes the session's posargs -------------------------------------------


@for_people
def image(posargs: Sequence[str], component: str) -> None:
    build_images(posargs, [component], strict=True, prog=f"nox -s {component}-image --")


@for_people
def images(posargs: Sequence[str]) -> None:
    build_images(posargs, [], strict=False, prog="nox -s images --")


@for_people
def image_name(posargs: Sequence[str], component: str) -> None:
    repo = load()
    config = settings.resolve(posargs, prog=f"nox -s {component}-image-name --")
    print(naming.image_name(naming.check_registry(config.registry), repo.component(component).image), flush=True)


@for_people
def image_name_and_tag(posargs: Sequence[str], component: str) -> None:
    repo = load()
    config = settings.resolve(posargs, prog=f"nox -s {component}-image-name-and-tag --")
    for target in image_targets(repo, repo.component(component), config.platform, config.registry, config.skus):
        print(target.reference, flush=True)


@for_people
def plan(posargs: Sequence[str]) -> None:
    """The image build's plan without running it: every component unless --component names some."""
    build_images([*posargs, "--dry-run"], [], strict="--component" in posargs, prog="nox -s plan --")


@for_people
def image_push(posargs: Sequence[str], component: str) -> None:
    build_images(posargs, [component], strict=True, prog=f"nox -s {component}-image-push --", push=True)


@for_people
def image_pull(posargs: Sequence[str], component: str) -> None:
    from . import publish

    repo = load()
    config = settings.resolve(posargs, prog=f"nox -s {component}-image-pull --")
    builder = builders.select(config.builder)
    logs = state_dir(repo.root) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for target in image_targets(repo, repo.component(component), config.platform, config.registry, config.skus):
        builder.check_platform(target.platform)
        publish.pull(builder, target.reference, target.platform, logs / f"pull-{component}.log")
        report.console.print(f"pulled {target.reference} with {builder.name}")


def _list_children(repo: Repository, config: settings.Settings, component: Component) -> list[ImageTarget]:
    """The platform images a component's list points at: --platform, else $PLATFORMS, else all it declares."""
    if config.explicit_platforms:
        platforms = config.platforms
    elif os.environ.get("PLATFORMS"):
        platforms = tuple(Platform.parse(p) for p in os.environ["PLATFORMS"].split())
    else:
        platforms = component.platforms
    chosen = []
    for platform in platforms:
        if component.supports(platform):
            chosen += image_targets(repo, component, platform, config.registry, config.skus)
        elif config.explicit_platforms and len(config.components) == 1:
            component.require_platform(platform)
    if not chosen:
        raise UserError(f"{component.name}: no platform to put in its list ({', '.join(map(str, platforms))})")
    return chosen


def build_lists(
    posargs: Sequence[str], names: Sequence[str], *, push: bool, prog: str, root: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Verify every child of every list first; only then write (and with ``push``, publish) the lists."""
    from . import manifests, publish
    from .registryapi import Reference, RegistryClient

    repo = load(root)
    config = settings.resolve(posargs, prog=prog)
    components = [repo.component(n) for n in (list(names) or list(config.components))] or list(repo.components.values())
    planned = []
    for component in components:
        children = _list_children(repo, config, component)
        version = children[0].version
        reference = publish.list_reference(config.registry, component.image, version)
        client = RegistryClient(Reference.parse(reference).registry)
        entries = [
            manifests.describe_child(client, manifests.Child(
                t.reference, t.platform.os, t.platform.arch, t.platform.manifest_variant,
                t.sku.os_version if t.sku else None,
            ))
            for t in children
        ]  # fmt: skip
        existing = manifests.existing_list(client, reference) if config.append else None
        media_type, body = manifests.assemble(entries, existing)
        planned.append((component, version, reference, client, media_type, body))
    results: dict[str, dict[str, Any]] = {}
    for component, version, reference, client, media_type, body in planned:
        path = publish.write_list(repo.root, component.image, version, body)
        result: dict[str, Any] = {"reference": reference, "file": str(path.relative_to(repo.root)), "pushed": False}
        entries = json.loads(body)["manifests"]
        if push or config.push:
            result["digest"] = manifests.push(client, reference, media_type, body)
            result["pushed"] = True
        result["platforms"] = [manifests.platform_key(e["platform"]) for e in entries]
        results[component.name] = result
        action = "pushed" if result["pushed"] else "built"
        report.console.print(f"{action} {reference} ({len(entries)} entries) -> {result['file']}")
        for entry in entries:
            p = entry["platform"]
            extra = "/" + p["variant"] if p.get("variant") else ""
            extra += f" os.version={p['os.version']}" if p.get("os.version") else ""
            report.console.print(f"    {p['os']}/{p['architecture']}{extra}  {entry['digest']}", style="dim")
    if config.json:
        print(json.dumps(results, indent=2))
    return results


@for_people
def manifest_build(posargs: Sequence[str], component: str) -> None:
    build_lists(posargs, [component], push=False, prog=f"nox -s {component}-manifest-build --")


@for_people
def manifest_push(posargs: Sequence[str], component: str) -> None:
    build_lists(posargs, [component], push=True, prog=f"nox -s {component}-manifest-push --")


@for_people
def manifest(posargs: Sequence[str]) -> None:
    build_lists(posargs, [], push=False, prog="nox -s manifest --")


@for_people
def manifest_archive(posargs: Sequence[str], component: str) -> None:
    from . import publish

    repo = load()
    config = settings.resolve(posargs, prog=f"nox -s {component}-manifest-archive --")
    target = repo.component(component)
    version = versioning.component_version(target, repo.root)
    reference = publish.list_reference(config.registry, target.image, version)
    logs = state_dir(repo.root) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = publish.archive_list(reference, target.image, version, repo.root, logs / f"archive-{component}.log")
    report.console.print(f"archived {reference} -> {path.relative_to(repo.root)}")


@for_people
def qemu_user_static(posargs: Sequence[str]) -> None:
    from . import emulation

    report.console.print(emulation.register())


@for_people
def golint(posargs: Sequence[str]) -> None:
    gotools.lint(discover.find_root())
    report.console.print("go: gofmt and go vet are clean")


@for_people
def gotest(posargs: Sequence[str]) -> None:
    print(gotools.test(discover.find_root(), posargs))


@for_people
def windows_standin_bases(posargs: Sequence[str]) -> None:
    """Push stand-ins for the declared Windows bases; print the BASE_IMAGE_OVERRIDES value on stdout."""
    from . import bases, standin

    repo = load()
    config = settings.resolve(posargs, prog="nox -s windows-standin-bases --")
    if not bases.is_loopback(config.registry + "/x"):
        report.console.print(f"note: pushing stand-ins to {config.registry}, which is not a loopback registry")
    print(" ".join(standin.push_for_repository(repo, config.registry)), flush=True)


@for_people
def registry(posargs: Sequence[str]) -> None:
    """Start, stop or show the local registry (Debian docker-registry on loopback, state in .acnbuild/registry)."""
    from . import localregistry

    parser = argparse.ArgumentParser(prog="nox -s registry --")
    parser.add_argument("action", nargs="?", default="start", choices=("start", "stop", "status"))
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(list(posargs))
    directory = args.dir or state_dir(discover.find_root()) / "registry"
    if args.action == "start":
        running = localregistry.start(directory, args.port)
        report.console.print(f"registry on {running.host} (data in {directory}); stop: nox -s registry -- stop")
        print(running.host, flush=True)
    elif args.action == "stop":
        stopped = localregistry.stop(directory)
        report.console.print("registry stopped" if stopped else "no registry was running")
    else:
        found = localregistry.status(directory)
        print(found.host if found else "stopped", flush=True)


VERBS: dict[str, Callable[..., None]] = {
    "image-push": image_push,
    "image-pull": image_pull,
    "manifest-build": manifest_build,
    "manifest-push": manifest_push,
    "manifest-archive": manifest_archive,
    "manifest": manifest,
    "qemu-user-static": qemu_user_static,
    "windows-standin-bases": windows_standin_bases,
    "registry": registry,
    "golint": golint,
    "gotest": gotest,
    "image": image,
    "images": images,
    "image-name": image_name,
    "image-name-and-tag": image_name_and_tag,
    "plan": plan,
}
COMPONENT_VERBS = (
    "image",
    "image-name",
    "image-name-and-tag",
    "image-push",
    "image-pull",
    "manifest-build",
    "manifest-push",
    "manifest-archive",
)
