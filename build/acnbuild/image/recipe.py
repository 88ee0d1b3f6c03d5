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
from . import provenance
from .bases import BaseOverrides, is_loopback
from .provenance import SbomInput

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
    sbom_inputs: tuple[SbomInput, ...] = ()
    sbom_file: Path | None = None  # output/sbom/<image>-<tag>.cdx.json

    @property
    def staged_dockerfile(self) -> Path:
        """The component's Dockerfile with the SBOM stage appended, next to (not inside) the context."""
        return self.context_dir.with_name(self.context_dir.name + ".Dockerfile")

    @property
    def build_target(self) -> str:
        return provenance.SBOM_STAGE

    @property
    def created(self) -> str:
        return dict(self.labels)["org.opencontainers.image.created"]

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


def sbom_file(layout: Layout, target: ImageTarget) -> Path:
    return layout.sboms / f"{target.component.image}-{target.tag}.cdx.json"


def archive_path(layout: Layout, target: ImageTarget) -> Path:
    """Upstream-style OCI archive name: ``output/images/<image>-<tag>.tar``."""
    return layout.images / f"{target.component.image}-{target.tag}.tar"


def make_recipe(
    target: ImageTarget,
    layout: Layout,
    overrides: BaseOverrides,
    revision: Revision,
    binaries: dict[str, Path],
    *,
    toolchain: str | None = None,
    builder: str = "",
    sbom_inputs: tuple[SbomInput, ...] = (),
) -> ImageRecipe:
    component, platform = target.component, target.platform
    os_image = component.os_image(platform)
    declared = target.sku.base if target.sku else os_image.base
    base = overrides.apply(declared)
    provenance_labels = provenance.provenance_labels(base=base, toolchain=toolchain, builder=builder)
    return ImageRecipe(
        target=target,
        os_image=os_image,
        declared_base=declared,
        base=base,
        build_args=build_args(target, base),
        labels=tuple(sorted(labels(target, revision) + provenance_labels)),
        sbom_inputs=sbom_inputs,
        sbom_file=sbom_file(layout, target),
        binaries=binaries,
        files={f: component.directory / f for f in component.files},
        context_dir=layout.contexts / component.name / target.slot,
        archive=archive_path(layout, target) if platform.os == "windows" else None,
        source_date_epoch=revision.source_date_epoch,
    )
