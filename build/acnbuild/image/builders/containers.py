"""buildah and podman: daemonless builders sharing one command shape (``<tool> build ...``).

Where their command lines differ, the difference is data (a ``Dialect``), not a branch on the tool's name.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ... import process
from ...atomic import atomic_path
from ...errors import BuildFailed, UserError
from ...platforms import Platform
from ...references import Reference
from .base import BuilderMode, BuildRequest, BuiltImage, Capabilities, common_build_flags

CAPABILITIES = Capabilities(
    windows_images=True,
    store_os=frozenset({"linux", "windows"}),
    oci_archives=True,
    buildkit=False,
    reproducible=True,
    engine_store=False,
)


@dataclass(frozen=True)
class Dialect:
    """How one containers tool spells the commands that differ."""

    inspect: tuple[str, ...]  # + --format TEMPLATE REFERENCE
    image_id_template: str
    size_template: str | None
    export: tuple[str, ...]  # {reference} and {path} are filled in


DIALECTS = {
    "buildah": Dialect(
        inspect=("inspect", "--type", "image"),
        image_id_template="{{.FromImageID}}",
        size_template=None,
        export=("push", "--quiet", "{reference}", "oci-archive:{path}:{reference}"),
    ),
    "podman": Dialect(
        inspect=("image", "inspect"),
        image_id_template="{{.Id}}",
        size_template="{{.Size}}",
        export=("save", "--quiet", "--format", "oci-archive", "-o", "{path}", "{reference}"),
    ),
}


@dataclass
class ContainersBuilder:
    """A containers/storage builder: reproducible via ``--timestamp``, builds Windows images from COPY-only stages."""

    name: str
    cli: str
    mode: BuilderMode = BuilderMode.DAEMONLESS

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    @classmethod
    def detect(cls, name: str) -> ContainersBuilder:
        cli = shutil.which(name)
        if cli is None:
            raise UserError(
                f"CONTAINER_BUILDER={name} but `{name}` is not installed",
                hint=f"apt-get install {name}, or pick another builder (docker, podman, buildah)",
            )
        return cls(name=name, cli=cli)

    @property
    def dialect(self) -> Dialect:
        return DIALECTS[self.name]

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
        what = f"{self.name} build of {request.reference}"
        # Cut short, buildah and podman leave their working container behind: an interrupted run lets them finish.
        process.run([*command, str(request.context)], log, what=what, env=self._env(), stop=process.Stop.DRAIN)
        if not iidfile.is_file():
            raise BuildFailed(f"{what} wrote no image id", log=str(log))
        image_id = iidfile.read_text().strip()
        if not image_id.startswith("sha256:"):
            image_id = "sha256:" + image_id
        if request.archive is not None:
            self._export(request.reference, request.archive, log)
        return BuiltImage(request.reference, image_id, self.size(request.reference), request.archive)

    def _export(self, reference: Reference, archive: Path, log: Path) -> None:
        """Write the image as an OCI archive: to a temporary name first, so no partial archive is left."""
        with atomic_path(archive) as partial:
            command = [part.format(reference=reference, path=partial) for part in self.dialect.export]
            process.run([self.cli, *command], log, what=f"{self.name} export of {reference} to {archive}",
                        env=self._env())  # fmt: skip

    def _inspect(self, reference: Reference | str, template: str) -> str | None:
        command = [self.cli, *self.dialect.inspect, "--format", template, str(reference)]
        result = process.capture(command, env=self._env())
        return (result.stdout.strip() or None) if result.returncode == 0 else None

    def image_id(self, reference: Reference | str) -> str | None:
        found = self._inspect(reference, self.dialect.image_id_template)
        if found and not found.startswith("sha256:"):
            found = "sha256:" + found
        return found

    def tag(self, image_id: str, reference: Reference) -> None:
        result = process.capture([self.cli, "tag", image_id.removeprefix("sha256:"), str(reference)], env=self._env())
        if result.returncode != 0:
            raise BuildFailed(f"{self.name} tag {image_id} {reference} failed: {result.stderr.strip()}")

    def push(self, reference: Reference, log: Path) -> str | None:
        digest_file = log.with_suffix(".digest")
        digest_file.unlink(missing_ok=True)
        command = [self.cli, "push", *_tls(reference), "--digestfile", str(digest_file), str(reference)]
        command.append(f"docker://{reference}")
        process.run_with_retries(command, log, what=f"{self.name} push {reference}", target=reference.registry,
                                 scrub=(reference.registry,), env=self._env())  # fmt: skip
        return digest_file.read_text().strip() if digest_file.is_file() else None

    def push_image(self, image_id: str, destination: Reference, log: Path) -> str | None:
        digest_file = log.with_suffix(".digest")
        digest_file.unlink(missing_ok=True)
        command = [self.cli, "push", *_tls(destination), "--digestfile", str(digest_file),
                   image_id.removeprefix("sha256:"), f"docker://{destination}"]  # fmt: skip
        process.run_with_retries(command, log, what=f"{self.name} push {destination}", target=destination.registry,
                                 scrub=(destination.registry,), env=self._env())  # fmt: skip
        return digest_file.read_text().strip() if digest_file.is_file() else None

    def pull(self, reference: Reference, platform: Platform, log: Path) -> None:
        command = [self.cli, "pull", *_tls(reference), "--platform", str(platform), str(reference)]
        process.run_with_retries(command, log, what=f"{self.name} pull {reference}", target=reference.registry,
                                 scrub=(reference.registry,), env=self._env())  # fmt: skip

    def size(self, reference: Reference) -> int | None:
        if self.dialect.size_template is None:
            return None
        text = self._inspect(reference, self.dialect.size_template)
        return int(text) if text and text.isdigit() else None


def _tls(reference: Reference) -> list[str]:
    """Loopback registries speak plain HTTP (docker allows them by default; containers tools need the flag)."""
    return ["--tls-verify=false"] if reference.is_loopback else []
