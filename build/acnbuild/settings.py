"""Build settings from the upstream environment variables and session posargs (posargs win)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .image.bases import BaseOverrides
from .image.builders import NAMES as BUILDERS
from .platforms import Platform, host_arch
from .references import Reference, Registry

DEFAULT_REGISTRY = "acnpublic.azurecr.io"
DEFAULT_BUILDER = "docker"
REMOTE_CACHE_MODES = ("read", "readwrite")


@dataclass(frozen=True)
class Settings:
    platforms: tuple[Platform, ...]
    registry: Registry
    builder: str
    dry_run: bool = False
    json: bool = False
    jobs: int = 0
    components: tuple[str, ...] = field(default=())
    base_overrides: BaseOverrides = field(default_factory=BaseOverrides)
    skus: tuple[str, ...] = ()
    explicit_platforms: bool = False
    append: bool = False
    push: bool = False
    remote_cache: Reference | None = None  # <registry>/<repository>, no tag
    remote_cache_mode: str = "readwrite"
    report: Path | None = None
    profile: Path | None = None
    builder_explicit: bool = False  # --builder or CONTAINER_BUILDER chose it (else the default)
    image_archive_dir: Path | None = None  # IMAGE_ARCHIVE_DIR: where manifest archives go (else output/images)
    matrix: bool = False
    github_output: bool = False

    @property
    def platform(self) -> Platform:
        return self.platforms[0]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}", hint=self.format_usage().strip())


def parser(prog: str) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Options after `--` win over the environment variables named below.")
    p.add_argument("--platform", action="append", help="os/arch[/variant] (repeatable); env PLATFORM")
    p.add_argument("--registry", help="image registry; env IMAGE_REGISTRY")
    p.add_argument("--builder", help="docker, podman or buildah; env CONTAINER_BUILDER")
    p.add_argument("--component", action="append", help="limit to these components (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--base-override",
        action="append",
        metavar="REPO=REF",
        help="use REF (pinned) for bases from REPO (repeatable); env BASE_IMAGE_OVERRIDES",
    )
    p.add_argument("--sku", action="append", help="only these Windows SKUs (repeatable); env OS_SKU_WIN")
    p.add_argument("--append", action="store_true", help="manifest: merge into the existing remote list")
    p.add_argument("--push", action="store_true", help="manifest: push the list after building it")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="parallel actions, 1 or more (default: 2 x CPU count; compiles: one per CPU)")  # fmt: skip
    p.add_argument("--remote-cache", metavar="REGISTRY/REPOSITORY",
                   help="fetch and store outputs by fingerprint there; env ACNBUILD_REMOTE_CACHE")  # fmt: skip
    p.add_argument("--remote-cache-mode", choices=REMOTE_CACHE_MODES,
                   help="read: fetch only (untrusted runs); readwrite (default): also store what ran; "
                   "env ACNBUILD_REMOTE_CACHE_MODE")  # fmt: skip
    p.add_argument("--report", type=Path, metavar="FILE", help="write the JSON report of every action to FILE")
    p.add_argument("--profile", type=Path, metavar="FILE",
                   help="write a Chrome trace (chrome://tracing, Perfetto) of the build to FILE")  # fmt: skip
    p.add_argument("--matrix", action="store_true", help='plan: print the CI matrix ({"include": [...]})')
    p.add_argument(
        "--github-output", action="store_true", help="plan --matrix: also write matrix=... to $GITHUB_OUTPUT"
    )
    return p


def remote_cache(text: str | None, source: str) -> Reference | None:
    """``<registry>/<repository>`` (no tag): where the remote cache keeps outputs; None when not set."""
    if not text:
        return None
    registry = Registry.parse(text, source=source)
    if not registry.path:
        raise UserError(
            f"{source}={text!r} names a registry but no repository",
            hint="give <registry>/<repository>, e.g. 127.0.0.1:5000/acnbuild-cache or myregistry.azurecr.io/cache",
        )
    return Reference(registry.address, registry.path)


def remote_cache_mode(text: str | None, source: str) -> str:
    mode = text or "readwrite"
    if mode not in REMOTE_CACHE_MODES:
        raise UserError(f"{source}={mode!r} is not a remote cache mode", hint="use read or readwrite")
    return mode


def default_jobs() -> int:
    """Image builds and pushes mostly wait on an engine or a registry, so twice as many as there are CPUs run at
    once; the CPU-bound compiles are held to one per CPU by the pipeline's resource limits."""
    return 2 * (os.cpu_count() or 1)


