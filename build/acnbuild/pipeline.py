"""From settings to a plan of actions: compile each binary per platform, then build each image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import bases, context, dockerfile, gobuild, installer, naming, ociarchive, versioning
from .builders import Builder, BuildRequest
from .cachedirs import output_dir, state_dir
from .errors import BuildFailed, UserError
from .fingerprint import combine, file_digest, files_digest
from .model import Component, GoBinary, Repository, WindowsSku
from .plan import Action, Plan
from .platforms import Platform
from .toolchain import GoToolchain

SOURCE_URL = "https://github.com/Azure/azure-container-networking"


@dataclass(frozen=True)
class ImageTarget:
    """One component image for one platform (and Windows SKU), fully named."""

    component: Component
    platform: Platform
    version: str
    registry: str
    sku: WindowsSku | None = None

    @property
    def tag(self) -> str:
        tag = naming.platform_tag(self.platform, self.version)
        return f"{tag}-{self.sku.name}" if self.sku else tag

    @property
    def reference(self) -> str:
        return naming.image_reference(self.registry, self.component.image, self.tag)

    @property
    def key(self) -> str:
        return f"{self.component.name}:{self.platform}" + (f":{self.sku.name}" if self.sku else "")


def image_targets(
    repo: Repository, component: Component, platform: Platform, registry: str, skus: tuple[str, ...] = ()
) -> list[ImageTarget]:
    """The images of one component for one platform: one per declared Windows SKU, else one."""
    os_image = component.os_image(platform)
    version = versioning.component_version(component, repo.root)
    registry = naming.check_registry(registry)
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


def binary_path(root: Path, binary_name: str, platform: Platform) -> Path:
    return output_dir(root) / f"{platform.os}_{platform.arch}" / (binary_name + platform.exe_suffix)


def installer_path(root: Path, component: str, platform: Platform) -> Path:
    """Each component's installer embeds its own payload: ``output/<os>_<arch>/dropgz-<component>/dropgz``."""
    return (
        output_dir(root) / f"{platform.os}_{platform.arch}" / f"dropgz-{component}" / ("dropgz" + platform.exe_suffix)
    )


def archive_path(root: Path, target: ImageTarget) -> Path:
    """Upstream-style OCI archive name: ``output/images/<image>-<tag>.tar``."""
    return output_dir(root) / "images" / f"{target.component.image}-{target.tag}.tar"


