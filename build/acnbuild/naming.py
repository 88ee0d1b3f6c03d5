"""Image names and tags exactly as upstream composes them (reference/acn-image-build.md §2)."""

from __future__ import annotations

import re

from .errors import UserError
from .platforms import Platform

_REGISTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def platform_tag(platform: Platform, version: str) -> str:
    """``<os>-<arch>-<version>``: the tag of one platform image, and the VERSION build arg."""
    return f"{platform.tag_prefix}-{version}"


def image_name(registry: str, image: str) -> str:
    return f"{registry}/{image}"


def image_reference(registry: str, image: str, tag: str) -> str:
    return f"{image_name(registry, image)}:{tag}"


def check_registry(registry: str) -> str:
    if not _REGISTRY.match(registry):
        raise UserError(
            f"image registry {registry!r} is not a valid registry host[:port][/path]",
            hint="e.g. acnpublic.azurecr.io or 127.0.0.1:5000/acn (set IMAGE_REGISTRY or --registry)",
        )
    return registry
