"""What an image says about itself: provenance labels, and its SBOM as a file in the image.

The SBOM (CycloneDX, ``sbom.image_sbom``) is made from the Go build info of the binaries the Dockerfile copies in,
written into the staged context as ``sbom/<image>.cdx.json``, and copied into the image by one stage the build
appends to the component's Dockerfile, so no Dockerfile has to mention it::

    FROM <target> AS acnbuild-sbom
    COPY sbom/<image>.cdx.json <path>

The stage inherits the target stage's configuration (entrypoint, ports, labels). Where the file lands differs by
OS: ``/usr/share/sbom/<image>.cdx.json`` on Linux (FHS read-only data), ``C:\\ProgramData\\sbom\\<image>.cdx.json``
on Windows (``/ProgramData/sbom/...`` in the Dockerfile and in the layer), the place Windows keeps data that
belongs to no user. The document names the image without its registry (``azure-cns:linux-amd64-v1.8.12``), so a
new IMAGE_REGISTRY still only re-tags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..references import Reference
from .dockerfile import Dockerfile

if TYPE_CHECKING:
    from ..go.buildinfo import GoBuildInfo

SBOM_STAGE = "acnbuild-sbom"
SBOM_DIRECTORY = "sbom"  # in the staged context
# Changes whenever the appended stage or the SBOM's shape changes: it is part of every image fingerprint.
GENERATOR = f"acnbuild {__version__}; cyclonedx 1.6; stage v1"
LABEL_PREFIX = "com.github.acn-monorepo.acnbuild"
_IN_IMAGE = {"linux": "/usr/share/sbom", "windows": "/ProgramData/sbom"}


def sbom_path(os_name: str, image: str) -> str:
    """Where the image holds its SBOM."""
    return f"{_IN_IMAGE[os_name]}/{image}.cdx.json"


def provenance_labels(*, base: str, toolchain: str | None, builder: str) -> tuple[tuple[str, str], ...]:
    """The base (OCI annotation names, as labels), the Go toolchain and the builder that made the image."""
    labels = []
    if base != "scratch":
        parsed = Reference.parse(base)
        if parsed.digest:
            labels.append(("org.opencontainers.image.base.digest", parsed.digest))
        labels.append(("org.opencontainers.image.base.name", str(parsed.with_digest(None))))
    labels += [
        (f"{LABEL_PREFIX}.builder", builder),
        (f"{LABEL_PREFIX}.toolchain", toolchain or "unknown"),
        (f"{LABEL_PREFIX}.version", __version__),
    ]
    return tuple(labels)


def appended_stage(target: str, os_name: str, image: str) -> str:
    return (
        f"\n# Added by acnbuild: the image's SBOM, on top of the `{target}` stage.\n"
        f"FROM {target} AS {SBOM_STAGE}\n"
        f"COPY {SBOM_DIRECTORY}/{image}.cdx.json {sbom_path(os_name, image)}\n"
    )


@dataclass(frozen=True)
class SbomInput:
    """A binary staged under ``bin/``; ``inside`` names the staged installer that embeds it (dropgz payloads)."""

    staged: str  # file name under bin/
    file: Path  # the built file
    ldflags: str
    inside: str | None = None


def binary_locations(dockerfile: Dockerfile, target: str, staged: Sequence[str]) -> dict[str, str]:
    """Where the target stage (and the stages it builds on) copies each staged binary: ``bin/x`` -> image path."""
    chain = _stage_chain(dockerfile, target)
    found: dict[str, str] = {}
    for step in dockerfile.context_copies():
        if step.stage is None or step.stage.lower() not in chain:
            continue
        destination = step.destination if step.destination.startswith("/") else "/" + step.destination
        for source in step.sources:
            source = source.removeprefix("./").rstrip("/")
            if source in ("bin", "bin/*"):
                names = list(staged)
            elif source.startswith("bin/") and source[4:] in staged:
                names = [source[4:]]
            else:
                continue
            into_directory = destination.endswith("/") or len(step.sources) > 1 or len(names) > 1
            for name in names:
                found[name] = destination.rstrip("/") + "/" + name if into_directory else destination
    return found


def _stage_chain(dockerfile: Dockerfile, target: str) -> set[str]:
    """``target`` and every stage it is built ``FROM``, lower-cased."""
    parents: dict[str, str] = {}
    for instruction in dockerfile.instructions:
        args = instruction.arguments
        if instruction.keyword == "FROM" and len(args) >= 3 and args[1].upper() == "AS":
            parents[args[2].lower()] = args[0].lower()
    chain, current = set(), target.lower()
    while current in parents and current not in chain:
        chain.add(current)
        current = parents[current]
    return chain


def image_sbom(
    *,
    image: str,
    tag: str,
    version: str,
    platform: str,
    base: str,
    created: str,
    locations: Mapping[str, str],
    inputs: Sequence[SbomInput],
    read_info: Callable[[Path], GoBuildInfo],
) -> bytes:
    """The SBOM of one image: every binary it holds at its path, embedded payloads as ``<installer>!/<name>``."""
    from .sbom import SbomBinary  # cyclonedx-python-lib loads in ~0.5 s: only when an image is really built
    from .sbom import image_sbom as render

    binaries = []
    for item in inputs:
        holder = locations.get(item.inside or item.staged)
        if holder is None:
            continue  # staged but not copied into the image
        path = f"{holder}!/{item.staged}" if item.inside else holder
        binaries.append(SbomBinary.from_file(path, item.file, read_info(item.file), ldflags=item.ldflags))
    return render(
        image=image,
        version=version,
        platform=platform,
        reference=f"{image}:{tag}",
        base=base,
        created=created,
        binaries=binaries,
    )
