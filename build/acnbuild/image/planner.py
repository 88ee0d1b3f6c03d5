"""Turn image targets into plan actions: compile (Go layer), recipe, fingerprint, build step."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from .. import contained
from ..atomic import atomic_write
from ..engine.fingerprint import combine_known, file_digest, files_digest
from ..engine.plan import Action, PlanBuilder
from ..go import installer
from ..go.actions import GoPlanner
from ..go.compile import GoBuild
from ..model import ActionKind
from ..paths import Layout
from ..targets import ImageTarget
from ..versioning import component_version, revision
from . import dockerfile, provenance
from .bases import BaseOverrides
from .builders import Builder
from .provenance import SbomInput
from .recipe import make_recipe
from .step import ImageBuildStep

RESOURCE = "image"


# Dockerfiles (content + target stage) known to pass the rules, kept like discover's validated BUILD.yaml digests:
# a no-op build then reads each Dockerfile once and parses none.
_CHECKED_CACHE = "checked-dockerfiles.json"
_RULES = "copy-only v1"


def check_dockerfile(target: ImageTarget, layout: Layout) -> None:
    """The target's Dockerfile is COPY-only, pins every image it names and has the target stage (exit 2 if not)."""
    component = target.component
    os_image = component.os_image(target.platform)
    data = contained.read_bytes(component.directory, os_image.dockerfile.name)
    key = hashlib.sha256(b"\0".join([_RULES.encode(), os_image.target.encode(), data])).hexdigest()
    checked = _checked(layout)
    if key in checked:
        return
    parsed = dockerfile.Dockerfile.read(os_image.dockerfile, layout.relative(os_image.dockerfile), data)
    os_name = target.platform.os
    parsed.check(os_image.target, where=f"{component.where('images', os_name, 'target')}: images.{os_name}.target")
    checked.add(key)
    with contextlib.suppress(OSError):  # a read-only checkout just checks every time
        atomic_write(layout.caches / _CHECKED_CACHE, json.dumps(sorted(checked)))


def _checked(layout: Layout) -> set[str]:
    try:
        return set(json.loads((layout.caches / _CHECKED_CACHE).read_text()))
    except (OSError, ValueError):
        return set()


class ImagePlanner:
    def __init__(
        self, go: GoPlanner, builder: Builder | None, builder_name: str, overrides: BaseOverrides, graph: PlanBuilder
    ) -> None:
        self.go = go
        self.root = go.root
        self.layout = Layout(go.root)
        self.builder = builder
        self.builder_name = builder_name
        self.overrides = overrides
        self.graph = graph

    def prefetch(self, targets: Sequence[ImageTarget]) -> None:
        """Let the Go layer list every package these targets compile in one go (one go list per platform)."""
        self.go.prefetch((t.component, t.platform, t.version) for t in targets)

    def add(self, target: ImageTarget) -> Action:
        component, platform = target.component, target.platform
        os_image = component.os_image(platform)
        display = self.layout.relative(os_image.dockerfile)
        check_dockerfile(target, self.layout)

        inputs = [self.go.binary(b, platform, target.version) for b in component.binaries]
        binaries = {b.file_name(platform): self.go.output(b, platform) for b in component.binaries}
        if component.installer is not None:
            inputs += self.go.installer(component, platform, target.version)
            for name in component.installer.binaries:
                _, binary = self.go.repo.binary(name)
                binaries[binary.file_name(platform)] = self.go.output(binary, platform)
            binaries["dropgz" + platform.exe_suffix] = self.layout.installer(component.name, platform)
        chain = self.go.toolchain
        builder_label = f"{self.builder_name}/{self.builder.mode}" if self.builder else self.builder_name
        recipe = make_recipe(
            target, self.layout, self.overrides, revision(self.root), binaries,
            toolchain=chain.version if chain else None, builder=builder_label, sbom_inputs=self._sbom_inputs(target),
        )  # fmt: skip
        described = self.builder.describe() if self.builder else None
        expected = {
            "dockerfile": file_digest(os_image.dockerfile),
            "files": files_digest(component.directory, recipe.files.values()),
        }
        parts = {
            "kind": "image",
            "binaries": {a.id: a.fingerprint for a in inputs},
            **expected,
            "target": os_image.target,
            "platform": str(platform),
            "os_version": target.os_version,
            "build_args": recipe.build_args,
            "labels": recipe.labels,
            "builder": described,
            "archive": recipe.archive is not None,
            "sbom": provenance.GENERATOR,
        }
        details: dict[str, Any] = {
            "component": component.name,
            "platform": str(platform),
            "reference": str(target.reference),
            "version": target.version,
            "dockerfile": display,
            "target": os_image.target,
            "base": recipe.base,
            "builder": self.builder_name,
            "build_args": dict(recipe.build_args),
        }
        if target.sku:
            details |= {"sku": target.sku.name, "os_version": target.os_version}
        if recipe.archive is not None:
            details["archive"] = self.layout.relative(recipe.archive)
        return self.graph.add(
            Action(
                id=f"image:{target.key}:{self.builder_name}",
                kind=ActionKind.IMAGE,
                summary=f"build {target.reference}",
                fingerprint=combine_known(parts, [described, *(a.fingerprint for a in inputs)]),
                resource=RESOURCE,
                step=ImageBuildStep(recipe, self.builder, self.layout, chain, expected),
                deps=tuple(dict.fromkeys(a.id for a in inputs)),
                details=details,
            )
        )

    def _sbom_inputs(self, target: ImageTarget) -> tuple[SbomInput, ...]:
        """Every binary staged for the image, with the -ldflags it was built with (Go leaves them out of the build
        info under -trimpath); dropgz payloads also as embedded in the installer."""
        component, platform = target.component, target.platform
        inputs = [SbomInput(b.file_name(platform), self.go.output(b, platform),
                            GoBuild(b, platform, target.version).ldflags()) for b in component.binaries]  # fmt: skip
        if component.installer is not None:
            dropgz = installer.BINARY.file_name(platform)
            inputs.append(SbomInput(dropgz, self.layout.installer(component.name, platform),
                                    GoBuild(installer.BINARY, platform, target.version).ldflags()))  # fmt: skip
            for name in component.installer.binaries:
                owner, binary = self.go.repo.binary(name)
                flags = GoBuild(binary, platform, component_version(owner, self.root)).ldflags()
                built = self.go.output(binary, platform)
                inputs.append(SbomInput(binary.file_name(platform), built, flags))
                inputs.append(SbomInput(binary.file_name(platform), built, flags, inside=dropgz))
        return tuple(dict.fromkeys(inputs))
