"""Attach an image's SBOM to it in the registry, after its push.

The SBOM goes up as an OCI 1.1 artifact: an image manifest with ``artifactType`` CycloneDX, the empty config, the
SBOM as its one layer, and ``subject`` naming the image. A registry with the referrers API says so with an
``OCI-Subject`` header and lists it under ``/v2/<name>/referrers/<digest>``. Registries without it (Debian's
docker-registry 2.8 stores such manifests but ignores ``subject``) get the two fallbacks clients look for:

- the referrers tag schema: an OCI index tagged ``sha256-<hex>`` (the image digest) listing the artifact, merged
  with what that tag already lists (ORAS, notation and cosign 2 read it);
- a cosign-style tag ``sha256-<hex>.sbom`` on the artifact itself (``cosign download sbom`` reads it).

A registry that refuses artifact manifests altogether keeps the image, whose SBOM is also a file inside it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..references import Reference
from .client import OCI_INDEX, OCI_MANIFEST, Manifest, ManifestRefused, RegistryClient

ARTIFACT_TYPE = "application/vnd.cyclonedx+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
TITLE = "org.opencontainers.image.title"
CREATED = "org.opencontainers.image.created"


@dataclass(frozen=True)
class Attached:
    digest: str  # of the artifact manifest
    how: str  # "referrers API", "tag schema", or "refused: ..."


def _descriptor(media_type: str, data: bytes, digest: str, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}


def artifact(subject: Manifest, sbom: bytes, sbom_digest: str, empty_digest: str, name: str, created: str) -> bytes:
    """The artifact manifest, canonical JSON, so the same SBOM on the same image is the same digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": _descriptor(EMPTY_TYPE, EMPTY, empty_digest),
        "layers": [_descriptor(ARTIFACT_TYPE, sbom, sbom_digest, annotations={TITLE: name})],
        "subject": _descriptor(subject.media_type, subject.body, subject.digest),
        "annotations": {CREATED: created},
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def fallback_tag(subject_digest: str) -> str:
    """The referrers tag schema: ``sha256:<hex>`` becomes ``sha256-<hex>``."""
    return subject_digest.replace(":", "-")


def attach_sbom(client: RegistryClient, reference: Reference, subject: Manifest, sbom: bytes, created: str) -> Attached:
    repository = reference.repository
    try:
        empty_digest = client.put_blob(repository, EMPTY)
        sbom_digest = client.put_blob(repository, sbom)
        body = artifact(subject, sbom, sbom_digest, empty_digest, f"{reference.repository.rsplit('/', 1)[-1]}.cdx.json",
                        created)  # fmt: skip
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        answer = client.put_manifest_answer(repository, digest, OCI_MANIFEST, body)
    except ManifestRefused as refused:
        return Attached("", f"refused: {refused.message}")
    if answer.headers.get("oci-subject"):
        return Attached(digest, "referrers API")
    tag = fallback_tag(subject.digest)
    entry = _descriptor(OCI_MANIFEST, body, digest, artifactType=ARTIFACT_TYPE, annotations={CREATED: created})
    existing = client.manifest(repository, tag)
    kept = []
    if existing is not None and existing.media_type == OCI_INDEX:
        kept = [m for m in existing.json.get("manifests", []) if m.get("digest") != digest]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*kept, entry]}
    client.put_manifest_answer(repository, tag, OCI_INDEX, json.dumps(index, sort_keys=True).encode())
    client.put_manifest_answer(repository, f"{tag}.sbom", OCI_MANIFEST, body)
    return Attached(digest, "tag schema")


def referrers(client: RegistryClient, reference: Reference, subject_digest: str) -> list[dict[str, Any]]:
    """The artifacts that name ``subject_digest``: from the referrers API, else from the fallback tag."""
    repository = reference.repository
    answer = client.get_json(f"{repository}/referrers/{subject_digest}")
    if answer is not None:
        return list(answer.get("manifests", []))
    index = client.manifest(repository, fallback_tag(subject_digest))
    return list(index.json.get("manifests", [])) if index is not None else []
