"""Nothing unstarted is published: each built image is started the way its BUILD.yaml ``smoke`` entry says, and its
push depends on that.

- Linux images run in the Docker engine, without a network (arm64 ones under qemu when binfmt has it registered).
  Images built by buildah or podman are copied into the engine first (``skopeo copy containers-storage: →
  docker-daemon:``, same image id, under a temporary name removed afterwards): the engine is what the rest of the
  build and its tests already use, while ``podman run`` needs a host that lets its OCI runtime set rlimits, which
  containers such as CI sandboxes often refuse.
- Windows images cannot run on Linux: their program (the smoke entrypoint, else the image's) is read from the OCI
  archive's layers and run under Wine.

When the means are missing (no Wine, no arm64 emulation, no engine) the image is not started and the outcome says so
in a note on every run: never silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.fingerprint import combine_known, file_digest
from ..engine.plan import Action, Check, Freshness, Result
from ..errors import BuildFailed
from ..model import ActionKind, Smoke
from ..platforms import host_arch
from ..targets import ImageTarget
from . import emulation, ociarchive, wine
from .builders import Builder
from .builders.docker import engine_base_url

RESOURCE = "smoke"
LABEL = "com.github.acn-monorepo.acnbuild.smoke"


@dataclass(frozen=True)
class Ran:
    """What a started image did."""

    exit_code: int
    stdout: str
    stderr: str
    how: str  # "engine", "engine (qemu)", "wine"


def runner(target: ImageTarget) -> str:
    """How this machine can start the image (read-only, so plans may ask): part of the smoke fingerprint, so a
    smoke skipped for want of Wine or emulation runs once they are there."""
    platform = target.platform
    if platform.os == "windows":
        return "wine" if wine.missing() is None else "none: " + (wine.missing() or "")
    if platform.arch != host_arch():
        return "engine (qemu)" if emulation.enabled() else "none: arm64 emulation is not registered"
    return "engine"


@dataclass(frozen=True)
class SmokeStep:
    target: ImageTarget
    spec: Smoke
    builder: Builder | None
    archive: Path | None  # Windows images: the OCI archive the image build wrote

    def run(self, log: Path) -> Result:
        target = self.target
        how = runner(target)
        result: dict[str, Any] = {"reference": str(target.reference)}
        if self.archive is not None:
            result["archive_sha256"] = file_digest(self.archive)
        else:
            result["image_id"] = self._image_id()
        if how.startswith("none: "):
            return {**result, "ran": False, "note": f"{target.reference} was not started: {how[6:]}"}
        ran = self._windows(log) if target.platform.os == "windows" else self._linux(result["image_id"], how, log)
        if ran is None:
            return {**result, "ran": False, "note": f"{target.reference} was not started: no Docker engine answers"}
        self._judge(ran, log)
        return {**result, "ran": True, "how": ran.how, "exit_code": ran.exit_code}

    def check(self, result: Result, *, offline: bool) -> Check:
        if offline or self.builder is None:
            return Check(Freshness.UNKNOWN, "recorded with these inputs; the image was not looked at")
        if self.archive is not None:
            current = self.archive.is_file() and file_digest(self.archive) == result.get("archive_sha256")
        else:
            current = self.builder.image_id(self.target.reference) == result.get("image_id")
        if not current:
            return Check(Freshness.STALE, "the image changed since it was started")
        return Check(Freshness.CURRENT, "started before" if result.get("ran") else "not started before (see note)")

    # --- Linux: the Docker engine ----------------------------------------------------------------------

    def _image_id(self) -> str:
        assert self.builder is not None
        image_id = self.builder.image_id(self.target.reference)
        if image_id is None:
            raise BuildFailed(f"{self.target.reference} is not in the {self.builder.name} store: nothing to start")
        return image_id

    def _linux(self, image_id: str, how: str, log: Path) -> Ran | None:
        import docker

        try:
            client = docker.APIClient(base_url=engine_base_url(), version="auto", timeout=30)
            client.ping()
        except (docker.errors.DockerException, OSError):
            return None
        assert self.builder is not None
        with _in_engine(client, self.builder, self.target, image_id, log) as name:
            return _run_in_engine(client, name, self.target, self.spec, how, log)

    # --- Windows: Wine ---------------------------------------------------------------------------------

    def _windows(self, log: Path) -> Ran:
        assert self.archive is not None
        image = ociarchive.read(self.archive)
        entrypoint = list(self.spec.entrypoint or image.entrypoint or [])
        command = list(self.spec.args) if (self.spec.args or self.spec.entrypoint) else list(image.cmd or [])
        argv = [*entrypoint, *command]
        if not argv:
            raise BuildFailed(f"{self.target.reference} has no entrypoint or command to start", log=str(log))
        program, args = argv[0], argv[1:]
        found = image.find_file(_windows_candidates(program))
        if found is None:
            raise BuildFailed(
                f"cannot start {self.target.reference}: {program} is not in the image's own layers (programs of the "
                "base, such as powershell.exe, cannot run on Linux); set images.windows.smoke.entrypoint to one of "
                "the image's .exe files",
                log=str(log),
            )
        try:
            prefix = wine.prepare()
        except RuntimeError as error:
            raise BuildFailed(f"cannot start {self.target.reference} under Wine: {error}", log=str(log)) from None
        with tempfile.TemporaryDirectory(prefix="acnbuild-smoke-") as scratch:
            exe = Path(scratch) / Path(found[0]).name
            exe.write_bytes(found[1])
            exe.chmod(0o755)
            _log(log, f"$ wine {found[0]} {' '.join(args)}")
            try:
                done = prefix.run(exe, args, timeout=self.spec.timeout, cwd=Path(scratch))
            except subprocess.TimeoutExpired:
                raise BuildFailed(
                    f"{self.target.reference}: {program} did not exit within {self.spec.timeout:g}s", log=str(log)
                ) from None
        ran = Ran(done.returncode, done.stdout.replace("\r\n", "\n"), done.stderr.replace("\r\n", "\n"), "wine")
        _log(log, ran.stdout + ran.stderr)
        return ran

    def _judge(self, ran: Ran, log: Path) -> None:
        problems = []
        if ran.exit_code != self.spec.exit_code:
            problems.append(f"exit code {ran.exit_code}, expected {self.spec.exit_code}")
        expected = self.spec.expected_output(self.target.version)
        if expected is not None and expected.strip() not in [line.strip() for line in ran.stdout.splitlines()]:
            problems.append(f"no output line {expected!r}")
        if problems:
            tail = "\n".join((ran.stdout + ran.stderr).strip().splitlines()[-10:]) or "(no output)"
            raise BuildFailed(
                f"smoke test of {self.target.reference} ({ran.how}) failed: {'; '.join(problems)}; it will not be "
                f"pushed. Its output:\n{tail}",
                log=str(log),
            )


def _windows_candidates(program: str) -> list[str]:
    """Layer paths a Windows program name may mean: as given (from C:\\), else in C:\\Windows\\System32."""
    path = program.replace("\\", "/")
    if len(path) > 1 and path[1] == ":":
        path = path[2:]
    path = path.lstrip("/")
    candidates = [path, path + ".exe"] if not path.lower().endswith(".exe") else [path]
    if "/" not in path:
        candidates += [f"Windows/System32/{c}" for c in candidates]
    return candidates


@contextlib.contextmanager
def _in_engine(client: Any, builder: Builder, target: ImageTarget, image_id: str, log: Path) -> Iterator[str]:
    """The image's name in the engine: its id when the builder stores there, else a temporary copy."""
    if builder.capabilities.engine_store:
        yield image_id
        return
    name = f"acnbuild-smoke/{target.component.image}:{image_id.removeprefix('sha256:')[:12]}"
    from .. import process

    process.run(["skopeo", "copy", "--quiet", f"containers-storage:{target.reference}", f"docker-daemon:{name}"],
                log, what=f"copying {target.reference} into the Docker engine to start it")  # fmt: skip
    try:
        loaded = client.inspect_image(name)["Id"]
        if loaded != image_id:
            raise BuildFailed(f"{name} has id {loaded} in the engine, not {image_id}", log=str(log))
        yield name
    finally:
        with contextlib.suppress(Exception):
            client.remove_image(name)


