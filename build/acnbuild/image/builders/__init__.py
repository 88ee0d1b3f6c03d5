"""Container builders behind one interface; ``select`` picks and checks one up front."""

from __future__ import annotations

from ...errors import UserError
from .base import Builder, BuilderMode, BuildRequest, BuiltImage, Capabilities
from .containers import ContainersBuilder
from .docker import DockerBuilder

NAMES = ("docker", "podman", "buildah")


def select(name: str, *, engine: bool = True) -> Builder:
    """The builder called ``name``; with ``engine`` (the default) its engine must answer now (exit 2 if not)."""
    if name == "docker":
        return DockerBuilder.detect(engine=engine)
    if name in NAMES:
        return ContainersBuilder.detect(name)
    raise UserError(f"unknown container builder {name!r}", hint="use one of: " + ", ".join(NAMES))


def select_for_plan(name: str) -> Builder | None:
    """The builder as far as it can be known without contacting an engine; None when it is not installed."""
    try:
        return select(name, engine=False)
    except UserError:
        return None


__all__ = [
    "NAMES",
    "BuildRequest",
    "Builder",
    "BuilderMode",
    "BuiltImage",
    "Capabilities",
    "ContainersBuilder",
    "DockerBuilder",
    "select",
    "select_for_plan",
]
