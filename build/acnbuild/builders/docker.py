"""docker: buildx when present, else the BuildKit-capable classic CLI, else (with a notice) the legacy builder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..cachedirs import user_cache
from ..errors import BuildFailed, UserError
from ..platforms import Platform

if TYPE_CHECKING:
    from packaging.version import Version

from .base import BuildRequest, BuiltImage, capture, common_build_flags, run_logged

START_ENGINE_HINT = (
    "start a Docker engine (e.g. `sudo systemctl start docker`, or `sudo dockerd > /tmp/dockerd.log 2>&1 &`), "
    "point DOCKER_HOST at one, or build with CONTAINER_BUILDER=podman or buildah"
)


@dataclass
class DockerBuilder:
    name: str = "docker"
    cli: str = "docker"
    mode: str = "legacy"  # buildx | buildkit | legacy
    _checked: bool = field(default=False, repr=False)

    @classmethod
    def detect(cls) -> DockerBuilder:
        default_cli = shutil.which("docker")
        if default_cli is None:
            raise UserError("the docker CLI is not installed", hint=START_ENGINE_HINT)
        if not _engine_pings():
            info = capture([default_cli, "info", "--format", "{{.ServerVersion}}"])
            if info.returncode != 0 or not info.stdout.strip():
                host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
                detail = (info.stderr.strip().splitlines() or ["no answer"])[-1]
                raise UserError(f"no Docker engine answers at {host}: {detail}", hint=START_ENGINE_HINT)
        key = _installation_key(default_cli)
        cache = user_cache() / "docker-builder.json"
        try:
            cached = json.loads(cache.read_text())
            if cached.get("key") == key:
                return cls(cli=cached["cli"], mode=cached["mode"])
        except (OSError, ValueError, KeyError):
            pass
        found = cls._probe(default_cli)
        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"key": key, "cli": found.cli, "mode": found.mode}))
        return found

    @classmethod
    def _probe(cls, default_cli: str) -> DockerBuilder:
        from packaging.version import Version

        if capture([default_cli, "buildx", "version"]).returncode == 0:
            return cls(cli=default_cli, mode="buildx")
        for candidate in _docker_clis():
            version = _client_version(candidate)
            if version is not None and version < Version("23"):
                return cls(cli=candidate, mode="buildkit")
        return cls(cli=default_cli, mode="legacy")

    def describe(self) -> str:
        return {
            "buildx": f"docker buildx ({self.cli})",
            "buildkit": f"docker BuildKit via DOCKER_BUILDKIT=1 ({self.cli}; no buildx plugin found)",
            "legacy": f"docker legacy builder ({self.cli}): neither buildx nor a BuildKit-capable CLI was found",
        }[self.mode]

    def check_platform(self, platform: Platform) -> None:
        if platform.os == "windows" and self.mode != "buildx":
            raise UserError(
                f"docker cannot build {platform} images here: a Linux Docker engine cannot store Windows "
                "images, and without the buildx plugin there is no way to export one",
                hint="build with CONTAINER_BUILDER=buildah (or podman), or install docker buildx",
            )

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.mode == "buildkit":
            env["DOCKER_BUILDKIT"] = "1"
        elif self.mode == "legacy":
            env["DOCKER_BUILDKIT"] = "0"
        return env

    def build(self, request: BuildRequest, log: Path) -> BuiltImage:
        self.check_platform(request.platform)
        if self.mode == "legacy" and not self._checked:
            print(f"notice: {self.describe()}", file=sys.stderr)
            self._checked = True
        iidfile = log.with_suffix(".iid")
        iidfile.unlink(missing_ok=True)
        if self.mode == "buildx" and request.archive is not None:
            request.archive.parent.mkdir(parents=True, exist_ok=True)
            partial = request.archive.with_name(f".{request.archive.name}.partial")
            command = [self.cli, "buildx", "build", "--provenance=false", "--output", f"type=oci,dest={partial}"]
            command += [*common_build_flags(request), str(request.context)]
            run_logged(command, log, env=self._env(), what=f"docker buildx build of {request.reference}")
            partial.replace(request.archive)
            from ..ociarchive import read

            digest = read(request.archive).manifest["config"]["digest"]
            return BuiltImage(request.reference, digest, request.archive.stat().st_size, request.archive)
        if self.mode == "buildx":
            command = [self.cli, "buildx", "build", "--load", "--provenance=false"]
        else:
            command = [self.cli, "build"]
        command += ["--progress=plain"] if self.mode != "legacy" else []
        command += [*common_build_flags(request), "--iidfile", str(iidfile), str(request.context)]
        run_logged(command, log, env=self._env(), what=f"docker build of {request.reference}")
        if not iidfile.is_file():
            raise BuildFailed(f"docker build of {request.reference} wrote no image id", log=str(log))
        image_id = iidfile.read_text().strip()
        return BuiltImage(reference=request.reference, image_id=image_id, size=self.size(request.reference))

    def image_id(self, reference: str) -> str | None:
        result = capture([self.cli, "image", "inspect", "--format", "{{.Id}}", reference])
        return result.stdout.strip() or None if result.returncode == 0 else None

    def tag(self, image_id: str, reference: str) -> None:
        result = capture([self.cli, "tag", image_id, reference])
        if result.returncode != 0:
            raise BuildFailed(f"docker tag {image_id} {reference} failed: {result.stderr.strip()}")

    def size(self, reference: str) -> int | None:
        result = capture([self.cli, "image", "inspect", "--format", "{{.Size}}", reference])
        return int(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip().isdigit() else None

    def push(self, reference: str, log: Path) -> str | None:
        run_logged([self.cli, "push", reference], log, env=self._env(), what=f"docker push {reference}", retries=3)
        repository = reference.rsplit(":", 1)[0]
        result = capture([self.cli, "image", "inspect", "--format", "{{json .RepoDigests}}", reference])
        digests = json.loads(result.stdout or "[]") if result.returncode == 0 else []
        return next((d.split("@", 1)[1] for d in digests if d.split("@", 1)[0] == repository), None)

    def pull(self, reference: str, platform: Platform, log: Path) -> None:
        command = [self.cli, "pull", "--platform", str(platform), reference]
        run_logged(command, log, env=self._env(), what=f"docker pull {reference}", retries=3)


PLUGIN_DIRS = (
    "~/.docker/cli-plugins",
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def _installation_key(default_cli: str) -> list[str]:
    """What the mode depends on: the docker CLIs on PATH and the plugin directories, by path and mtime."""
    paths = [default_cli, *_docker_clis()]
    paths += [os.path.expanduser(d) for d in PLUGIN_DIRS]
    if os.environ.get("DOCKER_CONFIG"):
        paths.append(os.path.join(os.environ["DOCKER_CONFIG"], "cli-plugins"))
    key = []
    for path in paths:
        try:
            stat = os.stat(path)
            key.append(f"{path}:{stat.st_mtime_ns}:{stat.st_size}")
        except OSError:
            key.append(f"{path}:-")
    return key


def _engine_pings() -> bool:
    """A direct ``GET /_ping`` on the engine's unix socket (fast path); False means "ask the docker CLI"."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://") or os.environ.get("DOCKER_CONTEXT"):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(host.removeprefix("unix://"))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
            return status_line.startswith(b"HTTP/1.") and status_line.split(b" ")[1:2] == [b"200"]
    except OSError:
        return False


def _docker_clis() -> list[str]:
    """Every distinct docker executable on PATH, in PATH order."""
    seen: dict[str, str] = {}
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / "docker"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            seen.setdefault(str(candidate.resolve()), str(candidate))
    return list(seen.values())


def _client_version(cli: str) -> Version | None:
    from packaging.version import InvalidVersion, Version

    result = capture([cli, "version", "--format", "{{.Client.Version}}"])
    text = result.stdout.strip().split("+")[0]
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None
