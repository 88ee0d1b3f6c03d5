"""Session bodies: parse options, call the pipeline, report. ``noxfile.py`` registers them from ``verbs.py``."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from . import discover, naming, pipeline, report, settings, versioning
from .engine.executor import Outcome
from .engine.plan import Plan
from .errors import AcnBuildError, UserError
from .model import Repository
from .paths import Layout

F = TypeVar("F", bound=Callable[..., Any])


def for_people(func: F) -> F:
    """Print our errors plainly and exit with their code instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AcnBuildError as exc:
            report.console.print(f"error: {exc}", style="bold red", markup=False, soft_wrap=True)
            raise SystemExit(int(exc.exit_code)) from None

    return wrapper  # type: ignore[return-value]


def load(root: Path | None = None) -> Repository:
    return discover.load_repository(root or discover.find_root())


def _notes(notes: Sequence[str]) -> None:
    for note in notes:
        report.console.print(note, style="dim", markup=False)


def build_images(
    posargs: Sequence[str], names: Sequence[str], *, prog: str, root: Path | None = None, push: bool = False
) -> list[Outcome]:
    """The image (and image-push) sessions' work, callable from tests: returns the outcomes of every action.

    ``names``: the session's own component (``cns-image``), else every component (or those of --component);
    components named either way must ship the platform, the others are left out with a note when they do not.
    """
    repo = load(root)
    config = settings.resolve(posargs, prog=prog)
    selection = pipeline.select(repo, config, names)
    _notes(selection.notes)
    if config.dry_run:
        build_plan = pipeline.plan(repo, config, selection.targets, push=push, offline=True)
        report.print_plan(pipeline.describe(repo, build_plan), config.json)
        return []
    build_plan = pipeline.plan(repo, config, selection.targets, push=push)
    return _run(repo, config, build_plan, report.summary)


def _run(
    repo: Repository, config: settings.Settings, build_plan: Plan, summary: Callable[[Sequence[Outcome]], None]
) -> list[Outcome]:
    """Execute with live progress; print the summary; write the --report and --profile files the user asked for."""
    with report.progress(len(build_plan.actions)) as progress:
        outcomes = pipeline.execute(repo, config, build_plan, observer=progress)
    summary(outcomes)
    report.notes(outcomes)
    if config.report:
        cache = config.remote_cache
        remote = {"location": cache.name, "mode": config.remote_cache_mode} if cache else None
        report.write_report(config.report, outcomes, remote)
    if config.profile:
        report.write_profile(config.profile, outcomes)
    if config.json:
        print(json.dumps(report.outcomes_json(outcomes), indent=2))
    pipeline.raise_for_failures(outcomes)
    return outcomes


@for_people
def image(posargs: Sequence[str], component: str) -> None:
    build_images(posargs, [component], prog=f"nox -s {component}-image --")


@for_people
def images(posargs: Sequence[str]) -> None:
    build_images(posargs, [], prog="nox -s images --")


@for_people
def image_push(posargs: Sequence[str], component: str) -> None:
    build_images(posargs, [component], prog=f"nox -s {component}-image-push --", push=True)


@for_people
def plan(posargs: Sequence[str]) -> None:
    """The image build's plan without running it: every component on every platform it declares (or those of
    --component, --platform). ``--matrix``: the CI matrix, one cell per (component, platform)."""
    repo = load()
    config = settings.resolve(posargs, prog="nox -s plan --")
    selection = pipeline.select(repo, config, every_platform=True)
    _notes(selection.notes)
    builder_names = pipeline.ci_builders(config, selection.targets)
    build_plan = pipeline.plan(repo, config, selection.targets, offline=True, builder_names=builder_names)
    data = pipeline.describe(repo, build_plan)
    if not config.matrix:
        report.print_plan(data, config.json)
        return
    matrix = json.dumps({"include": data["matrix"]}, separators=(",", ":"))
    print(matrix, flush=True)
    if config.github_output:
        target = os.environ.get("GITHUB_OUTPUT")
        if not target:
            raise UserError("--github-output needs GITHUB_OUTPUT (set by GitHub Actions) to name a file")
        with open(target, "a") as handle:
            handle.write(f"matrix={matrix}\n")


def build_binaries(
    posargs: Sequence[str],
    names: Sequence[str],
    *,
    prog: str,
    archives: bool = False,
    every_platform: bool = False,
    root: Path | None = None,
) -> list[Outcome]:
    """The binary and archive sessions' work (upstream's ``*-binary``, ``*-archive``), callable from tests."""
    repo = load(root)
    config = settings.resolve(posargs, prog=prog)
    choose = pipeline.select_archives if archives else pipeline.select_binaries
    selection = choose(repo, config, names, every_platform=every_platform)
    _notes(selection.notes)
    build_plan = pipeline.plan_binaries(repo, selection.targets, archives=archives, offline=config.dry_run)
    if config.dry_run:
        report.print_plan(pipeline.describe(repo, build_plan), config.json)
        return []
    return _run(repo, config, build_plan, report.files_summary)