class PlanBuilder:
    """Turns image targets into actions; shares one Go action per (binary, platform)."""

    def __init__(
        self,
        repo: Repository,
        toolchain: GoToolchain,
        builder: Builder,
        base_overrides: bases.BaseOverrides | None = None,
    ) -> None:
        self.repo = repo
        self.root = repo.root
        self.toolchain = toolchain
        self.builder = builder
        self.base_overrides = base_overrides or bases.BaseOverrides()
        self.actions: dict[str, Action] = {}

    def add_image(self, target: ImageTarget) -> Action:
        component, platform = target.component, target.platform
        os_image = component.os_image(platform)
        display = os_image.dockerfile.relative_to(self.root).as_posix()
        dockerfile.check_pinned(os_image.dockerfile, display)
        dockerfile.require_target(os_image.dockerfile, os_image.target, display)

        go_actions = [self._go_action(b, platform, target.version) for b in component.binaries]
        binaries = {b.file_name(platform): binary_path(self.root, b.name, platform) for b in component.binaries}
        if component.installer is not None:
            payload_actions = self._payload_actions(component, platform)
            installer_action = self._installer_action(component, platform, target.version, payload_actions)
            go_actions += [*payload_actions, installer_action]
            for name in component.installer.binaries:
                binaries[name + platform.exe_suffix] = binary_path(self.root, name, platform)
            binaries["dropgz" + platform.exe_suffix] = installer_path(self.root, component.name, platform)
        revision = versioning.revision(self.root)
        created = datetime.fromtimestamp(revision.source_date_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        declared_base = target.sku.base if target.sku else os_image.base
        base = self.base_overrides.apply(declared_base)
        os_version = target.sku.os_version if target.sku else None
        build_args = (
            ("ARCH", platform.arch),
            ("BASE_IMAGE", base),
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
        archive = archive_path(self.root, target) if platform.os == "windows" else None
        fingerprint = combine(
            {
                "kind": "image",
                "binaries": {a.id: a.fingerprint for a in go_actions},
                "dockerfile": file_digest(os_image.dockerfile),
                "files": files_digest(component.directory, files.values()),
                "target": os_image.target,
                "platform": str(platform),
                "os_version": os_version,
                "build_args": build_args,
                "labels": labels,
                "builder": self.builder.describe(),
                "archive": archive is not None,
            }
        )
        action_id = f"image:{target.key}:{self.builder.name}"
        stage_dir = state_dir(self.root) / "contexts" / component.name / target.tag.removesuffix("-" + target.version)

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
                os_version=os_version,
                archive=archive,
                insecure_pull=bases.is_loopback(base),
            )
            log = logs / f"{_safe(action_id)}.log"
            try:
                built = self.builder.build(request, log)
            except BuildFailed as failure:
                raise _explain_missing_base(failure, base, declared_base, log) from None
            result: dict[str, Any] = {"reference": built.reference, "image_id": built.image_id, "size": built.size}
            if built.archive is not None:
                _verify_archive(built.archive, platform, os_version, log)
                result["archive"] = str(built.archive.relative_to(self.root))
                result["archive_sha256"] = file_digest(built.archive)
                result["size"] = result["size"] or built.archive.stat().st_size
            return result

        def still_valid(result: dict[str, Any]) -> bool:
            if archive is not None and not (archive.is_file() and file_digest(archive) == result.get("archive_sha256")):
                return False
            image_id = result.get("image_id")
            if not image_id:
                return False
            if self.builder.image_id(target.reference) == image_id:
                return True
            if archive is not None and self.builder.name == "docker":
                return True  # buildx keeps Windows images only as archives
            if self.builder.image_id(image_id) != image_id:
                return False
            self.builder.tag(image_id, target.reference)  # same content, new name: tag, don't rebuild
            result["reference"] = target.reference
            return True

        details: dict[str, Any] = {
            "component": component.name,
            "platform": str(platform),
            "reference": target.reference,
            "version": target.version,
            "dockerfile": display,
            "target": os_image.target,
            "base": base,
            "builder": self.builder.name,
        }
        if target.sku:
            details |= {"sku": target.sku.name, "os_version": os_version}
        if archive is not None:
            details["archive"] = str(archive.relative_to(self.root))
        action = Action(
            id=action_id,
            kind="image",
            summary=f"build {target.reference}",
            fingerprint=fingerprint,
            resource="image",
            run=run,
            still_valid=still_valid,
            deps=tuple(dict.fromkeys(a.id for a in go_actions)),
            details=details,
        )
        return self._add(action)

    def _payload_actions(self, component: Component, platform: Platform) -> list[Action]:
        """The Go actions of an installer's payload binaries, each with its own component's version."""
        actions = []
        for name in component.installer.binaries if component.installer else ():
            owner, binary = self.repo.binary(name)
            actions.append(self._go_action(binary, platform, versioning.component_version(owner, self.root)))
        return actions

    def _installer_action(
        self, component: Component, platform: Platform, version: str, payload_actions: list[Action]
    ) -> Action:
        assert component.installer is not None
        action_id = f"dropgz:{component.name}:{platform}"
        if action_id in self.actions:
            return self.actions[action_id]
        output = installer_path(self.root, component.name, platform)
        files = {Path(f).name: component.directory / f for f in component.installer.files}
        payload = {name + platform.exe_suffix: binary_path(self.root, name, platform)
                   for name in component.installer.binaries}  # fmt: skip
        stage_dir = state_dir(self.root) / "dropgz" / component.name / platform.tag_prefix
        fingerprint = combine(
            {
                "kind": "dropgz",
                "toolchain": self.toolchain.version,
                "source": files_digest(self.root, installer.source_files(self.root)),
                "payload_binaries": {a.id: a.fingerprint for a in payload_actions},
                "payload_files": files_digest(component.directory, files.values()),
                "platform": str(platform),
                "version": version,
                "flags": gobuild.BUILD_FLAGS,
            }
        )

        def produce(log: Path) -> None:
            installer.stage(self.root, stage_dir, {**payload, **files})
            installer.compile_installer(self.toolchain, stage_dir, platform, version, output, log)

        return self._add(
            self._file_action(
                action_id,
                "installer",
                f"pack dropgz{platform.exe_suffix} for {component.name} on {platform} "
                f"({', '.join([*payload, *files])})",
                fingerprint,
                output,
                produce,
                deps=tuple(a.id for a in payload_actions),
                details={"component": component.name, "platform": str(platform)},
            )
        )

    def _go_action(self, binary: GoBinary, platform: Platform, version: str) -> Action:
        build = gobuild.GoBuild(binary=binary, platform=platform, version=version)
        action_id = f"go:{binary.name}:{platform}"
        if action_id in self.actions:
            return self.actions[action_id]
        output = binary_path(self.root, binary.name, platform)

        return self._add(
            self._file_action(
                action_id,
                "go-binary",
                f"compile {binary.name}{platform.exe_suffix} for {platform} ({version})",
                gobuild.fingerprint(self.toolchain, self.root, build),
                output,
                lambda log: gobuild.compile_binary(self.toolchain, self.root, build, output, log),
                details={"binary": binary.name, "platform": str(platform), "version": version},
            )
        )

    def _file_action(
        self,
        action_id: str,
        kind: str,
        summary: str,
        fingerprint: str,
        output: Path,
        produce: Callable[[Path], None],
        *,
        deps: tuple[str, ...] = (),
        details: dict[str, Any],
    ) -> Action:
        """An action whose product is one file: recorded by its sha256, current while the file still matches."""

        def run(logs: Path) -> dict[str, Any]:
            produce(logs / f"{_safe(action_id)}.log")
            return {"path": str(output.relative_to(self.root)), "sha256": file_digest(output)}

        def still_valid(result: dict[str, Any]) -> bool:
            return output.is_file() and file_digest(output) == result.get("sha256")

        return Action(
            id=action_id,
            kind=kind,
            summary=summary,
            fingerprint=fingerprint,
            resource="go",
            run=run,
            still_valid=still_valid,
            deps=deps,
            details={**details, "output": str(output.relative_to(self.root))},
        )

    def add(self, action: Action) -> Action:
        return self._add(action)

    def _add(self, action: Action) -> Action:
        self.actions.setdefault(action.id, action)
        return self.actions[action.id]

    def plan(self) -> Plan:
        return Plan(list(self.actions.values()))


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


_PULL_ERRORS = ("pinging container registry", "manifest unknown", "not found", "no such host", "pull access denied")


def _explain_missing_base(failure: BuildFailed, base: str, declared: str, log: Path) -> BuildFailed:
    """A base that cannot be pulled gets a message naming it and the override setting."""
    text = log.read_text() if log.is_file() else ""
    if base == "scratch" or bases.repository(base) not in text or not any(e in text for e in _PULL_ERRORS):
        return failure
    overridden = f" (override of {declared})" if base != declared else ""
    return BuildFailed(
        f"base image {base}{overridden} could not be pulled:\n{failure.message.splitlines()[-1]}\n"
        "  fix: make it reachable, or point the build at a mirror or stand-in pinned by digest with "
        f"BASE_IMAGE_OVERRIDES='{bases.repository(declared)}=<registry>/<name>@sha256:<digest>' "
        "(or -- --base-override ...); `nox -s windows-standin-bases` makes stand-ins for Windows bases",
        log=str(log),
    )


def _safe(action_id: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in action_id)
