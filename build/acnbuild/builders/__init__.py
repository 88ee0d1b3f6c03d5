"""Container builders behind one interface; ``select`` picks and checks one up front."""

from __future__ import annotations

from .base import Builder, BuildRequest, BuiltImage
from .containers import ContainersBuilder
from .docker import DockerBuilder


def select(name: str) -> Builder:
    if name == "docker":
        return DockerBuilder.detect()
    return ContainersBuilder.detect(name)


__all__ = ["BuildRequest", "Builder", "BuiltImage", "ContainersBuilder", "DockerBuilder", "select"]
