"""Multi-platform manifest lists, assembled through the registry API (any builder can have pushed the children).

Each entry carries os, architecture, variant (arm64 -> v8) and, for Windows SKUs, os.version, all checked against
the child's image config in the registry before anything is pushed. ``append`` merges into an existing list,
replacing only entries of the same platform, so runners building different platforms can publish one list.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BuildFailed, UserError
from ..references import Reference
from .client import DOCKER_LIST, DOCKER_MANIFEST, LIST_TYPES, OCI_INDEX, Manifest, RegistryClient


@dataclass(frozen=True)
class Child:
    """One image the list should point at, and the platform it must have."""

    reference: Reference
    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None


def platform_key(platform: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        platform.get("os", ""),
        platform.get("architecture", ""),
        platform.get("variant", "") or "",
        platform.get("os.version", "") or "",
    )


def describe_child(client: RegistryClient, child: Child) -> dict[str, Any]:
    """The list entry for ``child``, after checking it exists in the registry with the expected platform."""
    ref = child.reference
    manifest = client.get(ref)
    if manifest is None:
        raise UserError(
            f"{child.reference} is not in the registry",
            hint="push it first (nox -s <component>-image-push with the same PLATFORM), then build the list",
        )
    if manifest.media_type in LIST_TYPES:
        raise UserError(f"{child.reference} is itself a manifest list; a list entry must be a single image")
    config_digest = manifest.json["config"]["digest"]
    config = json.loads(client.blob(ref.repository, config_digest))
    found = (config.get("os"), config.get("architecture"))
    if found != (child.os, child.architecture):
        raise UserError(
            f"{child.reference} is {found[0]}/{found[1]} in the registry, expected {child.os}/{child.architecture}",
            hint="rebuild and push that platform image",
        )
    if child.os_version and config.get("os.version") != child.os_version:
        raise UserError(
            f"{child.reference} has os.version {config.get('os.version')!r}, expected {child.os_version!r}",
            hint="its base image must be the one declared for that Windows SKU",
        )
    platform: dict[str, Any] = {"architecture": child.architecture, "os": child.os}
    variant = config.get("variant") or child.variant
    if variant:
        platform["variant"] = variant
    os_version = config.get("os.version") or child.os_version
    if os_version:
        platform["os.version"] = os_version
    return {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": len(manifest.body),
        "platform": platform,
    }


def assemble(entries: Sequence[dict[str, Any]], existing: Manifest | None = None) -> tuple[str, bytes]:
    """The list body: ``entries``, plus (when appending) the existing entries of other platforms."""
    keys = {platform_key(e["platform"]) for e in entries}
    kept: list[dict[str, Any]] = []
    if existing is not None and existing.media_type in LIST_TYPES:
        kept = [m for m in existing.json.get("manifests", []) if platform_key(m.get("platform", {})) not in keys]
    merged = sorted([*kept, *entries], key=lambda e: platform_key(e["platform"]))
    duplicates = len(merged) - len({platform_key(e["platform"]) for e in merged})
    if duplicates:
        raise UserError("two list entries would have the same platform (os, architecture, variant, os.version)")
    media_type = DOCKER_LIST if all(e["mediaType"] == DOCKER_MANIFEST for e in merged) else OCI_INDEX
    body = {"schemaVersion": 2, "mediaType": media_type, "manifests": merged}
    return media_type, json.dumps(body, indent=2, sort_keys=True).encode()


def push(client: RegistryClient, reference: Reference, media_type: str, body: bytes) -> str:
    """PUT the list, read it back through the API, and compare digest and entries."""
    digest = client.put_manifest(reference.repository, reference.api_reference, media_type, body)
    back = client.get(reference)
    if back is None or back.digest != digest or back.body != body:
        raise BuildFailed(f"{reference}: the registry returned a different list than was pushed")
    return digest


def existing_list(client: RegistryClient, reference: Reference) -> Manifest | None:
    return client.get(reference)
