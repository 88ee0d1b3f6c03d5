"""The one interface every container builder implements, and what each can do (its capabilities)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from ...platforms import Platform
from ...references import Reference


class BuilderMode(StrEnum):
    """How a builder runs: docker's three modes, and the daemonless containers tools."""

    BUILDX = "buildx"
    BUILDKIT = "buildkit"  # DOCKER_BUILDKIT=1 with a classic CLI that still has BuildKit
    LEGACY = "legacy"  # docker's deprecated builder
    DAEMONLESS = "daemonless"  # buildah, podman


@dataclass(frozen=True)
class Capabilities:
    """What callers may rely on, declared by the builder instead of inferred from its name."""

    windows_images: bool  # can build os=windows images on this Linux host
    store_os: frozenset[str]  # OSes whose images its own store can hold (a Linux dockerd: linux only)
    oci_archives: bool  # can write an image as an OCI archive
    buildkit: bool  # RUN --mount, per-stage platforms, cache mounts
    reproducible: bool  # same inputs give the same image id (fixed timestamps)
    engine_store: bool  # images land in the Docker engine, so `docker run` sees them


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: Path
    target: str
    platform: Platform
    reference: Reference
    build_args: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    source_date_epoch: int
    os_version: str | None = None  # Windows: the os.version the image config must carry
    archive: Path | None = None  # also write an OCI archive here
    insecure_pull: bool = False  # the base comes from a loopback registry served over plain HTTP


@dataclass(frozen=True)
class BuiltImage:
    reference: Reference
    image_id: str
    size: int | None = None
    archive: Path | None = None


class Builder(Protocol):
    """Build an image from a staged context; say up front what it can build."""

    name: str
    mode: BuilderMode

    @property
    def capabilities(self) -> Capabilities: ...

    def describe(self) -> str:
        """One line for people: which tool and mode builds the images."""
        ...

    def check_platform(self, platform: Platform) -> None:
        """Raise UserError (exit 2) with the remedy when this builder cannot build ``platform`` here."""
        ...

    def build(self, request: BuildRequest, log: Path) -> BuiltImage: ...

    def image_id(self, reference: Reference | str) -> str | None:
        """The local image id of ``reference`` (or of an image id), or None when the store lacks it."""
        ...

    def tag(self, image_id: str, reference: Reference) -> None: ...

    def size(self, reference: Reference) -> int | None: ...

    def push(self, reference: Reference, log: Path) -> str | None:
        """Push ``reference`` from the builder's store; return the manifest digest it pushed, if known."""
        ...

    def pull(self, reference: Reference, platform: Platform, log: Path) -> None: ...

    def push_image(self, image_id: str, destination: Reference, log: Path) -> str | None:
        """Push the image ``image_id`` to ``destination`` without leaving that name in the store (the remote
        cache's copy); return the manifest digest it pushed, if known."""
        ...


def common_build_flags(request: BuildRequest) -> list[str]:
    flags = ["--platform", str(request.platform), "--target", request.target, "-f", str(request.dockerfile)]
    flags += ["-t", str(request.reference)]
    for key, value in request.build_args:
        flags += ["--build-arg", f"{key}={value}"]
    for key, value in request.labels:
        flags += ["--label", f"{key}={value}"]
    return flags
