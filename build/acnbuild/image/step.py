"""Running one image build, and checking (reading only) whether a recorded build is still in place."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import contained
from ..atomic import atomic_write
from ..engine.fingerprint import file_digest
from ..engine.plan import Check, Freshness, Result
from ..errors import BuildFailed
from ..go.buildinfo import read_build_info
from ..go.toolchain import GoToolchain
from ..paths import Layout
from ..platforms import Platform
from . import context, ociarchive, provenance
from .builders import Builder, BuildRequest
from .dockerfile import Dockerfile
from .recipe import ImageRecipe

_PULL_ERRORS = ("pinging container registry", "manifest unknown", "not found", "no such host", "pull access denied")


@dataclass(frozen=True)
class ImageBuildStep:
    recipe: ImageRecipe
    builder: Builder | None  # None only in a plan made where the builder is not installed
    layout: Layout
    toolchain: GoToolchain | None = None  # reads the binaries' build info for the SBOM
    expected: Mapping[str, Any] = field(default_factory=dict)  # digests of the Dockerfile and files when planned

    def _builder(self) -> Builder:
        if self.builder is None:
            raise AssertionError("a plan made without its builder cannot be run")
        return self.builder

    def run(self, log: Path) -> Result:
        recipe, builder = self.recipe, self._builder()
        target = recipe.target
        component = target.component
        dockerfile_text = self._read_dockerfile(log)
        sbom = self._sbom(dockerfile_text)
        generated = {f"{provenance.SBOM_DIRECTORY}/{component.image}.cdx.json": sbom}
        context.stage(recipe.context_dir, recipe.binaries, recipe.files, within=component.directory, extra=generated)
        self._require_planned_files(log)
        staged = dockerfile_text.text + provenance.appended_stage(recipe.os_image.target, target.platform.os,
                                                                  component.image)  # fmt: skip
        recipe.staged_dockerfile.write_text(staged)
        request = BuildRequest(
            context=recipe.context_dir,
            dockerfile=recipe.staged_dockerfile,
            target=recipe.build_target,
            platform=target.platform,
            reference=target.reference,
            build_args=recipe.build_args,
            labels=recipe.labels,
            source_date_epoch=recipe.source_date_epoch,
            os_version=target.os_version,
            archive=recipe.archive,
            insecure_pull=recipe.insecure_pull,
        )
        try:
            built = builder.build(request, log)
        except BuildFailed as failure:
            raise _explain_missing_base(failure, recipe, log) from None
        result: dict[str, Any] = {"reference": str(built.reference), "image_id": built.image_id, "size": built.size}
        if built.archive is not None:
            _verify_archive(built.archive, target.platform, target.os_version, log)
            result["archive"] = self.layout.relative(built.archive)
            result["archive_sha256"] = file_digest(built.archive)
            result["size"] = result["size"] or built.archive.stat().st_size
        if recipe.sbom_file is not None:
            atomic_write(recipe.sbom_file, sbom)
            result["sbom"] = self.layout.relative(recipe.sbom_file)
            result["sbom_sha256"] = hashlib.sha256(sbom).hexdigest()
        return result

    def _read_dockerfile(self, log: Path) -> Dockerfile:
        """The Dockerfile as planned: read once, inside the component, and compared with the plan's digest."""
        os_image, component = self.recipe.os_image, self.recipe.target.component
        data = contained.read_bytes(component.directory, os_image.dockerfile.name)
        if self.expected and hashlib.sha256(data).hexdigest() != self.expected.get("dockerfile"):
            raise _changed(self.layout.relative(os_image.dockerfile), log)
        return Dockerfile.read(os_image.dockerfile, self.layout.relative(os_image.dockerfile), data)

    def _require_planned_files(self, log: Path) -> None:
        """The staged copies are what the image gets: they must be the files the plan fingerprinted."""
        if not self.expected:
            return
        for relative, digest in self.expected.get("files", {}).items():
            staged = self.recipe.context_dir / "files" / relative
            if file_digest(staged) != digest:
                raise _changed(f"components/{self.recipe.target.component.name}/{relative}", log)

    def _sbom(self, dockerfile_text: Dockerfile) -> bytes:
        recipe = self.recipe
        target = recipe.target
        if self.toolchain is None:
            raise AssertionError("a plan made without the toolchain cannot be run")
        chain = self.toolchain
        locations = provenance.binary_locations(dockerfile_text, recipe.os_image.target, list(recipe.binaries))
        return provenance.image_sbom(
            image=target.component.image,
            tag=target.tag,
            version=target.version,
            platform=str(target.platform),
            base=recipe.base,
            created=recipe.created,
            locations=locations,
            inputs=recipe.sbom_inputs,
            read_info=lambda binary: read_build_info(chain.go, binary, chain.env()),
        )

    def check(self, result: Result, *, offline: bool) -> Check:
        archive = self.recipe.archive
        if archive is not None and not (archive.is_file() and file_digest(archive) == result.get("archive_sha256")):
            return Check(Freshness.STALE, "archive missing or changed")
        sbom = self.recipe.sbom_file
        if sbom is not None and not (sbom.is_file() and file_digest(sbom) == result.get("sbom_sha256")):
            return Check(Freshness.STALE, "SBOM missing or changed")
        image_id = result.get("image_id")
        if not image_id:
            return Check(Freshness.STALE, "no image recorded")
        if offline or self.builder is None:
            return Check(Freshness.UNKNOWN, "recorded with these inputs; the builder's store was not consulted")
        builder = self.builder
        if archive is not None and self.recipe.target.platform.os not in builder.capabilities.store_os:
            return Check(Freshness.CURRENT, "unchanged (kept as an OCI archive)")
        reference = self.recipe.target.reference
        if builder.image_id(reference) == image_id:
            return Check(Freshness.CURRENT, "unchanged")
        if builder.image_id(image_id) != image_id:
            return Check(Freshness.STALE, "image missing from the builder's store")

        def retag() -> Result:
            builder.tag(image_id, reference)
            return {**result, "reference": str(reference)}

        return Check(Freshness.REPAIRABLE, f"same image, new name: tag it {reference}", repair=retag)


