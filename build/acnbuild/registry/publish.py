"""Pushing built images (verified by reading the digest back), pulling them, and archiving lists."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import process
from ..atomic import atomic_path
from ..engine.fingerprint import combine_known
from ..engine.plan import Action, Check, Freshness, Result
from ..errors import BuildFailed, UserError
from ..image.builders import Builder
from ..image.recipe import archive_path, sbom_file
from ..model import ActionKind
from ..paths import Layout
from ..platforms import Platform
from ..references import Reference
from ..targets import ImageTarget
from . import referrers
from .client import RegistryClient

RESOURCE = "push"


@dataclass(frozen=True)
class PushStep:
    """Push one built image by its tag, then read the registry's digest back and compare."""

    reference: Reference
    builder: Builder | None
    archive: Path
    sbom: Path | None = None  # attached to the pushed image as an OCI artifact (see ``referrers``)

    def run(self, log: Path) -> Result:
        if self.builder is None:
            raise AssertionError("a plan made without its builder cannot be run")
        client = RegistryClient.for_reference(self.reference)
        client.ping()  # a refused login fails here, at once, not after a tool's own retries
        if self.builder.image_id(self.reference) is not None:
            pushed = self.builder.push(self.reference, log)
        elif self.archive.is_file():
            pushed = push_archive(self.archive, self.reference, log)
        else:
            raise BuildFailed(f"{self.reference} is neither in the {self.builder.name} store nor in {self.archive}")
        remote = client.get(self.reference)
        if remote is None:
            raise BuildFailed(f"{self.reference} was pushed but the registry does not have it", log=str(log))
        if pushed and remote.digest != pushed:
            raise BuildFailed(f"{self.reference}: pushed {pushed} but the registry holds {remote.digest}", log=str(log))
        result: dict[str, Any] = {"reference": str(self.reference), "digest": remote.digest}
        if self.sbom is not None and self.sbom.is_file():
            data = self.sbom.read_bytes()
            created = str(json.loads(data).get("metadata", {}).get("timestamp", ""))
            attached = referrers.attach_sbom(client, self.reference, remote, data, created)
            result |= {"sbom_digest": attached.digest, "sbom_attached": attached.how}
            if not attached.digest:
                result["note"] = f"{self.reference}: SBOM not attached ({attached.how}); it is in the image"
        return result

    def check(self, result: Result, *, offline: bool) -> Check:
        if offline:
            return Check(Freshness.UNKNOWN, "pushed with these inputs; the registry was not consulted")
        client = RegistryClient.for_reference(self.reference)
        remote = client.get(self.reference)
        if remote is None:
            return Check(Freshness.STALE, "not in the registry")
        if remote.digest != result.get("digest"):
            return Check(Freshness.STALE, "the registry holds another image under this tag")
        attached = result.get("sbom_digest")
        if attached and client.manifest(self.reference.repository, attached) is None:
            return Check(Freshness.STALE, "its SBOM is no longer attached")
        return Check(Freshness.CURRENT, "already in the registry")


def push_action(
    builder: Builder | None,
    builder_name: str,
    layout: Layout,
    target: ImageTarget,
    image: Action,
    gate: Action | None = None,
) -> Action:
    """Push the image ``image`` builds, once ``gate`` (its smoke test) passed."""
    reference = target.reference
    parts = {"kind": "push", "image": image.fingerprint, "reference": str(reference)}
    return Action(
        id=f"push:{target.key}:{builder_name}",
        kind=ActionKind.PUSH,
        summary=f"push {reference}",
        fingerprint=combine_known(parts, [image.fingerprint]),
        resource=RESOURCE,
        step=PushStep(reference, builder, archive_path(layout, target), sbom_file(layout, target)),
        deps=tuple(dict.fromkeys((image.id, (gate or image).id))),
        details={**image.details, "reference": str(reference)},
    )


def _skopeo(what: str) -> str:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise UserError(f"{what} needs skopeo", hint="apt-get install skopeo")
    return skopeo


def push_archive(archive: Path, reference: Reference, log: Path) -> str | None:
    """Images that only exist as OCI archives (buildx Windows builds) go up with skopeo."""
    skopeo = _skopeo(f"pushing {archive.name}")
    digest_file = log.with_suffix(".digest")
    digest_file.unlink(missing_ok=True)
    tls = ["--dest-tls-verify=false"] if reference.is_loopback else []
    command = [
        skopeo,
        "copy",
        *tls,
        "--digestfile",
        str(digest_file),
        f"oci-archive:{archive}",
        f"docker://{reference}",
    ]
    process.run_with_retries(command, log, what=f"skopeo copy to {reference}", target=reference.registry,
                             scrub=(reference.registry,))  # fmt: skip
    return digest_file.read_text().strip() if digest_file.is_file() else None


def pull(builder: Builder, reference: Reference, platform: Platform, log: Path) -> None:
    if RegistryClient.for_reference(reference).get(reference) is None:
        raise UserError(f"{reference} does not exist in the registry", hint="push it first, or check the tag")
    builder.pull(reference, platform, log)


def archive_list(reference: Reference, target: Path, log: Path) -> Path:
    """Upstream's skopeo archive of the whole list (``<image>-<version>.tar``), written atomically."""
    skopeo = _skopeo("the manifest archive")
    tls = ["--src-tls-verify=false"] if reference.is_loopback else []
    with atomic_path(target) as partial:
        command = [skopeo, "copy", "--all", *tls, f"docker://{reference}", f"oci-archive:{partial}:{reference}"]
        process.run_with_retries(command, log, what=f"skopeo copy --all {reference}", target=reference.registry,
                                 scrub=(reference.registry,))  # fmt: skip
    return target
