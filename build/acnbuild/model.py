"""Immutable, typed targets built from validated BUILD.yaml data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from .errors import UserError
from .platforms import Platform


class ActionKind(StrEnum):
    """What an action of the plan produces."""

    GO_BINARY = "go-binary"
    INSTALLER = "installer"
    IMAGE = "image"
    SMOKE = "smoke"
    PUSH = "push"
    ARCHIVE = "archive"  # a .tgz/.zip of a component's binaries for one platform


@dataclass(frozen=True)
class VersionRule:
    """``repo``: the repository-wide describe; ``component-tag``: only tags matching ``match``.

    ``variable`` names the upstream variable that pins the version (``CNS_VERSION``); for the ``repo`` rule its
    default is the repository's own variable (``ACN_VERSION``), as upstream's ``CNS_VERSION ?= $(ACN_VERSION)``.
    """

    rule: str
    match: str | None = None
    variable: str | None = None


@dataclass(frozen=True)
class GoBinary:
    name: str
    package: str  # relative to the repository root, e.g. ./components/cns/cmd/azure-cns
    version_vars: tuple[str, ...] = ()
    x_vars: tuple[tuple[str, str], ...] = ()
    directory: str = ""  # upstream's build directory under output/<os>_<arch>/ (the component's output_dir)

    def file_name(self, platform: Platform) -> str:
        return self.name + platform.exe_suffix


@dataclass(frozen=True)
class WindowsSku:
    """A Windows OS release an image is built for: its tag suffix, ``os.version`` and base."""

    name: str
    os_version: str
    base: str


@dataclass(frozen=True)
class Smoke:
    """How an image is started before it may be pushed, and what it must answer."""

    args: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None  # replaces the image's own (e.g. a binary instead of powershell.exe)
    output: str | None = None  # a line stdout must hold; ``{version}`` is the image's version
    exit_code: int = 0
    timeout: float = 60.0

    def expected_output(self, version: str) -> str | None:
        return self.output.replace("{version}", version) if self.output is not None else None


@dataclass(frozen=True)
class OsImage:
    dockerfile: Path
    target: str
    base: str
    skus: tuple[WindowsSku, ...] = ()
    smoke: Smoke | None = None


@dataclass(frozen=True)
class Installer:
    """A dropgz installer: binaries (by name, from any component) and files embedded per platform."""

    binaries: tuple[str, ...]
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class BinaryArchive:
    """Upstream's per-platform archive of a component's binaries (``<c>-archive``), made in the component's
    output directory next to its binaries."""

    name: str  # without extension; {os}, {arch} and {version} are filled in
    platforms: tuple[Platform, ...]
    files: tuple[tuple[str, str], ...] = ()  # entry name -> file relative to the component


@dataclass(frozen=True)
class Component:
    name: str
    directory: Path
    build_file: Path
    image: str
    description: str
    version_rule: VersionRule
    binaries: tuple[GoBinary, ...]
    platforms: tuple[Platform, ...]
    images: dict[str, OsImage] = field(hash=False)
    files: tuple[str, ...] = ()
    build_args: tuple[tuple[str, str], ...] = ()
    installer: Installer | None = None
    # The BUILD.yaml as messages name it, and the 1-based line of a key path (e.g. ("images", "linux", "target")).
    display: str = ""
    line_of: Callable[[tuple[str | int, ...]], int] = field(default=lambda keys: 1, compare=False, repr=False)

    def where(self, *keys: str | int) -> str:
        """``components/<name>/BUILD.yaml:<line>``: where a message about ``keys`` should point."""
        return f"{self.display or self.build_file}:{self.line_of(tuple(keys))}"

    tag_variable: str | None = None  # upstream's <C>_PLATFORM_TAG: replaces the platform image's tag when set
    env_build_args: tuple[tuple[str, str], ...] = ()  # --build-arg NAME=$NAME, with this default when unset
    archive: BinaryArchive | None = None
    output_dir: str = ""  # upstream's <C>_BUILD_DIR under output/<os>_<arch>/: binaries and archive go there

    def supports(self, platform: Platform) -> bool:
        return any(p.same_target(platform) for p in self.platforms)

    def archives(self, platform: Platform) -> bool:
        """Does this component have a binary archive for ``platform``? (upstream makes some for Linux only)"""
        return self.archive is not None and any(p.same_target(platform) for p in self.archive.platforms)

    def unsupported(self, platform: Platform) -> UserError:
        """The error for asking this component for a platform it does not ship."""
        supported = ", ".join(str(p) for p in self.platforms)
        return UserError(
            f"{self.name} does not support platform {platform} (it declares: {supported})",
            hint=f"pick one of {supported}, or add it to `platforms` in {self.build_file}",
        )

    def require_platform(self, platform: Platform) -> None:
        if not self.supports(platform):
            raise self.unsupported(platform)

    def os_image(self, platform: Platform) -> OsImage:
        self.require_platform(platform)
        return self.images[platform.os]


@dataclass(frozen=True)
class Repository:
    """Every component of the monorepo, by name."""

    root: Path
    components: dict[str, Component] = field(hash=False)

    def component(self, name: str) -> Component:
        try:
            return self.components[name]
        except KeyError:
            known = ", ".join(sorted(self.components))
            raise UserError(f"unknown component {name!r}", hint=f"known components: {known}") from None

    def binary(self, name: str) -> tuple[Component, GoBinary]:
        """The component that declares binary ``name``, and the binary."""
        for component in self.components.values():
            for binary in component.binaries:
                if binary.name == name:
                    return component, binary
        raise UserError(f"no component declares a binary named {name!r}")