def _changed(what: str, log: Path) -> BuildFailed:
    return BuildFailed(
        f"{what} changed after the build was planned: the image was not built and nothing was recorded; "
        "run the build again",
        log=str(log),
    )


def _verify_archive(archive: Path, platform: Platform, os_version: str | None, log: Path) -> None:
    """Refuse a wrong result up front: the archive must say the platform (and os.version) asked for."""
    image = ociarchive.read(archive)
    problems = []
    if (image.os, image.architecture) != (platform.os, platform.arch):
        problems.append(f"it is {image.os}/{image.architecture}, not {platform}")
    if os_version and image.os_version != os_version:
        problems.append(f"its os.version is {image.os_version!r}, not {os_version!r}")
    if problems:
        archive.unlink(missing_ok=True)
        raise BuildFailed(f"the image in {archive.name} is wrong: " + "; ".join(problems), log=str(log))


def _explain_missing_base(failure: BuildFailed, recipe: ImageRecipe, log: Path) -> BuildFailed:
    """A base that cannot be pulled gets a message naming it and the override setting."""
    from ..references import Reference

    base, declared = recipe.base, recipe.declared_base
    text = log.read_text() if log.is_file() else ""
    if base == "scratch" or Reference.parse(base).name not in text or not any(e in text for e in _PULL_ERRORS):
        return failure
    declared_name = Reference.parse(declared).name
    overridden = f" (override of {declared})" if base != declared else ""
    return BuildFailed(
        f"base image {base}{overridden} could not be pulled:\n{failure.message.splitlines()[-1]}\n"
        "  fix: make it reachable, or point the build at a mirror or stand-in pinned by digest with "
        f"BASE_IMAGE_OVERRIDES='{declared_name}=<registry>/<name>@sha256:<digest>' "
        "(or -- --base-override ...); `nox -s windows-standin-bases` makes stand-ins for Windows bases",
        log=str(log),
    )
