"""Manifest lists for components: verify every child of every list first, only then write and push any.

Nothing partial is published: if one child of one list is missing or has the wrong platform, no list is
written or pushed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..paths import Layout
from ..references import Reference
from ..targets import ImageTarget
from . import manifests
from .client import RegistryClient


@dataclass(frozen=True)
class ListRequest:
    """One component's list: its reference (``<registry>/<image>:<version>``) and the images it points at."""

    component: str
    image: str
    version: str
    reference: Reference
    children: tuple[ImageTarget, ...]


@dataclass(frozen=True)
class PreparedList:
    request: ListRequest
    media_type: str
    body: bytes

    @property
    def entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = json.loads(self.body)["manifests"]
        return entries


def _child(target: ImageTarget) -> manifests.Child:
    platform = target.platform
    return manifests.Child(target.reference, platform.os, platform.arch, platform.manifest_variant, target.os_version)


def prepare(requests: Sequence[ListRequest], *, append: bool) -> list[PreparedList]:
    """Read and check every child (and, with ``append``, the existing list) of every request; write nothing."""
    prepared = []
    for request in requests:
        client = RegistryClient.for_reference(request.reference)
        entries = [manifests.describe_child(client, _child(t)) for t in request.children]
        existing = manifests.existing_list(client, request.reference) if append else None
        media_type, body = manifests.assemble(entries, existing)
        prepared.append(PreparedList(request, media_type, body))
    return prepared


def list_file(layout: Layout, request: ListRequest) -> Path:
    """The assembled list, byte for byte as it would be pushed: ``output/manifests/<image>-<version>.json``."""
    return layout.manifests / f"{request.image}-{request.version}.json"


def publish(prepared: Sequence[PreparedList], layout: Layout, *, push: bool) -> dict[str, dict[str, Any]]:
    """Write every prepared list (and with ``push``, push and read it back); one result per component."""
    results: dict[str, dict[str, Any]] = {}
    for item in prepared:
        request = item.request
        path = atomic_write(list_file(layout, request), item.body)
        result: dict[str, Any] = {"reference": str(request.reference), "file": layout.relative(path), "pushed": False}
        if push:
            client = RegistryClient.for_reference(request.reference)
            result["digest"] = manifests.push(client, request.reference, item.media_type, item.body)
            result["pushed"] = True
        result["platforms"] = [manifests.platform_key(e["platform"]) for e in item.entries]
        result["entries"] = item.entries
        results[request.component] = result
    return results
