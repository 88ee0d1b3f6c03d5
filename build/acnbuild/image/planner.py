"""Turn image targets into plan actions: compile (Go layer), recipe, fingerprint, build step."""

from __future__ import annotations

from typing import Any

from ..engine.fingerprint import combine_known, file_digest, files_digest
from ..engine.plan import Action, PlanBuilder
from ..go.actions import GoPlanner
from ..model import ActionKind
from ..paths import Layout
from ..targets import ImageTarget
from ..versioning import revision
from . import dockerfile
from .bases import BaseOverrides
from .builders import Builder
from .recipe import make_recipe
from .step import ImageBuildStep

RESOURCE = "image"


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

    def add(self, target: ImageTarget) -> Action:
        component, platform = target.component, target.platform
        os_image = component.os_image(platform)
        display = self.layout.relative(os_image.dockerfile)
        dockerfile.check_pinned(os_image.dockerfile, display)
        dockerfile.require_target(os_image.dockerfile, os_image.target, display)

        inputs = [self.go.binary(b, platform, target.version) for b in component.binaries]
        binaries = {b.file_name(platform): self.go.output(b, platform) for b in component.binaries}
        if component.installer is not None:
            inputs += self.go.installer(component, platform, target.version)
            for name in component.installer.binaries:
                _, binary = self.go.repo.binary(name)
                binaries[binary.file_name(platform)] = self.go.output(binary, platform)
            binaries["dropgz" + platform.exe_suffix] = self.layout.installer(component.name, platform)
        recipe = make_recipe(target, self.layout, self.overrides, revision(self.root), binaries)
        described = self.builder.describe() if self.builder else None
        parts = {
            "kind": "image",
            "binaries": {a.id: a.fingerprint for a in inputs},
            "dockerfile": file_digest(os_image.dockerfile),
            "files": files_digest(component.directory, recipe.files.values()),
            "target": os_image.target,
            "platform": str(platform),
            "os_version": target.os_version,
            "build_args": recipe.build_args,
            "labels": recipe.labels,
            "builder": described,
            "archive": recipe.archive is not None,
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
                step=ImageBuildStep(recipe, self.builder, self.layout),
                deps=tuple(dict.fromkeys(a.id for a in inputs)),
                details=details,
            )
        )
