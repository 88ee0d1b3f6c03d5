"""Image names and tags exactly as upstream composes them (reference/acn-image-build.md §2)."""

from __future__ import annotations

from .platforms import Platform
from .references import Reference, Registry, join


def platform_tag(platform: Platform, version: str) -> str:
    """``<os>-<arch>-<version>``: the tag of one platform image, and the VERSION build arg."""
    return f"{platform.tag_prefix}-{version}"


def image_name(registry: Registry, image: str) -> str:
    """``<registry>/<image>``: what ``<c>-image-name-and-tag`` prints before the tag."""
    return f"{registry}/{image}"


def image_reference(registry: Registry, image: str, tag: str) -> Reference:
    return join(registry, image, tag)


def list_reference(registry: Registry, image: str, version: str) -> Reference:
    """Upstream's manifest tag: the bare version."""
    return join(registry, image, version)
