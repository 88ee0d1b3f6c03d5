"""buildah and podman: daemonless builders sharing one command shape (``<tool> build ...``)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..bases import is_loopback
from ..errors import BuildFailed, UserError
from ..platforms import Platform
from .base import BuildRequest, BuiltImage, capture, common_build_flags, run_logged


@dataclass
class ContainersBuilder:
    """A containers/storage builder: reproducible via ``--timestamp``, builds Windows images from COPY-only stages."""

    name: str
    cli: str

    @classmethod
    def detect(cls, name: str) -> ContainersBuilder:
        cli = shutil.which(name)
        if cli is None:
            raise UserError(
                f"CONTAINER_BUILDER={name} but `{name}` is not installed",
                hint=f"apt-get install {name}, or pick another builder (docker, podman, buildah)",
            )
        return cls(name=name, cli=cli)

    def describe(self) -> str:
        return f"{self.name} ({self.cli})"

    def check_platform(self, platform: Platform) -> None:
        return None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("BUILDAH_ISOLATION", "chroot")
        return env

    def build(self, request: BuildRequest, log: Path) -> BuiltImage:
        iidfile = log.with_suffix(".iid")
        iidfile.unlink(missing_ok=True)
        command = [self.cli, "build", *common_build_flags(request)]
        command += ["--timestamp", str(request.source_date_epoch), "--iidfile", str(iidfile)]
        if request.os_version:
            command += ["--os-version", request.os_version]
        if request.insecure_pull:
            command += ["--tls-verify=false"]
        run_logged(
            [*command, str(request.context)], log, env=self._env(), what=f"{self.name} build of {request.reference}"
        )
        if not iidfile.is_file():
            raise BuildFailed(f"{self.name} build of {request.reference} wrote no image id", log=str(log))
        image_id = iidfile.read_text().strip()
        if not image_id.startswith("sha256:"):
            image_id = "sha256:" + image_id
        if request.archive is not None:
            self._export(request.reference, request.archive, log)
        return BuiltImage(request.reference, image_id, self.size(request.reference), request.archive)

    def _export(self, reference: str, archive: Path, log: Path) -> None:
        """Write the image as an OCI archive: to a temporary name first, so no partial archive is left."""
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(f".{archive.name}.partial")
        partial.unlink(missing_ok=True)
        if self.name == "buildah":
            command = [self.cli, "push", "--quiet", reference, f"oci-archive:{partial}:{reference}"]
        else:
            command = [self.cli, "save", "--quiet", "--format", "oci-archive", "-o", str(partial), reference]
        run_logged(command, log, env=self._env(), what=f"{self.name} export of {reference} to {archive}")
        partial.replace(archive)

    def _inspect(self, reference: str, template: str) -> str | None:
        if self.name == "buildah":
            command = [self.cli, "inspect", "--type", "image", "--format", template, reference]
        else:
            command = [self.cli, "image", "inspect", "--format", template, reference]
        result = capture(command, env=self._env())
        return result.stdout.strip() or None if result.returncode == 0 else None

    def image_id(self, reference: str) -> str | None:
        template = "{{.FromImageID}}" if self.name == "buildah" else "{{.Id}}"
        found = self._inspect(reference, template)
        if found and not found.startswith("sha256:"):
            found = "sha256:" + found
        return found

    def tag(self, image_id: str, reference: str) -> None:
        result = capture([self.cli, "tag", image_id.removeprefix("sha256:"), reference], env=self._env())
        if result.returncode != 0:
            raise BuildFailed(f"{self.name} tag {image_id} {reference} failed: {result.stderr.strip()}")

    def push(self, reference: str, log: Path) -> str | None:
        digest_file = log.with_suffix(".digest")
        digest_file.unlink(missing_ok=True)
        command = [self.cli, "push", *_tls(reference), "--digestfile", str(digest_file), reference]
        command.append(f"docker://{reference}")
        run_logged(command, log, env=self._env(), what=f"{self.name} push {reference}", retries=3)
        return digest_file.read_text().strip() if digest_file.is_file() else None

    def pull(self, reference: str, platform: Platform, log: Path) -> None:
        command = [self.cli, "pull", *_tls(reference), "--platform", str(platform), reference]
        run_logged(command, log, env=self._env(), what=f"{self.name} pull {reference}", retries=3)

    def size(self, reference: str) -> int | None:
        template = "{{.Size}}" if self.name == "podman" else ""
        if not template:
            return None
        text = self._inspect(reference, template)
        return int(text) if text and text.isdigit() else None


def _tls(reference: str) -> list[str]:
    """Loopback registries speak plain HTTP (docker allows them by default; containers tools need the flag)."""
    return ["--tls-verify=false"] if is_loopback(reference) else []
