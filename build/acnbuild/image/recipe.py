"""An image build as data: everything one build needs, computed from its target without side effects.

Kept apart from running the build (``step``) and from wiring it into the plan (``planner``), like Pants keeps
context, build arguments and the build itself as separate steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..model import OsImage
from ..paths import Layout
from ..targets import ImageTarget
from ..versioning import Revision
from .bases import BaseOverrides, is_loopback

SOURCE_URL = "https://github.com/Azure/azure-container-networking"


@dataclass(frozen=True)
class ImageRecipe:
    target: ImageTarget
    os_image: OsImage
    declared_base: str
    base: str  # after overrides
    build_args: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    binaries: dict[str, Path]  # file name under bin/ -> built file
    files: dict[str, Path]  # path under files/ -> source file
    context_dir: Path
    archive: Path | None  # Windows images are also written as OCI archives
    source_date_epoch: int

    @property
    def insecure_pull(self) -> bool:
        return is_loopback(self.base)


def build_args(target: ImageTarget, base: str) -> tuple[tuple[str, str], ...]:
    """Upstream's build arguments (``VERSION`` is the platform tag), the base, then the component's own (fixed,
    then from the environment)."""
    platform = target.platform
    return (
        ("ARCH", platform.arch),
        ("BASE_IMAGE", base),
        ("OS", platform.os),
        ("PLATFORM", str(platform)),
        ("VERSION", target.tag),
        *target.component.build_args,
        *target.env_build_args,
    )


def labels(target: ImageTarget, revision: Revision) -> tuple[tuple[str, str], ...]:
    created = datetime.fromtimestamp(revision.source_date_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        ("org.opencontainers.image.created", created),
        ("org.opencontainers.image.revision", revision.commit),
        ("org.opencontainers.image.source", SOURCE_URL),
        ("org.opencontainers.image.title", target.component.image),
        ("org.opencontainers.image.version", target.version),
    )


def archive_path(layout: Layout, target: ImageTarget) -> Path:
    """Upstream-style OCI archive name: ``output/images/<image>-<tag>.tar``."""
    return layout.images / f"{target.component.image}-{target.tag}.tar"


def make_recipe(
    target: ImageTarget,
    layout: Layout,
    overrides: BaseOverrides,
    revision: Revision,
    binaries: dict[str, Path],
) -> ImageRecipe:
    component, platform = target.component, target.platform
    os_image = component.os_image(platform)
    declared = target.sku.base if target.sku else os_image.base
    base = overrides.apply(declared)
    return ImageRecipe(
        target=target,
        os_image=os_image,
        declared_base=declared,
        base=base,
        build_args=build_args(target, base),
        labels=labels(target, revision),
        binaries=binaries,
        files={f: component.directory / f for f in component.files},
        context_dir=layout.contexts / component.name / target.slot,
        archive=archive_path(layout, target) if platform.os == "windows" else None,
        source_date_epoch=revision.source_date_epoch,
    )
