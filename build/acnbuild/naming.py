"""Image names, tags and archive names exactly as upstream composes them (reference/acn-image-build.md §2)."""

from __future__ import annotations

from .platforms import Platform
from .references import Reference, Registry, join

# Upstream's ARCHIVE_EXT: tgz, and zip when GOOS=windows.
ARCHIVE_EXTENSIONS = {"linux": "tgz", "windows": "zip"}


def platform_tag(platform: Platform, version: str) -> str:
    """``<os>-<arch>-<version>``: the tag of one platform image, and the VERSION build arg."""
    return f"{platform.tag_prefix}-{version}"


def image_reference(registry: Registry, image: str, tag: str) -> Reference:
    return join(registry, image, tag)


def list_reference(registry: Registry, image: str, version: str) -> Reference:
    """Upstream's manifest tag: the bare version."""
    return join(registry, image, version)


def archive_file_name(pattern: str, platform: Platform, version: str) -> str:
    """A binary archive's file name: the pattern with ``{os}``, ``{arch}`` and ``{version}`` filled in, and
    upstream's extension for the OS (``azure-cns-windows-amd64-v1.8.12.zip``)."""
    name = pattern.replace("{os}", platform.os).replace("{arch}", platform.arch).replace("{version}", version)
    return f"{name}.{ARCHIVE_EXTENSIONS[platform.os]}"
