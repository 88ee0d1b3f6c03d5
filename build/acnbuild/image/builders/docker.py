"""docker: buildx when present, else the BuildKit-capable classic CLI, else (with a notice) the legacy builder.

Builds go through the CLI (only it drives BuildKit); everything else (ping, inspect, tag, push, pull) talks to
the engine through the docker SDK, which also resolves the user's registry logins (``auths``, ``credsStore``,
``credHelpers``) the way the docker CLI does. The two read-only questions a no-op build asks (does the engine
answer? what is the id of this image?) go straight to the local engine socket when that is where the engine is
(``EngineSocket``): loading the SDK (requests, urllib3) costs more than the whole rest of a no-op build.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import interrupts, process, retry
from ...atomic import atomic_path, atomic_write
from ...errors import BuildFailed, UserError
from ...paths import user_cache
from ...platforms import Platform
from ...references import Reference
from .base import BuilderMode, BuildRequest, BuiltImage, Capabilities, common_build_flags

if TYPE_CHECKING:
    import docker

START_ENGINE_HINT = (
    "start a Docker engine (e.g. `sudo systemctl start docker`, or `sudo dockerd > /tmp/dockerd.log 2>&1 &`), "
    "point DOCKER_HOST at one, or build with CONTAINER_BUILDER=podman or buildah"
)

CAPABILITIES = {
    BuilderMode.BUILDX: Capabilities(
        windows_images=True, store_os=frozenset({"linux"}), oci_archives=True, buildkit=True, reproducible=False,
        engine_store=True,
    ),
    BuilderMode.BUILDKIT: Capabilities(
        windows_images=False, store_os=frozenset({"linux"}), oci_archives=False, buildkit=True, reproducible=False,
        engine_store=True,
    ),
    BuilderMode.LEGACY: Capabilities(
        windows_images=False, store_os=frozenset({"linux"}), oci_archives=False, buildkit=False, reproducible=False,
        engine_store=True,
    ),
}  # fmt: skip


# Probing the CLI must not reach an engine (some CLIs ping one even for --version): point it at nothing.
_NO_ENGINE = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/acnbuild-cli-probe.sock"}
_NO_ENGINE.pop("DOCKER_CONTEXT", None)


class EngineError(Exception):
    """The engine refused or failed an operation; ``text`` is its own error message."""

    def __init__(self, text: str, status: int | None = None, *, timed_out: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.status = status
        self.timed_out = timed_out  # we gave up waiting (a hung registry): worth another attempt


DEFAULT_SOCKET = "/var/run/docker.sock"


@dataclass(frozen=True)
class EngineSocket:
    """Read-only GETs of the Engine API on a local unix socket (``/_ping``, ``/images/<name>/json``).

    HTTP/1.0 on purpose: the engine (Go's net/http) then answers with a plain body and closes the connection, so
    reading to the end is the whole answer, with no chunked encoding to undo.
    """

    path: str
    timeout: float = 30.0

    @classmethod
    def local(cls, env: dict[str, str] | None = None) -> EngineSocket | None:
        """The socket when the engine is local and plain: ``DOCKER_HOST=unix://...``, or no DOCKER_HOST and the
        default context. None for anything else (tcp, ssh, TLS, another context): the SDK handles those."""
        env = dict(os.environ) if env is None else env
        host = env.get("DOCKER_HOST")
        if host:
            return cls(host.removeprefix("unix://")) if host.startswith("unix://") else None
        if env.get("DOCKER_CONTEXT") not in (None, "", "default"):
            return None
        config = Path(env.get("DOCKER_CONFIG") or Path(env.get("HOME") or Path.home()) / ".docker") / "config.json"
        try:
            current = json.loads(config.read_text()).get("currentContext")
        except FileNotFoundError:
            current = None
        except (OSError, ValueError, AttributeError):
            return None  # let the SDK read (and explain) the configuration
        return cls(DEFAULT_SOCKET) if current in (None, "", "default") else None

    def get(self, path: str) -> tuple[int, bytes]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\nUser-Agent: acnbuild\r\n\r\n".encode())
            chunks = []
            while chunk := sock.recv(1 << 16):
                chunks.append(chunk)
        head, separator, body = b"".join(chunks).partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].split()
        if not separator or len(status_line) < 2 or not status_line[1].isdigit():
            raise OSError(f"the engine at {self.path} gave no HTTP answer to GET {path}")
        if b"transfer-encoding: chunked" in head.lower():
            raise OSError(f"the engine at {self.path} answered GET {path} in chunks to an HTTP/1.0 request")
        return int(status_line[1]), body

    def ping(self) -> None:
        """Raise OSError (or an HTTP error as OSError) when the engine does not answer."""
        status, body = self.get("/_ping")
        if status != 200:
            raise OSError(f"/_ping answered HTTP {status}: {body[:200].decode(errors='replace')}")

    def inspect_image(self, name: str) -> dict[str, Any] | None:
        status, body = self.get(f"/images/{urllib.parse.quote(name, safe='/:@')}/json")
        if status == 404:
            return None
        if status != 200:
            message = body[:300].decode(errors="replace").strip()
            raise BuildFailed(f"docker engine: inspecting {name} failed: HTTP {status} {message}")
        found: dict[str, Any] = json.loads(body)
        return found


def engine_base_url() -> str | None:
    """``DOCKER_HOST``, else the current docker context's endpoint (as the CLI resolves it), else the default."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    with contextlib.suppress(Exception):  # a broken context file: fall back to the default socket
        import docker

        context = docker.ContextAPI.get_current_context()
        if context is not None and context.Host:
            return str(context.Host)
    return None


@dataclass
class DockerBuilder:
    name: str = "docker"
    cli: str = "docker"
    mode: BuilderMode = BuilderMode.LEGACY
    _noticed: bool = field(default=False, repr=False)

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES[self.mode]

    @classmethod
    def detect(cls, *, engine: bool = True) -> DockerBuilder:
        """Find the CLI and its mode; with ``engine``, also make sure an engine answers (exit 2 if not)."""
        default_cli = shutil.which("docker")
        if default_cli is None:
            raise UserError("the docker CLI is not installed", hint=START_ENGINE_HINT)
        found = _cached_mode(default_cli, write=engine) or cls._probe(default_cli)
        if engine:
            found.ping()
        return found

    @classmethod
    def _probe(cls, default_cli: str) -> DockerBuilder:
        if process.capture([default_cli, "buildx", "version"], env=_NO_ENGINE).returncode == 0:
            return cls(cli=default_cli, mode=BuilderMode.BUILDX)
        for candidate in _docker_clis():
            major = _client_major_version(candidate)
            if major is not None and major < 23:
                return cls(cli=candidate, mode=BuilderMode.BUILDKIT)
        return cls(cli=default_cli, mode=BuilderMode.LEGACY)

    # --- the engine, through the SDK ------------------------------------------------------------

    @cached_property
    def client(self) -> docker.APIClient:
        import docker

        try:
            return docker.APIClient(base_url=engine_base_url(), version="auto", timeout=120)
        except docker.errors.DockerException as error:
            raise _no_engine(str(error)) from None

    @cached_property
    def engine_socket(self) -> EngineSocket | None:
        return EngineSocket.local()

    def ping(self) -> None:
        if self.engine_socket is not None:
            try:
                return self.engine_socket.ping()
            except OSError as error:
                raise _no_engine(str(error)) from None
        import docker

        try:
            self.client.ping()
        except (docker.errors.DockerException, OSError) as error:
            raise _no_engine(str(error)) from None

    def describe(self) -> str:
        return {
            BuilderMode.BUILDX: f"docker buildx ({self.cli})",
            BuilderMode.BUILDKIT: f"docker BuildKit via DOCKER_BUILDKIT=1 ({self.cli}; no buildx plugin found)",
            BuilderMode.LEGACY: f"docker legacy builder ({self.cli}): neither buildx nor a BuildKit-capable CLI "
            "was found",
        }[self.mode]

    def check_platform(self, platform: Platform) -> None:
        if platform.os == "windows" and not self.capabilities.windows_images:
            raise UserError(
                f"docker cannot build {platform} images here: a Linux Docker engine cannot store Windows "
                "images, and without the buildx plugin there is no way to export one",
                hint="build with CONTAINER_BUILDER=buildah (or podman), or install docker buildx",
            )

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.mode is BuilderMode.BUILDKIT:
            env["DOCKER_BUILDKIT"] = "1"
        elif self.mode is BuilderMode.LEGACY:
            env["DOCKER_BUILDKIT"] = "0"
        return env

    def build(self, request: BuildRequest, log: Path) -> BuiltImage:
        self.check_platform(request.platform)
        if self.mode is BuilderMode.LEGACY and not self._noticed:
            print(f"notice: {self.describe()}", file=sys.stderr)
            self._noticed = True
        what = f"docker build of {request.reference}"
        if request.archive is not None and request.platform.os not in self.capabilities.store_os:
            with atomic_path(request.archive) as partial:
                command = [self.cli, "buildx", "build", "--provenance=false", "--output", f"type=oci,dest={partial}"]
                process.run([*command, *common_build_flags(request), str(request.context)], log, what=what,
                            env=self._env())  # fmt: skip
            from ..ociarchive import read

            digest = read(request.archive).manifest["config"]["digest"]
            return BuiltImage(request.reference, digest, request.archive.stat().st_size, request.archive)
        iidfile = log.with_suffix(".iid")
        iidfile.unlink(missing_ok=True)
        if self.mode is BuilderMode.BUILDX:
            command = [self.cli, "buildx", "build", "--load", "--provenance=false"]
        else:
            command = [self.cli, "build"]
        command += ["--progress=plain"] if self.capabilities.buildkit else []
        command += [*common_build_flags(request), "--iidfile", str(iidfile), str(request.context)]
        process.run(command, log, what=what, env=self._env())
        if not iidfile.is_file():
            raise BuildFailed(f"{what} wrote no image id", log=str(log))
        image_id = iidfile.read_text().strip()
        return BuiltImage(reference=request.reference, image_id=image_id, size=self.size(request.reference))

    def _inspect(self, reference: Reference | str) -> dict[str, Any] | None:
        if self.engine_socket is not None:
            try:
                return self.engine_socket.inspect_image(str(reference))
            except OSError as error:
                raise _no_engine(str(error)) from None
        import docker

        try:
            return dict(self.client.inspect_image(str(reference)))
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as error:
            if error.status_code == 404:
                return None
            raise BuildFailed(f"docker engine: inspecting {reference} failed: {error.explanation}") from None

    def image_id(self, reference: Reference | str) -> str | None:
        found = self._inspect(reference)
        return str(found["Id"]) if found else None

    def tag(self, image_id: str, reference: Reference) -> None:
        import docker

        try:
            self.client.tag(image_id, reference.name, reference.tag)
        except docker.errors.APIError as error:
            raise BuildFailed(f"docker tag {image_id} {reference} failed: {error.explanation}") from None

    def size(self, reference: Reference) -> int | None:
        found = self._inspect(reference)
        return int(found["Size"]) if found and isinstance(found.get("Size"), int) else None

    def push(self, reference: Reference, log: Path) -> str | None:
        """Push through the engine with the user's logins; returns the digest the engine reports."""
        aux: dict[str, Any] = {}

        def once() -> None:
            aux.clear()
            events = self.client.push(reference.name, reference.tag, stream=True, decode=True)
            for event in self._stream(log, f"push {reference}", events):
                aux.update(event.get("aux") or {})

        self._retrying(f"push {reference}", reference, once, log)
        digest = aux.get("Digest")
        return str(digest) if digest else None

    def push_image(self, image_id: str, destination: Reference, log: Path) -> str | None:
        """The engine pushes only names: tag, push, and take the name away again."""
        import docker

        self.tag(image_id, destination)
        try:
            return self.push(destination, log)
        finally:
            with contextlib.suppress(docker.errors.APIError):
                self.client.remove_image(str(destination), noprune=True)

    def pull(self, reference: Reference, platform: Platform, log: Path) -> None:
        def once() -> None:
            tag = reference.digest or reference.tag  # the engine takes a digest where the tag goes
            events = self.client.pull(reference.name, tag, stream=True, decode=True, platform=str(platform))
            for _ in self._stream(log, f"pull {reference}", events):
                pass

        self._retrying(f"pull {reference}", reference, once, log)

    def _stream(self, log: Path, what: str, events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Log the engine's progress events; an error event becomes an EngineError with the engine's own text.

        The engine retries layer uploads on its own, silently for up to a minute: each retry it starts is shown.
        An interrupted run cuts the stream, which makes the engine cancel the operation.
        """
        import docker

        log.parent.mkdir(parents=True, exist_ok=True)
        retrying: set[str] = set()
        cut = _stream_cutter(events)
        timeout = retry.tool_timeout()
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            cut()

        watchdog = threading.Timer(timeout, expire)  # the engine never gives up on a hung registry by itself
        watchdog.daemon = True
        watchdog.start()
        with open(log, "a") as handle, interrupts.stoppable(cut):
            handle.write(f"$ (docker engine) {what}\n")
            try:
                for event in events:
                    handle.write(json.dumps(event) + "\n")
                    if event.get("error"):
                        raise EngineError(str(event["error"]))
                    _show_engine_retry(what, event, retrying)
                    yield event
            except docker.errors.APIError as error:
                handle.write(f"error: {error.explanation}\n")
                raise EngineError(str(error.explanation or error), error.status_code) from None
            except (OSError, ValueError) as error:  # the stream was cut (interrupt, timeout) or the engine went away
                if not (interrupts.stopping.is_set() or expired.is_set()):
                    raise EngineError(f"the engine's answer broke off: {error}") from None
            finally:
                watchdog.cancel()
            interrupts.check()  # a cut stream ends like a finished one: it is not a success
            if expired.is_set():
                message = f"no result within {timeout:g} s, stopped (set {retry.TOOL_TIMEOUT} to wait longer)"
                handle.write(f"error: {message}\n")
                raise EngineError(message, timed_out=True)

    def _retrying(self, operation: str, reference: Reference, once: Any, log: Path) -> None:
        def transient(error: BaseException) -> bool:
            if not isinstance(error, EngineError):
                return retry.exception_is_transient(error)
            return error.timed_out or retry.tool_output_is_transient(error.text, (reference.registry,))

        def describe(error: BaseException) -> str:
            return error.text if isinstance(error, EngineError) else str(error)

        try:
            retry.call(operation, reference.registry, once, is_transient=transient, describe=describe,
                       policy=retry.TOOL_POLICY)  # fmt: skip
        except EngineError as error:
            raise _engine_failure(operation, error, log) from None
        except BuildFailed as failure:
            raise BuildFailed(failure.message, log=str(log)) from None


def _show_engine_retry(what: str, event: dict[str, Any], retrying: set[str]) -> None:
    """Say when the engine starts retrying a layer (its countdown is "Retrying in 5 seconds", "... 4 seconds", ...)."""
    layer, status = str(event.get("id", "")), str(event.get("status", ""))
    if not status.startswith("Retrying in"):
        retrying.discard(layer)
        return
    if layer not in retrying:
        retrying.add(layer)
        print(f"docker {what}: layer {layer} failed; {status.lower()} (the engine's own retry)", file=sys.stderr,
              flush=True)  # fmt: skip


def _stream_cutter(events: Iterator[dict[str, Any]]) -> Callable[[], None]:
    """How to cut an engine progress stream from another thread: shut its socket down.

    docker-py returns a generator and keeps no other handle on the HTTP response; the generator's frame holds it.
    When that is not where it used to be, cutting does nothing and the operation runs to its end.
    """

    def cut() -> None:
        frame = getattr(events, "gi_frame", None)
        response = frame.f_locals.get("response") if frame is not None else None
        connection = getattr(getattr(response, "raw", None), "connection", None)  # urllib3's HTTPResponse.connection
        sock = getattr(connection, "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    return cut


def _engine_failure(operation: str, error: EngineError, log: Path) -> BuildFailed | UserError:
    text = error.text
    if any(word in text.lower() for word in ("unauthorized", "denied", "authentication required")):
        return UserError(
            f"docker {operation}: the registry refused access: {text}",
            hint="log in first (`docker login <registry>`) with an account that may push/pull there",
        )
    if error.status == 404 or "not found" in text.lower() or "manifest unknown" in text.lower():
        return UserError(f"docker {operation}: {text}", hint="push it first, or check the registry and tag")
    return BuildFailed(f"docker {operation} failed: {text}", log=str(log))


def _no_engine(detail: str) -> UserError:
    host = engine_base_url() or "unix:///var/run/docker.sock"
    last = (detail.strip().splitlines() or ["no answer"])[-1]
    return UserError(f"no Docker engine answers at {host}: {last}", hint=START_ENGINE_HINT)


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


def _cached_mode(default_cli: str, *, write: bool) -> DockerBuilder | None:
    """The mode found last time for this installation (probing runs three CLIs); None when unknown."""
    key = _installation_key(default_cli)
    cache = user_cache() / "docker-builder.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return DockerBuilder(cli=cached["cli"], mode=BuilderMode(cached["mode"]))
    if not write:
        return None
    found = DockerBuilder._probe(default_cli)
    with contextlib.suppress(OSError):
        atomic_write(cache, json.dumps({"key": key, "cli": found.cli, "mode": found.mode.value}))
    return found


def _docker_clis() -> list[str]:
    """Every distinct docker executable on PATH, in PATH order."""
    seen: dict[str, str] = {}
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / "docker"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            seen.setdefault(str(candidate.resolve()), str(candidate))
    return list(seen.values())


def _client_major_version(cli: str) -> int | None:
    """The CLI's major version from ``docker --version`` (run with no engine to reach: some CLIs ping one)."""
    text = process.capture([cli, "--version"], env=_NO_ENGINE).stdout
    words = text.replace(",", " ").split()
    version = next((w for w in words if w[:1].isdigit()), "")
    major = version.split(".", 1)[0]
    return int(major) if major.isdigit() else None
