"""Stand-in Windows base images for machines that cannot pull the upstream ones.

A stand-in is an empty image whose config says os=windows, the architecture and an ``os.version``: enough for
COPY-only Windows stages, which is all the Windows Dockerfiles here are. buildah makes it and pushes it to a
(loopback) registry; the build then uses it through an explicit base override, pinned by digest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .. import process
from ..errors import UserError
from ..model import Repository
from ..paths import Layout
from ..references import Reference, Registry

# Windows Server releases by SKU (the os.version upstream used for its per-SKU images).
OS_VERSIONS = {"ltsc2019": "10.0.17763.3887", "ltsc2022": "10.0.20348.643", "ltsc2025": "10.0.26100.1742"}


def _buildah(*args: str) -> str:
    env = dict(os.environ)
    env.setdefault("BUILDAH_ISOLATION", "chroot")
    result = subprocess.run(["buildah", *args], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise UserError(f"buildah {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def push_standin(reference: Reference, os_version: str, arch: str = "amd64", log: Path | None = None) -> Reference:
    """Create and push a stand-in base as ``reference``; return it pinned by the digest the registry holds.

    The push is retried like every other registry operation (``process.run_with_retries``); ``log`` keeps its output.
    """
    if shutil.which("buildah") is None:
        raise UserError("making a Windows stand-in base needs buildah", hint="apt-get install buildah")
    container = _buildah("from", "--quiet", "scratch")
    try:
        _buildah("config", "--os", "windows", "--arch", arch, "--os-version", os_version, container)
        _buildah("config", "--label", "org.opencontainers.image.description=acnbuild Windows stand-in base", container)
        image = _buildah("commit", "--quiet", "--timestamp", "0", container, str(reference))
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
    with tempfile.TemporaryDirectory() as scratch:
        digest_file = Path(scratch) / "digest"
        tls = ["--tls-verify=false"] if reference.is_loopback else []
        command = ["buildah", "push", "--quiet", *tls, "--digestfile", str(digest_file), image, f"docker://{reference}"]
        env = {**os.environ, "BUILDAH_ISOLATION": os.environ.get("BUILDAH_ISOLATION", "chroot")}
        process.run_with_retries(command, log or Path(scratch) / "push.log", what=f"buildah push {reference}",
                                 target=reference.registry, scrub=(reference.registry,), env=env)  # fmt: skip
        digest = digest_file.read_text().strip()
    return reference.with_tag(None).with_digest(digest)


def push_for_repository(repo: Repository, registry: Registry) -> list[str]:
    """A stand-in for every Windows base the components declare; returns ``KEY=REFERENCE`` override lines."""
    lines = []
    seen: set[str] = set()
    for component in repo.components.values():
        windows = component.images.get("windows")
        if windows is None:
            continue
        candidates = [(s.base, s.os_version) for s in windows.skus] or [(windows.base, OS_VERSIONS["ltsc2022"])]
        for base, os_version in candidates:
            if base == "scratch":
                continue
            declared = Reference.parse(base)
            key = f"{declared.name}:{declared.tag}" if declared.tag else declared.name
            if key in seen:
                continue
            seen.add(key)
            name = declared.repository.rsplit("/", 1)[-1]
            standin = Reference.parse(f"{registry}/standin/{name}:{declared.tag or 'latest'}")
            log = Layout(repo.root).log(f"standin:{name}:{declared.tag or 'latest'}")
            lines.append(f"{key}={push_standin(standin, os_version, log=log)}")
    return lines
