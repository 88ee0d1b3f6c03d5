"""Registry side of the pipeline: push actions (verified by reading the digest back), pulls, archives."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from . import naming
from .bases import is_loopback
from .builders import Builder
from .builders.base import run_logged
from .errors import BuildFailed, UserError
from .fingerprint import combine
from .pipeline import ImageTarget, archive_path
from .plan import Action
from .platforms import Platform
from .registryapi import Reference, RegistryClient


def push_action(builder: Builder, root: Path, target: ImageTarget, image: Action) -> Action:
    """Push one built image by its tag, then read the registry's digest back and compare."""
    reference = target.reference
    ref = Reference.parse(reference)
    client = RegistryClient(ref.registry)
    archive = archive_path(root, target)
    action_id = f"push:{target.key}:{builder.name}"

    def run(logs: Path) -> dict[str, Any]:
        log = logs / (action_id.replace(":", "_").replace("/", "_") + ".log")
        if builder.image_id(reference) is not None:
            pushed = builder.push(reference, log)
        elif archive.is_file():
            pushed = _push_archive(archive, reference, log)
        else:
            raise BuildFailed(f"{reference} is neither in the {builder.name} store nor in {archive}")
        remote = client.manifest(ref.repository, ref.tag)
        if remote is None:
            raise BuildFailed(f"{reference} was pushed but the registry does not have it", log=str(log))
        if pushed and remote.digest != pushed:
            raise BuildFailed(f"{reference}: pushed {pushed} but the registry holds {remote.digest}", log=str(log))
        return {"reference": reference, "digest": remote.digest}

    def still_valid(result: dict[str, Any]) -> bool:
        remote = client.manifest(ref.repository, ref.tag)
        return remote is not None and remote.digest == result.get("digest")

    return Action(
        id=action_id,
        kind="push",
        summary=f"push {reference}",
        fingerprint=combine({"kind": "push", "image": image.fingerprint, "reference": reference}),
        resource="push",
        run=run,
        still_valid=still_valid,
        deps=(image.id,),
        details={**image.details, "reference": reference},
    )


def _push_archive(archive: Path, reference: str, log: Path) -> str | None:
    """Images that only exist as OCI archives (buildx Windows builds) go up with skopeo."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise UserError(f"pushing {archive.name} needs skopeo", hint="apt-get install skopeo")
    digest_file = log.with_suffix(".digest")
    tls = ["--dest-tls-verify=false"] if is_loopback(reference) else []
    command = [
        skopeo,
        "copy",
        *tls,
        "--digestfile",
        str(digest_file),
        f"oci-archive:{archive}",
        f"docker://{reference}",
    ]
    run_logged(command, log, what=f"skopeo copy to {reference}", retries=3)
    return digest_file.read_text().strip() if digest_file.is_file() else None


def pull(builder: Builder, reference: str, platform: Platform, log: Path) -> None:
    ref = Reference.parse(reference)
    if RegistryClient(ref.registry).manifest(ref.repository, ref.tag) is None:
        raise UserError(f"{reference} does not exist in the registry", hint="push it first, or check the tag")
    builder.pull(reference, platform, log)


def archive_list(reference: str, image: str, version: str, root: Path, log: Path) -> Path:
    """Upstream's skopeo archive of the whole list: ``output/images/<image>-<version>.tar``."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise UserError("the manifest archive needs skopeo", hint="apt-get install skopeo")
    target = root / "output" / "images" / f"{image}-{version}.tar"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    tls = ["--src-tls-verify=false"] if is_loopback(reference) else []
    command = [skopeo, "copy", "--all", *tls, f"docker://{reference}", f"oci-archive:{partial}:{reference}"]
    run_logged(command, log, what=f"skopeo copy --all {reference}", retries=3)
    partial.replace(target)
    return target


def list_reference(registry: str, image: str, version: str) -> str:
    """Upstream's manifest tag: the bare version."""
    return naming.image_reference(registry, image, version)


def write_list(root: Path, image: str, version: str, body: bytes) -> Path:
    """The assembled list, byte for byte as it would be pushed: ``output/manifests/<image>-<version>.json``."""
    path = root / "output" / "manifests" / f"{image}-{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(body)
    os.replace(partial, path)
    return path
