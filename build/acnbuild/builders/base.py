"""The one interface every container builder implements."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import BuildFailed
from ..platforms import Platform


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: Path
    target: str
    platform: Platform
    reference: str
    build_args: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    source_date_epoch: int
    os_version: str | None = None  # Windows: the os.version the image config must carry
    archive: Path | None = None  # write an OCI archive here (Windows images cannot live in a Linux daemon)
    insecure_pull: bool = False  # the base comes from a loopback registry served over plain HTTP


@dataclass(frozen=True)
class BuiltImage:
    reference: str
    image_id: str
    size: int | None = None
    archive: Path | None = None


class Builder(Protocol):
    """Build an image from a staged context; say up front what it can build."""

    name: str

    def describe(self) -> str:
        """One line for people: which tool and mode builds the images."""
        ...

    def check_platform(self, platform: Platform) -> None:
        """Raise UserError (exit 2) with the remedy when this builder cannot build ``platform`` here."""
        ...

    def build(self, request: BuildRequest, log: Path) -> BuiltImage: ...

    def image_id(self, reference: str) -> str | None:
        """The local image id of ``reference``, or None when the builder's store lacks it."""
        ...

    def tag(self, image_id: str, reference: str) -> None: ...

    def size(self, reference: str) -> int | None: ...

    def push(self, reference: str, log: Path) -> str | None:
        """Push ``reference`` from the builder's store; return the manifest digest it pushed, if known."""
        ...

    def pull(self, reference: str, platform: Platform, log: Path) -> None: ...


TRANSIENT = (
    "connection refused",
    "connection reset",
    "i/o timeout",
    "tls handshake timeout",
    "503",
    "502",
    "500",
    "504",
    "too many requests",
    "eof",
)


def run_logged(
    command: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    what: str,
    cwd: Path | None = None,
    retries: int = 0,
) -> None:
    """Run a builder command with its output appended to ``log``; fail with the log's tail.

    With ``retries``, a failure whose output looks transient (connection errors, 5xx) is retried with backoff.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(retries + 1):
        with open(log, "a") as handle:
            start = handle.tell()
            handle.write("$ " + " ".join(command) + "\n")
            handle.flush()
            result = subprocess.run(
                list(command), stdout=handle, stderr=subprocess.STDOUT, env=dict(env) if env else None, cwd=cwd,
                check=False,
            )  # fmt: skip
        if result.returncode == 0:
            return
        output = log.read_text()[start:].lower()
        if attempt < retries and any(marker in output for marker in TRANSIENT):
            time.sleep(0.5 * 2**attempt)
            continue
        break
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise BuildFailed(f"{what} failed (exit {result.returncode}):\n{tail}", log=str(log))


def capture(command: Sequence[str], *, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, env=dict(env) if env else None, check=False)


def common_build_flags(request: BuildRequest) -> list[str]:
    flags = ["--platform", str(request.platform), "--target", request.target, "-f", str(request.dockerfile)]
    flags += ["-t", request.reference]
    for key, value in request.build_args:
        flags += ["--build-arg", f"{key}={value}"]
    for key, value in request.labels:
        flags += ["--label", f"{key}={value}"]
    return flags
