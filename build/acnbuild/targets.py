"""What a session asks for: component images for platforms (and Windows SKUs), and component binaries and
archives for platforms, fully named."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from . import naming, versioning
from .errors import UserError
from .model import Component, Repository, WindowsSku
from .platforms import Platform
from .references import Reference, Registry


@dataclass(frozen=True)
class ImageTarget:
    """One component image for one platform (and Windows SKU), fully named."""

    component: Component
    platform: Platform
    version: str
    registry: Registry
    sku: WindowsSku | None = None
    tag_override: str | None = None  # the component's tag_variable (CNS_PLATFORM_TAG=...) when set
    env_build_args: tuple[tuple[str, str], ...] = ()  # the component's env_build_args, read from the environment

    @property
    def tag(self) -> str:
        if self.tag_override:
            return self.tag_override
        tag = naming.platform_tag(self.platform, self.version)
        return f"{tag}-{self.sku.name}" if self.sku else tag

    @property
    def slot(self) -> str:
        """The platform (and SKU) part of the tag, whatever the tag is: names this image's staging directory."""
        return self.platform.tag_prefix + (f"-{self.sku.name}" if self.sku else "")

    @property
    def reference(self) -> Reference:
        return naming.image_reference(self.registry, self.component.image, self.tag)

    @property
    def key(self) -> str:
        return f"{self.component.name}:{self.platform}" + (f":{self.sku.name}" if self.sku else "")

    @property
    def os_version(self) -> str | None:
        return self.sku.os_version if self.sku else None


@dataclass(frozen=True)
class BinaryTarget:
    """One component's binaries (and, for archives, their archive) for one platform."""

    component: Component
    platform: Platform
    version: str

    @property
    def key(self) -> str:
        return f"{self.component.name}:{self.platform}"


def env_build_args(component: Component, env: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """``env_build_args`` with the environment's values (upstream's ``--build-arg DEBUG=$(DEBUG)``)."""
    env = os.environ if env is None else env
    return tuple((name, env.get(name, default)) for name, default in component.env_build_args)


def image_targets(
    repo: Repository,
    component: Component,
    platform: Platform,
    registry: Registry,
    skus: tuple[str, ...] = (),
    *,
    tag_overrides: bool = True,
) -> list[ImageTarget]:
    """The images of one component for one platform: one per declared Windows SKU, else one.

    ``tag_overrides``: honour the component's ``tag_variable``, as upstream's image recipes do; list children
    never do (upstream's ``manifest-add`` always names ``<os>-<arch>-<version>``).
    """
    os_image = component.os_image(platform)
    version = versioning.component_version(component, repo.root)
    override = versioning.tag_override(component) if tag_overrides else None
    extra = env_build_args(component)
    if not os_image.skus:
        return [ImageTarget(component, platform, version, registry, None, override, extra)]
    declared = {s.name: s for s in os_image.skus}
    unknown = [s for s in skus if s not in declared]
    if unknown:
        raise UserError(
            f"{component.name} declares no Windows SKU {', '.join(unknown)}",
            hint=f"declared: {', '.join(declared)} (images.windows.skus in {component.build_file})",
        )
    chosen = [declared[s] for s in skus] if skus else list(declared.values())
    if override and len(chosen) > 1:
        raise UserError(
            f"${component.tag_variable}={override} would name {len(chosen)} {component.name} images (one per "
            f"Windows SKU: {', '.join(s.name for s in chosen)}) with one tag",
            hint=f"pick one SKU (-- --sku or OS_SKU_WIN), or unset {component.tag_variable}",
        )
    return [ImageTarget(component, platform, version, registry, sku, override, extra) for sku in chosen]


def binary_target(repo: Repository, component: Component, platform: Platform) -> BinaryTarget:
    component.require_platform(platform)
    return BinaryTarget(component, platform, versioning.component_version(component, repo.root))
