"""What a session asks for: component images for platforms (and Windows SKUs), fully named."""

from __future__ import annotations

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

    @property
    def tag(self) -> str:
        tag = naming.platform_tag(self.platform, self.version)
        return f"{tag}-{self.sku.name}" if self.sku else tag

    @property
    def reference(self) -> Reference:
        return naming.image_reference(self.registry, self.component.image, self.tag)

    @property
    def key(self) -> str:
        return f"{self.component.name}:{self.platform}" + (f":{self.sku.name}" if self.sku else "")

    @property
    def os_version(self) -> str | None:
        return self.sku.os_version if self.sku else None


def image_targets(
    repo: Repository, component: Component, platform: Platform, registry: Registry, skus: tuple[str, ...] = ()
) -> list[ImageTarget]:
    """The images of one component for one platform: one per declared Windows SKU, else one."""
    os_image = component.os_image(platform)
    version = versioning.component_version(component, repo.root)
    if not os_image.skus:
        return [ImageTarget(component, platform, version, registry)]
    declared = {s.name: s for s in os_image.skus}
    unknown = [s for s in skus if s not in declared]
    if unknown:
        raise UserError(
            f"{component.name} declares no Windows SKU {', '.join(unknown)}",
            hint=f"declared: {', '.join(declared)} (images.windows.skus in {component.build_file})",
        )
    chosen = [declared[s] for s in skus] if skus else list(declared.values())
    return [ImageTarget(component, platform, version, registry, sku) for sku in chosen]