@for_people
def binary(posargs: Sequence[str], component: str) -> None:
    build_binaries(posargs, [component], prog=f"nox -s {component}-binary --")


@for_people
def binaries(posargs: Sequence[str]) -> None:
    build_binaries(posargs, [], prog="nox -s binaries --", every_platform=True)


@for_people
def binary_archive(posargs: Sequence[str], component: str) -> None:
    build_binaries(posargs, [component], prog=f"nox -s {component}-binary-archive --", archives=True)


@for_people
def binary_archives(posargs: Sequence[str]) -> None:
    build_binaries(posargs, [], prog="nox -s binary-archives --", archives=True, every_platform=True)


@for_people
def version(posargs: Sequence[str]) -> None:
    """Upstream's ``make version``: the repository version ($ACN_VERSION, else git describe)."""
    settings.no_options(posargs, prog="nox -s version --")
    print(versioning.repo_version(discover.find_root()), flush=True)


@for_people
def revision(posargs: Sequence[str]) -> None:
    """Upstream's ``make revision``: $REVISION, else the short commit hash."""
    settings.no_options(posargs, prog="nox -s revision --")
    print(versioning.short_revision(discover.find_root()), flush=True)


@for_people
def component_version(posargs: Sequence[str], component: str) -> None:
    """Upstream's ``make <c>-version``: the component's version variable, else its version rule."""
    settings.no_options(posargs, prog=f"nox -s {component}-version --")
    repo = load()
    print(versioning.raw_version(repo.component(component), repo.root)[0], flush=True)


@for_people
def image_name(posargs: Sequence[str], component: str) -> None:
    """Upstream's ``<c>-image-name``: the bare image name (the registry is in ``-image-name-and-tag``)."""
    settings.no_options(posargs, prog=f"nox -s {component}-image-name --")
    print(load().component(component).image, flush=True)


@for_people
def image_name_and_tag(posargs: Sequence[str], component: str) -> None:
    repo = load()
    config = settings.resolve(posargs, prog=f"nox -s {component}-image-name-and-tag --")
    for target in pipeline.select(repo, config, [component]).targets:
        print(target.reference, flush=True)


@for_people
def image_pull(posargs: Sequence[str], component: str) -> None:
    from .image import builders
    from .registry import publish

    repo = load()
    config = settings.resolve(posargs, prog=f"nox -s {component}-image-pull --")
    targets = pipeline.select(repo, config, [component]).targets
    if config.dry_run:
        for target in targets:
            report.console.print(f"would pull {target.reference} with {config.builder}")
        return
    builder = builders.select(config.builder)
    layout = Layout(repo.root)
    for target in targets:
        builder.check_platform(target.platform)
        publish.pull(builder, target.reference, target.platform, layout.log(f"pull:{target.key}"))
        report.console.print(f"pulled {target.reference} with {builder.name}")


