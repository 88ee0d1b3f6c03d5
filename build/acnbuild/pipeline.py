"""From settings to a plan of actions: compile each binary per platform, then build each image."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import context, dockerfile, gobuild, naming, versioning
from .builders import Builder, BuildRequest
from .cachedirs import output_dir, state_dir
from .fingerprint import combine, file_digest, files_digest
from .model import Component, Repository
from .plan import Action, Plan
from .platforms import Platform
from .toolchain import GoToolchain

SOURCE_URL = "https://github.com/Azure/azure-container-networking"


@dataclass(frozen=True)
class ImageTarget:
    """One component image for one platform, fully named."""

    component: Component
    platform: Platform
    version: str
    registry: str

    @property
    def tag(self) -> str:
        return naming.platform_tag(self.platform, self.version)

    @property
    def reference(self) -> str:
        return naming.image_reference(self.registry, self.component.image, self.tag)


def image_target(repo: Repository, component: Component, platform: Platform, registry: str) -> ImageTarget:
    component.require_platform(platform)
    version = versioning.component_version(component, repo.root)
    return ImageTarget(component, platform, version, naming.check_registry(registry))


def binary_path(root: Path, binary_name: str, platform: Platform) -> Path:
    return output_dir(root) / f"{platform.os}_{platform.arch}" / (binary_name + platform.exe_suffix)


class PlanBuilder:
    """Turns image targets into actions; shares one Go action per (binary, platform)."""

    def __init__(self, repo: Repository, toolchain: GoToolchain, builder: Builder) -> None:
        self.repo = repo
        self.root = repo.root
        self.toolchain = toolchain
        self.builder = builder
        self.actions: dict[str, Action] = {}

    def add_image(self, target: ImageTarget) -> Action:
        component, platform = target.component, target.platform
        os_image = component.os_image(platform)
        display = os_image.dockerfile.relative_to(self.root).as_posix()
        dockerfile.check_pinned(os_image.dockerfile, display)
        dockerfile.require_target(os_image.dockerfile, os_image.target, display)
        self.builder.check_platform(platform)

        go_actions = [self._go_action(b, platform, target.version) for b in component.binaries]
        revision = versioning.revision(self.root)
        created = datetime.fromtimestamp(revision.source_date_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        build_args = (
            ("ARCH", platform.arch),
            ("BASE_IMAGE", os_image.base),
            ("OS", platform.os),
            ("PLATFORM", str(platform)),
            ("VERSION", target.tag),
            *component.build_args,
        )
        labels = (
            ("org.opencontainers.image.created", created),
            ("org.opencontainers.image.revision", revision.commit),
            ("org.opencontainers.image.source", SOURCE_URL),
            ("org.opencontainers.image.title", component.image),
            ("org.opencontainers.image.version", target.version),
        )
        files = {f: component.directory / f for f in component.files}
        fingerprint = combine(
            {
                "kind": "image",
                "binaries": {a.id: a.fingerprint for a in go_actions},
                "dockerfile": file_digest(os_image.dockerfile),
                "files": files_digest(component.directory, files.values()),
                "target": os_image.target,
                "platform": str(platform),
                "build_args": build_args,
                "labels": labels,
                "builder": self.builder.describe(),
            }
        )
        action_id = f"image:{component.name}:{platform}:{self.builder.name}"
        stage_dir = state_dir(self.root) / "contexts" / component.name / platform.tag_prefix
        binaries = {b.file_name(platform): binary_path(self.root, b.name, platform) for b in component.binaries}

        def run(logs: Path) -> dict[str, Any]:
            context.stage(stage_dir, binaries, files)
            request = BuildRequest(
                context=stage_dir,
                dockerfile=os_image.dockerfile,
                target=os_image.target,
                platform=platform,
                reference=target.reference,
                build_args=build_args,
                labels=labels,
                source_date_epoch=revision.source_date_epoch,
            )
            built = self.builder.build(request, logs / f"{_safe(action_id)}.log")
            return {"reference": built.reference, "image_id": built.image_id, "size": built.size}

        def still_valid(result: dict[str, Any]) -> bool:
            image_id = result.get("image_id")
            if not image_id:
                return False
            if self.builder.image_id(target.reference) == image_id:
                return True
            if self.builder.image_id(image_id) != image_id:
                return False
            self.builder.tag(image_id, target.reference)  # same content, new name: tag, don't rebuild
            result["reference"] = target.reference
            return True

        action = Action(
            id=action_id,
            kind="image",
            summary=f"build {target.reference}",
            fingerprint=fingerprint,
            resource="image",
            run=run,
            still_valid=still_valid,
            deps=tuple(a.id for a in go_actions),
            details={
                "component": component.name,
                "platform": str(platform),
                "reference": target.reference,
                "version": target.version,
                "dockerfile": display,
                "target": os_image.target,
                "builder": self.builder.name,
            },
        )
        return self._add(action)

    def _go_action(self, binary: Any, platform: Platform, version: str) -> Action:
        build = gobuild.GoBuild(binary=binary, platform=platform, version=version)
        action_id = f"go:{binary.name}:{platform}"
        if action_id in self.actions:
            return self.actions[action_id]
        output = binary_path(self.root, binary.name, platform)

        def run(logs: Path) -> dict[str, Any]:
            gobuild.compile_binary(self.toolchain, self.root, build, output, logs / f"{_safe(action_id)}.log")
            return {"path": str(output.relative_to(self.root)), "sha256": file_digest(output)}

        def still_valid(result: dict[str, Any]) -> bool:
            return output.is_file() and file_digest(output) == result.get("sha256")

        return self._add(
            Action(
                id=action_id,
                kind="go-binary",
                summary=f"compile {binary.name}{platform.exe_suffix} for {platform} ({version})",
                fingerprint=gobuild.fingerprint(self.toolchain, self.root, build),
                resource="go",
                run=run,
                still_valid=still_valid,
                details={
                    "binary": binary.name,
                    "platform": str(platform),
                    "version": version,
                    "output": str(output.relative_to(self.root)),
                },
            )
        )

    def _add(self, action: Action) -> Action:
        self.actions.setdefault(action.id, action)
        return self.actions[action.id]

    def plan(self) -> Plan:
        return Plan(list(self.actions.values()))


def _safe(action_id: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in action_id)
