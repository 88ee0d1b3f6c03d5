"""Supply chain: each image holds its SBOM and provenance labels, the SBOM is attached in the registry after the
push, and base image digests come from one lock file that a session refreshes from the registry."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from acnbuild import sessions
from acnbuild.go import toolchain
from acnbuild.image import ociarchive
from acnbuild.references import Reference
from acnbuild.registry import referrers, standin
from acnbuild.registry.client import RegistryClient
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonValidator

from tests.conftest import REPO_ROOT
from tests.integration.conftest import acnbuild, build, override_args, require

pytestmark = pytest.mark.integration
LABELS = "com.github.acn-monorepo.acnbuild"


def file_in_engine_image(docker_client: Any, image: str, path: str) -> bytes:
    container = docker_client.containers.create(image, labels={"org.testcontainers": "true"})
    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            assert member is not None
            return member.read()
    finally:
        container.remove(force=True)


def valid_cyclonedx(data: bytes) -> dict[str, Any]:
    assert JsonValidator(SchemaVersion.V1_6).validate_str(data.decode()) is None
    document: dict[str, Any] = json.loads(data)
    return document


def applications(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Binary components by where the image holds them."""
    return {
        c["evidence"]["occurrences"][0]["location"]: c for c in document["components"] if c["type"] == "application"
    }


def test_linux_image_holds_its_sbom_and_the_registry_has_it_attached(registry, docker_client) -> None:
    outcomes = sessions.build_images(["--registry", registry.host], ["azure-ipam"], prog="test",
                                     push=True)  # fmt: skip
    image = next(o for o in outcomes if o.action.kind == "image")
    pushed = next(o for o in outcomes if o.action.kind == "push")
    reference = image.action.details["reference"]
    in_image = file_in_engine_image(docker_client, reference, "/usr/share/sbom/azure-ipam.cdx.json")
    assert in_image == (REPO_ROOT / image.result["sbom"]).read_bytes()
    document = valid_cyclonedx(in_image)
    binaries = applications(document)
    assert set(binaries) == {"/dropgz", "/dropgz!/azure-ipam"}
    dropgz = file_in_engine_image(docker_client, reference, "/dropgz")
    assert binaries["/dropgz"]["hashes"][0]["content"] == hashlib.sha256(dropgz).hexdigest()
    stdlib = next(c for c in document["components"] if c["name"] == "stdlib")
    assert stdlib["version"] == toolchain.ensure(REPO_ROOT).version
    assert "registry" not in json.dumps(document) and registry.host not in json.dumps(document)

    # attached after the push: Debian's docker-registry 2.8 has no referrers API, so the tag schema is used
    assert pushed.result["sbom_attached"] == "tag schema"
    ref = Reference.parse(reference)
    client = RegistryClient.for_reference(ref)
    digest = pushed.result["digest"]
    listed = referrers.referrers(client, ref, digest)
    assert [(e["digest"], e["artifactType"]) for e in listed] == [
        (pushed.result["sbom_digest"], referrers.ARTIFACT_TYPE)
    ]
    cosign = client.manifest(ref.repository, referrers.fallback_tag(digest) + ".sbom")
    assert cosign is not None and cosign.digest == pushed.result["sbom_digest"]
    assert cosign.json["subject"]["digest"] == digest
    assert client.blob(ref.repository, cosign.json["layers"][0]["digest"]) == in_image

    again = sessions.build_images(["--registry", registry.host], ["azure-ipam"], prog="test", push=True)
    assert {o.action.kind: o.status for o in again}["push"] == "cached"
    assert len(referrers.referrers(client, ref, digest)) == 1  # nothing attached twice


def test_provenance_labels(docker_client) -> None:
    image = next(o for o in build(["cns"]) if o.action.kind == "image")
    labels = docker_client.images.get(image.action.details["reference"]).attrs["Config"]["Labels"]
    assert labels[f"{LABELS}.toolchain"] == toolchain.ensure(REPO_ROOT).version
    assert labels[f"{LABELS}.builder"].startswith("docker/")
    assert len(labels["org.opencontainers.image.revision"]) == 40
    assert "org.opencontainers.image.base.digest" not in labels  # scratch has none


def test_windows_image_holds_its_sbom_and_names_its_base(windows_overrides) -> None:
    outcomes = build(["cns"], "--platform", "windows/amd64", "--builder", "buildah", *override_args(windows_overrides))
    image = next(o for o in outcomes if o.action.kind == "image")
    archive = ociarchive.read(REPO_ROOT / image.result["archive"])
    found = archive.find_file(["ProgramData/sbom/azure-cns.cdx.json"])
    assert found is not None
    document = valid_cyclonedx(found[1])
    assert set(applications(document)) == {"/azure-cns.exe"}
    base = next(o.split("=", 1)[1] for o in windows_overrides if "host-process" in o)
    assert archive.labels["org.opencontainers.image.base.digest"] == Reference.parse(base).digest
    assert archive.labels["org.opencontainers.image.base.name"] == str(Reference.parse(base).with_digest(None))
    assert archive.labels[f"{LABELS}.builder"] == "buildah/daemonless"


def test_base_lock_refresh_reads_the_registry(monorepo_copy: Path, registry) -> None:
    require(shutil.which("buildah") is not None and shutil.which("skopeo") is not None, "buildah and skopeo")
    base = f"{registry.host}/lockprobe/servercore:ltsc2022"
    pinned = standin.push_standin(Reference.parse(base), "10.0.20348.643")
    build_file = monorepo_copy / "components/npm/BUILD.yaml"
    build_file.write_text(build_file.read_text().replace("base: mcr.microsoft.com/windows/servercore:ltsc2022",
                                                         f"base: {base}"))  # fmt: skip
    lock = monorepo_copy / "requirements/base-images.lock"
    stale = "sha256:" + "0" * 64
    kept = [line for line in lock.read_text().splitlines() if "servercore" not in line]
    lock.write_text("\n".join([*kept, f"{base}@{stale}"]) + "\n")
    assert f"{base}@{stale}" in lock.read_text()
    refreshed = acnbuild("base-lock", "refresh", base, cwd=monorepo_copy)  # MCR is out of reach here
    assert refreshed.returncode == 0, refreshed.stderr
    assert f"{base}: {stale} -> {pinned.digest}" in refreshed.stderr
    assert f"{base}@{pinned.digest}" in lock.read_text()
    checked = acnbuild("base-lock", cwd=monorepo_copy)
    assert checked.returncode == 0, checked.stderr
    plan = json.loads(acnbuild("plan", "--component", "npm", "--platform", "windows/amd64", "--builder", "buildah",
                               "--json", cwd=monorepo_copy).stdout)  # fmt: skip
    assert {a["base"] for a in plan["actions"] if a["kind"] == "image"} == {f"{base}@{pinned.digest}"}


def test_base_lock_refresh_changes_nothing_when_a_registry_is_unreachable(monorepo_copy: Path) -> None:
    lock = monorepo_copy / "requirements/base-images.lock"
    before = lock.read_bytes()
    build_file = monorepo_copy / "components/npm/BUILD.yaml"
    build_file.write_text(build_file.read_text().replace("base: mcr.microsoft.com/windows/servercore:ltsc2022",
                                                         "base: 127.0.0.1:9/nothing/here:v1"))  # fmt: skip
    result = acnbuild("base-lock", "refresh", cwd=monorepo_copy, timeout=300)  # no registry answers here
    assert result.returncode == 2 and "cannot read the digest of" in result.stderr
    assert "Traceback" not in result.stderr
    assert lock.read_bytes() == before
