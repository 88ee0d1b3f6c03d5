"""Every directory and file name the build writes, in one place.

Per user (shared by checkouts): ``ACNBUILD_CACHE`` (default ``~/.cache/acnbuild``) holds toolchains and the Go
build cache. Per checkout: ``.acnbuild/`` (records, logs, staged contexts, caches; git-ignored) and ``output/``
(build products, laid out as upstream's ``output/<goos>_<goarch>/``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .platforms import Platform

STATE_DIR = ".acnbuild"
OUTPUT_DIR = "output"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(identifier: str) -> str:
    """The one rule that turns an action id (``image:cns:linux/amd64:docker``) into a file name."""
    return _UNSAFE.sub("_", identifier).strip("_") or "_"


def user_cache(env: Mapping[str, str] | None = None) -> Path:
    """Shared across checkouts and sessions: toolchains and GOCACHE. ``ACNBUILD_CACHE`` overrides."""
    env = os.environ if env is None else env
    if env.get("ACNBUILD_CACHE"):
        return Path(env["ACNBUILD_CACHE"]).resolve()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "acnbuild"


@dataclass(frozen=True)
class Layout:
    """Where one checkout's build state and products live."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def records(self) -> Path:
        return self.state / "records"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def locks(self) -> Path:
        """One lock per action, so concurrent runs in this checkout never do the same work at once."""
        return self.state / "locks"

    @property
    def caches(self) -> Path:
        """Derived data that is safe to lose (validated BUILD.yaml digests, go list answers)."""
        return self.state / "cache"

    @property
    def contexts(self) -> Path:
        return self.state / "contexts"

    @property
    def installer_stages(self) -> Path:
        return self.state / "dropgz"

    @property
    def local_registry(self) -> Path:
        return self.state / "registry"

    @property
    def output(self) -> Path:
        return self.root / OUTPUT_DIR

    def log(self, identifier: str) -> Path:
        return self.logs / f"{file_name(identifier)}.log"

    def platform_dir(self, platform: Platform) -> Path:
        """``output/<goos>_<goarch>/``, as upstream's binary recipes."""
        return self.output / f"{platform.os}_{platform.arch}"

    def binary(self, name: str, platform: Platform, *, directory: str) -> Path:
        """``output/<goos>_<goarch>/<directory>/<name>[.exe]``: upstream's ``*-binary`` output, where ``directory``
        is the component's build directory (``cns``, ``bpf-prog/ipv6-hp-bpf``)."""
        return self.platform_dir(platform) / directory / (name + platform.exe_suffix)

    def installer(self, component: str, platform: Platform) -> Path:
        """Each component's installer embeds its own payload: ``output/<os>_<arch>/dropgz-<component>/dropgz``."""
        return self.platform_dir(platform) / f"dropgz-{component}" / ("dropgz" + platform.exe_suffix)

    @property
    def images(self) -> Path:
        """OCI archives of images (``<image>-<tag>.tar``)."""
        return self.output / "images"

    @property
    def sboms(self) -> Path:
        """Each image's SBOM (``<image>-<tag>.cdx.json``), byte for byte as the image holds it and as attached."""
        return self.output / "sbom"

    @property
    def manifests(self) -> Path:
        """Assembled manifest lists, byte for byte as pushed."""
        return self.output / "manifests"

    def make_room(self, directory: Path) -> Path:
        """Create ``directory`` under ``output/``, removing a file an earlier layout left where a directory now
        goes (binaries moved from ``output/<os>_<arch>/<name>`` to ``output/<os>_<arch>/<dir>/<name>``)."""
        output = self.output.resolve()
        for parent in reversed([directory, *directory.parents]):
            if parent.resolve().is_relative_to(output) and parent.is_file() and not parent.is_symlink():
                parent.unlink()
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def relative(self, path: Path) -> str:
        """``path`` relative to the checkout when it is inside it, for messages and records."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)
