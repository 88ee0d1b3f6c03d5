"""Running one image build, and checking (reading only) whether a recorded build is still in place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.fingerprint import file_digest
from ..engine.plan import Check, Freshness, Result
from ..errors import BuildFailed
from ..paths import Layout
from ..platforms import Platform
from . import context
from .builders import Builder, BuildRequest
from .recipe import ImageRecipe

_PULL_ERRORS = ("pinging container registry", "manifest unknown", "not found", "no such host", "pull access denied")


@dataclass(frozen=True)
class ImageBuildStep:
    recipe: ImageRecipe
    builder: Builder | None  # None only in a plan made where the builder is not installed
    layout: Layout

    def _builder(self) -> Builder:
        if self.builder is None:
            raise AssertionError("a plan made without its builder cannot be run")
        return self.builder

    def run(self, log: Path) -> Result:
        recipe, builder = self.recipe, self._builder()
        target = recipe.target
        context.stage(recipe.context_dir, recipe.binaries, recipe.files)
        request = BuildRequest(
            context=recipe.context_dir,
            dockerfile=recipe.os_image.dockerfile,
            target=recipe.os_image.target,
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
        return result

    def check(self, result: Result, *, offline: bool) -> Check:
        archive = self.recipe.archive
        if archive is not None and not (archive.is_file() and file_digest(archive) == result.get("archive_sha256")):
            return Check(Freshness.STALE, "archive missing or changed")
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


def _verify_archive(archive: Path, platform: Platform, os_version: str | None, log: Path) -> None:
    """Refuse a wrong result up front: the archive must say the platform (and os.version) asked for."""
    from . import ociarchive

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