def build_lists(
    posargs: Sequence[str], names: Sequence[str], *, push: bool, prog: str, root: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Verify every child of every list first; only then write (and with ``push``, publish) the lists."""
    from .registry import lists

    repo = load(root)
    config = settings.resolve(posargs, prog=prog)
    selection = pipeline.list_requests(repo, config, names, os.environ.get("PLATFORMS"))
    _notes(selection.notes)
    requests = selection.targets
    publishing = push or config.push
    if config.dry_run:
        report.print_list_plan(requests, push=publishing)
        return {}
    results = lists.publish(lists.prepare(requests, append=config.append), Layout(repo.root), push=publishing)
    report.print_lists(results)
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


def archive_lists(posargs: Sequence[str], names: Sequence[str], *, prog: str, root: Path | None = None) -> list[Path]:
    """Upstream's ``<c>-skopeo-archive``: each list with its images as ``$IMAGE_ARCHIVE_DIR/<image>-<version>.tar``
    (default ``output/images``)."""
    from .registry import publish

    repo = load(root)
    config = settings.resolve(posargs, prog=prog)
    components, _ = pipeline.select_components(repo, config, names)
    layout = Layout(repo.root)
    directory = repo.root / config.image_archive_dir if config.image_archive_dir else layout.images
    written = []
    for component in components:
        version = versioning.component_version(component, repo.root)
        reference = naming.list_reference(config.registry, component.image, version)
        path = directory / f"{component.image}-{version}.tar"
        if config.dry_run:
            report.console.print(f"would archive {reference} -> {layout.relative(path)}")
            continue
        publish.archive_list(reference, path, layout.log(f"archive:{component.name}"))
        report.console.print(f"archived {reference} -> {layout.relative(path)}")
        written.append(path)
    return written


@for_people
def manifest_archive(posargs: Sequence[str], component: str) -> None:
    archive_lists(posargs, [component], prog=f"nox -s {component}-manifest-archive --")


@for_people
def manifest_archives(posargs: Sequence[str]) -> None:
    archive_lists(posargs, [], prog="nox -s manifest-archives --")


@for_people
def qemu_user_static(posargs: Sequence[str]) -> None:
    from .image import emulation

    report.console.print(emulation.register())


@for_people
def windows_standin_bases(posargs: Sequence[str]) -> None:
    """Push stand-ins for the declared Windows bases; print the BASE_IMAGE_OVERRIDES value on stdout."""
    from .registry import standin

    repo = load()
    config = settings.resolve(posargs, prog="nox -s windows-standin-bases --")
    if not config.registry.is_loopback:
        report.console.print(f"note: pushing stand-ins to {config.registry}, which is not a loopback registry")
    print(" ".join(standin.push_for_repository(repo, config.registry)), flush=True)


@for_people
def registry(posargs: Sequence[str]) -> None:
    """Start, stop or show the local registry (Debian docker-registry on loopback, state in .acnbuild/registry)."""
    from .registry import local

    parser = argparse.ArgumentParser(prog="nox -s registry --")
    parser.add_argument("action", nargs="?", default="start", choices=("start", "stop", "status"))
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(list(posargs))
    directory = args.dir or Layout(discover.find_root()).local_registry
    if args.action == "start":
        running = local.start(directory, args.port)
        report.console.print(f"registry on {running.host} (data in {directory}); stop: nox -s registry -- stop")
        print(running.host, flush=True)
    elif args.action == "stop":
        stopped = local.stop(directory)
        report.console.print("registry stopped" if stopped else "no registry was running")
    else:
        found = local.status(directory)
        print(found.host if found else "stopped", flush=True)


@for_people
def base_lock(posargs: Sequence[str]) -> None:
    """``check`` (the default) that BUILD.yaml and the base lock agree; ``refresh`` the lock from the registries."""
    from . import baselock
    from .errors import UserError
    from .references import Reference

    parser = argparse.ArgumentParser(prog="nox -s base-lock --")
    parser.add_argument("action", nargs="?", default="check", choices=("check", "refresh"))
    parser.add_argument("bases", nargs="*", metavar="NAME:TAG", help="refresh only these bases (default: all)")
    args = parser.parse_args(list(posargs))
    root = discover.find_root()
    lock = baselock.BaseLock.read(root)
    if args.action == "check":
        problems = discover.lock_problems(discover.load_repository(root, lock), lock)
        if problems:
            raise UserError("\n".join(problems), hint="nox -s base-lock -- refresh (registries reachable), or fix it")
        report.console.print(f"{lock.display} pins every base image the components use ({len(lock.entries)})")
        return
    wanted = []
    for base, platform, where in discover.declared_bases(discover.load_repository(root, lock.lenient())):
        parsed = Reference.parse(base)
        if parsed.tag is None:
            raise UserError(f"{where}: {base} has no tag to look up", hint="name bases name:tag")
        key = f"{parsed.name}:{parsed.tag}"
        if parsed.digest and key not in lock.entries:
            report.console.print(f"note: {where}: {base} is pinned in BUILD.yaml itself; left as it is")
            continue
        if not args.bases or key in args.bases:
            wanted.append((key, platform))
    unknown = sorted(set(args.bases) - {key for key, _ in wanted})
    if unknown:
        raise UserError(f"no component uses the base {', '.join(unknown)}", hint="name bases as BUILD.yaml does")
    for key, (old, new) in sorted(baselock.refresh(lock, wanted).items()):
        change = "unchanged" if old == new else f"{old or 'not pinned'} -> {new}"
        report.console.print(f"{key}: {change}")
    print(lock.display, flush=True)


@for_people
def verify_reproducible(posargs: Sequence[str]) -> None:
    """``images`` twice, each in a fresh clone at another path; any difference in the results fails (exit 1)."""
    from . import reproducible
    from .errors import BuildFailed
    from .image import builders

    config = settings.resolve(posargs, prog="nox -s verify-reproducible --")  # bad options fail before any build
    builder = builders.select_for_plan(config.builder)
    image_ids = builder is not None and builder.capabilities.reproducible
    first, second = reproducible.run_twice(discover.find_root(), posargs)
    rows = reproducible.compare(first, second, image_ids=image_ids)
    report.print_reproducibility([(r.action, r.what, r.first, r.second, r.same) for r in rows])
    if not image_ids:
        report.console.print(
            f"note: {config.builder} images stamp their build time: image ids were not compared (their binaries "
            "and SBOMs were); buildah and podman images are compared by id"
        )
    differ = [r for r in rows if not r.same]
    if differ:
        raise BuildFailed(f"{len(differ)} of {len(rows)} results differ between two clean builds: "
                          + ", ".join(f"{r.action} {r.what}" for r in differ))  # fmt: skip
    report.console.print(f"reproducible: {len(rows)} results identical in both builds")