def default_platform(env: Mapping[str, str]) -> tuple[str, str]:
    """The platform and the variables it came from: ``PLATFORM ?= $(OS)/$(ARCH)`` with ``OS ?= $(GOOS)`` and
    ``ARCH ?= $(GOARCH)``, as upstream; GOOS/GOARCH default to the host (upstream asks ``go env``)."""
    if env.get("PLATFORM"):
        return env["PLATFORM"], "PLATFORM"
    os_name = env.get("OS") or env.get("GOOS") or "linux"
    arch = env.get("ARCH") or env.get("GOARCH") or host_arch()
    sources = [v for v in ("OS", "GOOS", "ARCH", "GOARCH") if env.get(v)]
    return f"{os_name}/{arch}", "/".join(sources) or "the host"


def _platform(text: str, source: str) -> Platform:
    try:
        return Platform.parse(text)
    except UserError as error:
        raise UserError(f"{error.message} (from {source})", hint=error.hint) from None


def resolve(posargs: Sequence[str], *, prog: str = "nox", env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    args = parser(prog).parse_args(list(posargs))
    if args.platform:
        platforms = tuple(dict.fromkeys(_platform(t, "--platform") for t in args.platform))
    else:
        platforms = (_platform(*default_platform(env)),)
    registry_source = "--registry" if args.registry else "IMAGE_REGISTRY"
    registry = Registry.parse(args.registry or env.get("IMAGE_REGISTRY") or DEFAULT_REGISTRY, source=registry_source)
    builder = args.builder or env.get("CONTAINER_BUILDER") or DEFAULT_BUILDER
    if builder not in BUILDERS:
        raise UserError(
            f"unknown container builder {builder!r} (from {'--builder' if args.builder else 'CONTAINER_BUILDER'})",
            hint="use one of: " + ", ".join(BUILDERS),
        )
    if args.base_override:
        overrides = BaseOverrides.parse(args.base_override, "--base-override")
    else:
        overrides = BaseOverrides.parse(_words(env.get("BASE_IMAGE_OVERRIDES", "")), "BASE_IMAGE_OVERRIDES")
    skus = tuple(args.sku or _words(env.get("OS_SKU_WIN", "")))
    archive_dir = Path(env["IMAGE_ARCHIVE_DIR"]) if env.get("IMAGE_ARCHIVE_DIR") else None
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"{prog} -j {args.jobs}: the number of parallel actions must be 1 or more",
                        hint="leave -j out for the default (two per CPU)")  # fmt: skip
    cache_source = "--remote-cache" if args.remote_cache else "ACNBUILD_REMOTE_CACHE"
    cache = remote_cache(args.remote_cache or env.get("ACNBUILD_REMOTE_CACHE"), cache_source)
    mode_source = "--remote-cache-mode" if args.remote_cache_mode else "ACNBUILD_REMOTE_CACHE_MODE"
    mode = remote_cache_mode(args.remote_cache_mode or env.get("ACNBUILD_REMOTE_CACHE_MODE"), mode_source)
    return Settings(
        platforms=platforms,
        registry=registry,
        builder=builder,
        dry_run=args.dry_run,
        json=args.json,
        jobs=args.jobs or default_jobs(),
        components=tuple(args.component or ()),
        base_overrides=overrides,
        skus=skus,
        explicit_platforms=bool(args.platform),
        append=args.append,
        push=args.push,
        remote_cache=cache,
        remote_cache_mode=mode,
        report=args.report,
        profile=args.profile,
        builder_explicit=bool(args.builder or env.get("CONTAINER_BUILDER")),
        image_archive_dir=archive_dir,
        matrix=args.matrix,
        github_output=args.github_output,
    )


def no_options(posargs: Sequence[str], *, prog: str) -> None:
    """Sessions that take no options (``version``, ``<c>-image-name``): refuse any, as usage errors."""
    _Parser(prog=prog, description="This session takes no options.").parse_args(list(posargs))


def _words(text: str) -> list[str]:
    return text.replace(",", " ").split()