def _run_in_engine(client: Any, name: str, target: ImageTarget, spec: Smoke, how: str, log: Path) -> Ran:
    import docker
    import requests

    container = client.create_container(
        image=name,
        command=list(spec.args) or None,
        entrypoint=list(spec.entrypoint) if spec.entrypoint else None,
        host_config=client.create_host_config(network_mode="none"),
        labels={LABEL: "true"},
        platform=str(target.platform),
    )
    _log(log, f"$ (docker engine) run {name} {' '.join([*(spec.entrypoint or ()), *spec.args])}")
    try:
        client.start(container)
        try:
            status = client.wait(container, timeout=spec.timeout)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            raise BuildFailed(f"{target.reference} did not exit within {spec.timeout:g}s", log=str(log)) from None
        stdout = client.logs(container, stdout=True, stderr=False).decode(errors="replace")
        stderr = client.logs(container, stdout=False, stderr=True).decode(errors="replace")
    except docker.errors.APIError as error:
        raise BuildFailed(f"starting {target.reference} failed: {error.explanation}", log=str(log)) from None
    finally:
        with contextlib.suppress(Exception):
            client.remove_container(container, force=True)
    _log(log, stdout + stderr)
    return Ran(int(status.get("StatusCode", -1)), stdout, stderr, how)


def _log(log: Path, text: str) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")


def smoke_action(target: ImageTarget, spec: Smoke, builder: Builder | None, builder_name: str, image: Action,
                 archive: Path | None) -> Action:  # fmt: skip
    """Start the image ``image`` builds; a push of it depends on this."""
    parts = {
        "kind": "smoke",
        "image": image.fingerprint,
        "spec": dataclasses.asdict(spec),
        "version": target.version,
        "runner": runner(target),
    }
    shown = " ".join([*(spec.entrypoint or ()), *spec.args])
    return Action(
        id=f"smoke:{target.key}:{builder_name}",
        kind=ActionKind.SMOKE,
        summary=f"start {target.reference}" + (f" ({shown})" if shown else ""),
        fingerprint=combine_known(parts, [image.fingerprint]),
        resource=RESOURCE,
        step=SmokeStep(target, spec, builder, archive),
        deps=(image.id,),
        details={**image.details, "runner": parts["runner"]},
    )
