"""Component versions from git tags, with upstream's rules (reference/acn-image-build.md §2)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import UserError
from .model import Component, VersionRule

# Tag families that belong to individually versioned tools; the repository version ignores them.
REPO_DESCRIBE_EXCLUDES = (
    "cilium-log-collector*",
    "azure-iptables-monitor*",
    "azure-ip-masq-merger*",
    "azure-ipam*",
    "dropgz*",
    "zapai*",
    "ipv6-hp-bpf*",
    "azure-block-iptables*",
)
_TAG_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# Upstream's repository version (``ACN_VERSION ?= $(shell git describe ...)``): the default of every
# ``rule: repo`` component's own variable (``CNS_VERSION ?= $(ACN_VERSION)``).
REPO_VERSION_VARIABLE = "ACN_VERSION"
# Upstream's ``REVISION ?= $(shell git rev-parse --short HEAD)``.
REVISION_VARIABLE = "REVISION"
REPO_RULE = VersionRule("repo")


def override_variables(component: Component) -> tuple[str, ...]:
    """Environment variables that pin a component's version, the first one set wins (upstream's ``?=`` chain).

    An empty value counts as unset (upstream would produce an empty version, which no tag can hold).
    """
    rule = component.version_rule
    own = (rule.variable,) if rule.variable else ()
    return (*own, REPO_VERSION_VARIABLE) if rule.rule == "repo" else own


def describe_args(rule: VersionRule) -> list[str]:
    if rule.rule == "repo":
        return ["describe", "--tags", "--always", *(f"--exclude={p}" for p in REPO_DESCRIBE_EXCLUDES)]
    return ["describe", f"--match={rule.match}", "--tags", "--always"]


def version_from_describe(rule: VersionRule, described: str) -> str:
    """Apply upstream's ``notdir`` to component-tag versions (azure-ipam/v0.4.1-2-g… → v0.4.1-2-g…)."""
    return described.rsplit("/", 1)[-1] if rule.rule == "component-tag" else described


def raw_version(component: Component, root: Path, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The version exactly as upstream's ``<c>-version`` prints it, and where it came from (for messages)."""
    env = os.environ if env is None else env
    for variable in override_variables(component):
        if env.get(variable):
            return env[variable], f"${variable}"
    described = _describe(root.resolve(), component.version_rule)
    return version_from_describe(component.version_rule, described), f"git describe in {root}"


def component_version(component: Component, root: Path, env: Mapping[str, str] | None = None) -> str:
    """The version a component's tags, lists and binaries carry; refused when no tag can hold it."""
    version, source = raw_version(component, root, env)
    return _checked(version, source, override_variables(component))


def repo_version(root: Path, env: Mapping[str, str] | None = None) -> str:
    """Upstream's ``version`` recipe: ``$ACN_VERSION``, else the repository-wide describe."""
    env = os.environ if env is None else env
    return env.get(REPO_VERSION_VARIABLE) or _describe(root.resolve(), REPO_RULE)


def short_revision(root: Path, env: Mapping[str, str] | None = None) -> str:
    """Upstream's ``revision`` recipe: ``$REVISION``, else ``git rev-parse --short HEAD``."""
    env = os.environ if env is None else env
    return env.get(REVISION_VARIABLE) or _git(root.resolve(), "rev-parse", "--short", "HEAD")


def tag_override(component: Component, env: Mapping[str, str] | None = None) -> str | None:
    """The platform image tag set by the component's ``tag_variable`` (``CNS_PLATFORM_TAG=...``), if any."""
    env = os.environ if env is None else env
    variable = component.tag_variable
    if not variable or not env.get(variable):
        return None
    tag = env[variable]
    if not _TAG_SAFE.match(tag):
        raise UserError(
            f"${variable}={tag!r} cannot be used as an image tag",
            hint="tags allow letters, digits, '_', '.' and '-' (at most 128), and start with a letter or digit",
        )
    return tag


def _checked(version: str, source: str, variables: tuple[str, ...] = ()) -> str:
    if not _TAG_SAFE.match(version):
        pin = f"set {variables[0]}=... " if variables else ""
        raise UserError(
            f"version {version!r} from {source} cannot be used in an image tag",
            hint="tags allow letters, digits, '_', '.' and '-' (at most 128); a '/' means a prefixed "
            f"tag family is not excluded: {pin}or exclude that family",
        )
    return version


def prefetch(components: Iterable[Component], root: Path, env: Mapping[str, str] | None = None) -> None:
    """Run the ``git describe`` calls these components need (and the revision query) side by side, so a build of
    several components waits for git once; the answers are what ``component_version`` and ``revision`` return."""
    env = os.environ if env is None else env
    rules = {c.version_rule for c in components if not any(env.get(v) for v in override_variables(c))}
    resolved = root.resolve()
    with ThreadPoolExecutor(max_workers=len(rules) + 1) as pool:
        futures: list[Future[object]] = [pool.submit(_describe, resolved, rule) for rule in rules]
        futures.append(pool.submit(revision, resolved, env))
        for future in futures:
            future.exception()  # errors surface (with their message) when the value is asked for


@cache
def _describe(root: Path, rule: VersionRule) -> str:
    """One ``git describe`` per rule and checkout per process: every image and payload binary asks."""
    return _git(root, *describe_args(rule))


@dataclass(frozen=True)
class Revision:
    commit: str
    source_date_epoch: int


@cache
def _revision_cached(root: Path, sde_env: str | None) -> Revision:
    commit, _, committed = _git(root, "log", "-1", "--format=%H %ct").partition(" ")
    epoch = int(sde_env) if sde_env else int(committed)
    return Revision(commit=commit, source_date_epoch=epoch)


def revision(root: Path, env: Mapping[str, str] | None = None) -> Revision:
    """The commit and SOURCE_DATE_EPOCH (env wins, else the last commit's time)."""
    env = os.environ if env is None else env
    sde = env.get("SOURCE_DATE_EPOCH")
    if sde and not sde.isdigit():
        raise UserError(
            f"SOURCE_DATE_EPOCH={sde!r} is not a whole number of seconds",
            hint="set it to a Unix time, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it",
        )
    return _revision_cached(root.resolve(), sde or None)


def _git(root: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"},
        )
    except FileNotFoundError:
        raise UserError("git is not installed", hint="apt-get install git, or set the version variables") from None
    if result.returncode != 0:
        raise UserError(
            f"`git {' '.join(args)}` failed in {root}: {result.stderr.strip()}",
            hint="build from a git checkout with at least one commit, or set the version variables (ACN_VERSION, "
            "AZURE_IPAM_VERSION, ...; see README) and SOURCE_DATE_EPOCH",
        )
    return result.stdout.strip()
