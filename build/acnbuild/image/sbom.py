"""A CycloneDX 1.6 SBOM for one platform image, made from the Go build info of the binaries in it.

Deterministic: the same inputs give the same bytes. The timestamp is the build's ``created`` time
(SOURCE_DATE_EPOCH), every bom-ref is derived from content, and the serial number is a UUIDv5 of the document
rendered with a zero serial number.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cyclonedx.contrib.this.builders import this_component
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.lifecycle import LifecyclePhase, PredefinedLifecycle
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonValidator
from packageurl import PackageURL

from .. import __version__
from ..engine.fingerprint import file_digest
from ..errors import BuildFailed, UserError
from ..go.buildinfo import GoBuildInfo, GoModule
from ..platforms import Platform
from ..references import Reference

MEDIA_TYPE = "application/vnd.cyclonedx+json"
SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/acn-monorepo/acn/sbom")
# Build settings with names registered in the CycloneDX property taxonomy (cdx:gomod); others get acnbuild:go:build:.
REGISTERED_SETTINGS = ("GOOS", "GOARCH", "CGO_ENABLED")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class SbomBinary:
    """One Go binary in the image: where the image holds it, its content digest and its build info."""

    path: str  # e.g. /usr/local/bin/azure-cns or /azure-cns.exe
    sha256: str  # hex
    info: GoBuildInfo
    # What the build passed as -ldflags: Go leaves it out of the build info under -trimpath (it may hold paths).
    ldflags: str | None = None

    @classmethod
    def from_file(cls, path: str, file: Path, info: GoBuildInfo, ldflags: str | None = None) -> SbomBinary:
        return cls(path, file_digest(file), info, ldflags)

    @property
    def name(self) -> str:
        return re.split(r"[\\/]", self.path)[-1]


def image_sbom(
    *,
    image: str,
    version: str,
    platform: str,
    reference: str,
    base: str,
    created: str,
    binaries: Sequence[SbomBinary],
) -> bytes:
    """The SBOM of one platform image as CycloneDX 1.6 JSON, validated against the schema.

    ``image`` is its name (``<registry>/<image>``), ``reference`` the full tag it is built as, ``base`` the
    ``FROM`` reference (``scratch``, or ``name[:tag]@sha256:...``), ``created`` an RFC 3339 time.
    """
    bom = _bom(
        image=image,
        version=version,
        platform=platform,
        reference=reference,
        base=base,
        timestamp=_timestamp(created),
        binaries=binaries,
    )
    draft = JsonV1Dot6(bom).output_as_string(indent=2)
    bom.serial_number = uuid.uuid5(SERIAL_NAMESPACE, hashlib.sha256(draft.encode()).hexdigest())
    document = JsonV1Dot6(bom).output_as_string(indent=2)
    error = _validator().validate_str(document)
    if error is not None:
        raise BuildFailed(f"the SBOM of {reference} is not valid CycloneDX 1.6: {error}")
    return document.encode() + b"\n"


@functools.cache
def _validator() -> JsonValidator:
    # The schemas ship inside cyclonedx-python-lib and are resolved locally: no network. 1.6 has no strict variant.
    return JsonValidator(SchemaVersion.V1_6)


def _timestamp(created: str) -> datetime:
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UserError(
            f"SBOM creation time {created!r} is not an RFC 3339 time with a zone",
            hint="pass the image's created label, e.g. 2023-11-14T22:13:20Z (from SOURCE_DATE_EPOCH)",
        )
    return moment


def _bom(
    *,
    image: str,
    version: str,
    platform: str,
    reference: str,
    base: str,
    timestamp: datetime,
    binaries: Sequence[SbomBinary],
) -> Bom:
    subject = Component(
        type=ComponentType.CONTAINER,
        name=image,
        version=version,
        bom_ref=f"image:{reference}",
        # No purl: pkg:oci needs the image digest, which does not exist until the image (holding this SBOM) does.
        properties=[Property(name="acnbuild:image:reference", value=reference),
                    Property(name="acnbuild:image:platform", value=platform)],
    )  # fmt: skip
    components: dict[str, Component] = {}
    depends: dict[str, set[str]] = {_ref(subject): set()}  # bom-ref -> bom-refs it depends on
    base_component = _base_component(base)
    if base_component is not None:
        components[_ref(base_component)] = base_component
        depends[_ref(subject)].add(_ref(base_component))
    if len({b.path for b in binaries}) != len(binaries):
        raise BuildFailed(f"the SBOM of {reference} lists a binary path twice: {[b.path for b in binaries]}")
    for binary in binaries:
        _check_platform(binary, platform, reference)
        application = _binary_component(binary)
        linked = [_stdlib_component(binary.info.go_version)]
        if binary.info.main is not None:
            linked.append(_main_module_component(binary.info.main))
        linked.extend(_module_component(binary, module) for module in binary.info.deps)
        components[_ref(application)] = application
        depends[_ref(subject)].add(_ref(application))
        # Build info lists every module linked in, without the graph between them: the binary depends on all.
        depends[_ref(application)] = {_ref(component) for component in linked}
        for component in linked:
            components.setdefault(_ref(component), component)

    bom = Bom(
        serial_number=uuid.UUID(int=0),
        components=components.values(),
        metadata=BomMetaData(
            timestamp=timestamp,
            component=subject,
            lifecycles=[PredefinedLifecycle(LifecyclePhase.BUILD)],
            tools=ToolRepository(components=_tools()),
        ),
    )
    everything = {**components, _ref(subject): subject}
    for ref, targets in sorted(depends.items()):
        bom.register_dependency(everything[ref], [everything[t] for t in sorted(targets)])
    return bom


def _ref(component: Component) -> str:
    return component.bom_ref.value or ""


def _tools() -> list[Component]:
    acnbuild = Component(
        type=ComponentType.APPLICATION, name="acnbuild", version=__version__, bom_ref=f"tool:acnbuild@{__version__}"
    )
    library = this_component()
    library.bom_ref.value = f"tool:{library.name}@{library.version}"
    return [acnbuild, library]


def _check_platform(binary: SbomBinary, platform: str, reference: str) -> None:
    target = Platform.parse(platform)
    built_for = (binary.info.goos, binary.info.goarch)
    if built_for != (target.os, target.arch):
        raise BuildFailed(
            f"{binary.path} in {reference} was built for {built_for[0]}/{built_for[1]}, the image is for {platform}"
        )


def _binary_component(binary: SbomBinary) -> Component:
    if not _SHA256.fullmatch(binary.sha256):
        raise BuildFailed(f"the sha256 of {binary.path} is not a hex SHA-256 digest: {binary.sha256!r}")
    info = binary.info
    properties = [
        Property(name="acnbuild:go:toolchain", value=info.go_version),
        Property(name="acnbuild:go:package", value=info.package),
    ]
    for key, value in info.settings:
        if key == "-ldflags":
            continue  # recorded once, below
        prefix = "cdx:gomod:build:env:" if key in REGISTERED_SETTINGS else "acnbuild:go:build:"
        properties.append(Property(name=prefix + key, value=value))
    ldflags = binary.ldflags if binary.ldflags is not None else info.setting("-ldflags")
    if ldflags is not None:
        properties.append(Property(name="acnbuild:go:ldflags", value=ldflags))
    return Component(
        type=ComponentType.APPLICATION,
        name=binary.name,
        bom_ref=f"file:{binary.path}",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=binary.sha256)],
        evidence=ComponentEvidence(occurrences=[Occurrence(location=binary.path)]),
        properties=properties,
    )


def _golang_purl(module_path: str, version: str | None) -> PackageURL:
    namespace, _, name = module_path.rpartition("/")
    return PackageURL(type="golang", namespace=namespace or None, name=name, version=version or None)


def _library(name: str, version: str | None, purl: PackageURL, properties: list[Property] | None = None) -> Component:
    return Component(
        type=ComponentType.LIBRARY,
        name=name,
        version=version,
        purl=purl,
        bom_ref=purl.to_string(),
        properties=properties or [],
    )


def _stdlib_component(go_version: str) -> Component:
    # The version keeps Go's spelling (go1.26.6, as the Go vulnerability database does); the purl drops the
    # "go" prefix, the form OSV and scanners match for pkg:golang/stdlib.
    release = go_version.split()[0] if go_version.strip() else go_version
    match = re.fullmatch(r"go(\d+(?:\.\d+)*(?:(?:rc|beta)\d+)?)", release)
    return _library("stdlib", go_version, _golang_purl("stdlib", match.group(1) if match else release))


def _main_module_component(main: GoModule) -> Component:
    # A build with -buildvcs=false records "(devel)": no module version exists, so none is claimed.
    version = None if main.version in ("", "(devel)") else main.version
    return _library(main.path, version, _golang_purl(main.path, version))


def _module_component(binary: SbomBinary, module: GoModule) -> Component:
    replace = module.replace
    if replace is None:
        sum_ = [Property(name="acnbuild:go:module:sum", value=module.sum)] if module.sum else []
        return _library(module.path, module.version, _golang_purl(module.path, module.version), sum_)
    if replace.is_local_directory:
        if not (replace.path.startswith(("./", "../"))):
            raise UserError(
                f"{binary.path}: module {module.path} is replaced by the absolute directory {replace.path}",
                hint="use a path relative to go.mod in the replace directive: absolute paths break reproducibility",
            )
        properties = [Property(name="acnbuild:go:module:replaced-by-directory", value=replace.path)]
        return _library(module.path, None, _golang_purl(module.path, None), properties)
    properties = [Property(name="acnbuild:go:module:replaces", value=f"{module.path}@{module.version}")]
    if replace.sum:
        properties.append(Property(name="acnbuild:go:module:sum", value=replace.sum))
    return _library(replace.path, replace.version, _golang_purl(replace.path, replace.version), properties)


def _base_component(base: str) -> Component | None:
    """The ``FROM`` image as a container component; pinned by digest it gets a pkg:oci purl and the hash."""
    if base == "scratch":
        return None
    parsed = Reference.parse(base)
    repository, tag, digest = parsed.name, parsed.tag or "", parsed.digest or ""
    if digest and not _DIGEST.fullmatch(digest):
        raise UserError(f"base image {base!r} has a digest that is not sha256:<64 hex>", hint="pin it by its digest")
    purl = None
    hashes = []
    if digest:
        qualifiers = {"repository_url": repository, **({"tag": tag} if tag else {})}
        purl = PackageURL(type="oci", name=repository.rpartition("/")[2].lower(), version=digest, qualifiers=qualifiers)
        hashes = [HashType(alg=HashAlgorithm.SHA_256, content=digest.removeprefix("sha256:"))]
    return Component(
        type=ComponentType.CONTAINER,
        name=repository,
        version=tag or digest or None,
        purl=purl,
        hashes=hashes,
        bom_ref=f"base:{base}",
        properties=[Property(name="acnbuild:image:base", value=base)],
    )
