"""What each nox session does; ``noxfile.py`` only registers these."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from . import bases, builders, discover, gotools, localregistry, naming, report, settings, standin, toolchain
from .cachedirs import state_dir
from .errors import BuildFailed, UserError
from .executor import Executor, Outcome
from .model import Component, Repository
from .pipeline import ImageTarget, PlanBuilder, image_targets
from .plan import Plan
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
    repo: Repository, builder: builders.Builder, config: settings.Settings, wanted: Sequence[ImageTarget]
) -> Plan:
    for target in wanted:
        builder.check_platform(target.platform)
    planner = PlanBuilder(repo, toolchain.ensure(repo.root), builder, config.base_overrides)
    for target in wanted:
        planner.add_image(target)
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
    posargs: Sequence[str], names: Sequence[str], *, strict: bool, prog: str, root: Path | None = None
) -> list[Outcome]:
    """The image sessions' work, callable from tests: returns the outcomes of every action."""
    repo = load(root)
    config = settings.resolve(posargs, prog=prog)
    image_targets = targets(repo, config, list(names) or list(config.components), strict=strict)
    builder = builders.select(config.builder)
    plan = build_plan(repo, builder, config, image_targets)
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
    repo = load()
    config = settings.resolve(posargs, prog="nox -s plan --")
    image_targets = targets(repo, config, list(config.components), strict=bool(config.components))
    builder = builders.select(config.builder)
    records = RecordStore(state_dir(repo.root) / "records")
    report.print_plan(build_plan(repo, builder, config, image_targets), records, config.json)


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
    repo = load()
    config = settings.resolve(posargs, prog="nox -s windows-standin-bases --")
    if not bases.is_loopback(config.registry + "/x"):
        report.console.print(f"note: pushing stand-ins to {config.registry}, which is not a loopback registry")
    print(" ".join(standin.push_for_repository(repo, config.registry)), flush=True)


@for_people
def registry(posargs: Sequence[str]) -> None:
    """Start, stop or show the local registry (Debian docker-registry on loopback, state in .acnbuild/registry)."""
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
        running = localregistry.status(directory)
        print(running.host if running else "stopped", flush=True)


VERBS: dict[str, Callable[..., None]] = {
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
COMPONENT_VERBS = ("image", "image-name", "image-name-and-tag")
