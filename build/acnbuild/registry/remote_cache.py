"""A remote cache in an OCI registry: every runner that can reach the registry shares what the others built.

Entries are tagged ``<kind>-<fingerprint>`` in one repository (``ACNBUILD_REMOTE_CACHE=<registry>/<repository>``):

- Go binaries and dropgz installers are OCI artifacts: a manifest (``artifactType`` of our own) whose empty config
  is followed by one layer per file, raw bytes, with annotations naming the binary, platform, toolchain and
  fingerprint. A hit downloads the file, checks its digest and writes it where a compile would have.
- Images are the images themselves, pushed by the builder under the fingerprint tag. A hit is a pull (by digest)
  into the builder's store and a tag, never a build; a Windows image's OCI archive is restored from the registry,
  and the SBOM file the build writes next to the image (``output/sbom``) from an artifact tagged ``sbom-<fp>``.
- A smoke test's verdict (the image was started and did what its BUILD.yaml says) is an artifact holding the
  verdict as JSON; a hit applies only to the very image it was given for: the same image id in the store, or for
  Windows images the same config digest in the OCI archive.

Everything fetched is verified against its digest. A missing, corrupt or unusable entry is a miss: the action runs
as if there were no cache. A cache that cannot be reached (or refuses our login) is given up for the rest of the
run after one failure, with a short retry budget, so it never costs more than a few seconds. Logins are the ones
pushing uses (``credentials``, ``auth``, and the builders' own for images).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import process, retry
from ..atomic import atomic_path, atomic_write
from ..engine.fingerprint import file_digest
from ..engine.plan import Action, Result
from ..engine.remote import Fetched, Miss, RemoteMode
from ..errors import AcnBuildError, BuildFailed
from ..go.actions import FileStep
from ..image import ociarchive
from ..image.smoke import SmokeStep
from ..image.step import ImageBuildStep
from ..model import ActionKind
from ..platforms import Platform
from ..references import Reference
from .client import OCI_MANIFEST, DigestMismatch, RegistryClient

ARTIFACT_TYPES = {
    ActionKind.GO_BINARY: "application/vnd.acnbuild.go-binary.v1",
    ActionKind.INSTALLER: "application/vnd.acnbuild.dropgz-installer.v1",
}
SMOKE_TYPE = "application/vnd.acnbuild.smoke-verdict.v1"
SBOM_TYPE = "application/vnd.acnbuild.image-sbom.v1"  # the image's SBOM file, next to the image entry
SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"
FILE_MEDIA_TYPE = "application/vnd.acnbuild.file.v1"  # one file, its bytes as they are
VERDICT_MEDIA_TYPE = "application/vnd.acnbuild.smoke-verdict.v1+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
TITLE = "org.opencontainers.image.title"
PREFIX = "dev.acnbuild."
FILE_MODE = 0o755  # what go build gives an executable
# A cache is an optimisation: give up on it quickly rather than make the build wait.
CACHE_POLICY = retry.RetryPolicy(attempts=2, initial=0.5, maximum=2.0, deadline=10.0)


class _Unavailable(Exception):
    """The cache itself failed (unreachable, refused our login): no further entry is asked for in this run."""


def cache_tag(action: Action) -> str:
    assert action.fingerprint is not None
    return f"{action.kind}-{action.fingerprint}"


def sbom_tag(action: Action) -> str:
    assert action.fingerprint is not None
    return f"sbom-{action.fingerprint}"


def _sha256(digest: str) -> str:
    return "sha256:" + digest.removeprefix("sha256:")


@dataclass
class RegistryRemoteCache:
    """``RemoteCache`` (engine) over one registry repository."""

    location: Reference  # registry/repository, no tag
    mode: RemoteMode = RemoteMode.READWRITE
    _client: RegistryClient | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _unavailable: str | None = field(default=None, init=False, repr=False)
    _store_failure: str | None = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        return self.location.name

    @property
    def client(self) -> RegistryClient:
        with self._lock:
            if self._client is None:
                self._client = RegistryClient(self.location.registry_info, policy=CACHE_POLICY)
            return self._client

    def _ask(self, what: str, call: Any, *args: Any) -> Any:
        """One registry API call; a failure of the cache itself (not of one entry) makes it unavailable."""
        try:
            return call(*args)
        except DigestMismatch:
            raise
        except Exception as error:  # noqa: BLE001 - whatever failed, the cache is not worth waiting for again
            reason = _reason(error)
            with self._lock:
                self._unavailable = self._unavailable or f"{self.name} is unavailable ({what}: {reason})"
            raise _Unavailable(self._unavailable) from None

    def reference(self, action: Action) -> Reference:
        return self.location.with_tag(cache_tag(action))

    def handles(self, action: Action) -> bool:
        if action.fingerprint is None:
            return False
        if action.kind in ARTIFACT_TYPES:
            return isinstance(action.step, FileStep)
        if action.kind == ActionKind.SMOKE:
            return isinstance(action.step, SmokeStep)
        return action.kind == ActionKind.IMAGE and isinstance(action.step, ImageBuildStep)

    # --- fetch --------------------------------------------------------------------------------------------------

    def fetch(self, action: Action, log: Path) -> Fetched | Miss:
        if self._unavailable:
            return Miss(self._unavailable)
        try:
            if action.kind in ARTIFACT_TYPES:
                return self._fetch_file(action)
            if action.kind == ActionKind.SMOKE:
                return self._fetch_verdict(action)
            return self._fetch_image(action, log)
        except _Unavailable as error:
            return Miss(str(error))
        except DigestMismatch as error:
            return Miss(f"corrupt entry: {error.message}")
        except Exception as error:  # noqa: BLE001 - a bad entry is a miss, never a failure
            return Miss(f"the entry could not be used: {_reason(error)}")

    def _artifact(
        self, action: Action, artifact_type: str, tag: str | None = None
    ) -> tuple[bytes, dict[str, Any]] | Miss:
        """The one layer of this action's artifact entry (digest-verified) and its descriptor, or why not."""
        tag = tag or cache_tag(action)
        manifest = self._ask("reading a manifest", self.client.manifest, self.location.repository, tag)
        if manifest is None:
            return Miss("not in the cache")
        body = manifest.json
        annotations = body.get("annotations") or {}
        layers = body.get("layers") or []
        if body.get("artifactType") != artifact_type or len(layers) != 1:
            return Miss(f"{tag} is not a {action.kind} entry")
        if annotations.get(PREFIX + "fingerprint") != action.fingerprint:
            return Miss(f"{tag} was stored for other inputs")
        layer = layers[0]
        data = self._ask("reading a blob", self.client.blob, self.location.repository, layer["digest"])
        if len(data) != layer.get("size"):
            return Miss(f"{tag}: the blob has {len(data)} bytes, the manifest says {layer.get('size')}")
        return data, layer

    def _fetch_verdict(self, action: Action) -> Fetched | Miss:
        step = action.step
        assert isinstance(step, SmokeStep) and step.builder is not None
        found = self._artifact(action, SMOKE_TYPE)
        if isinstance(found, Miss):
            return found
        verdict = json.loads(found[0])
        if not isinstance(verdict, dict) or not verdict.get("ran"):
            return Miss(f"{cache_tag(action)} holds no verdict")
        present: str | None
        if step.archive is not None:  # Windows: the archive here holds the image the verdict was given for
            present = _config_digest(step.archive)
            verdict = {**verdict, "archive_sha256": file_digest(step.archive)}
        else:
            present = step.builder.image_id(step.target.reference)
        if verdict.get("image_id", verdict.get("config_digest")) != present:
            return Miss(f"the verdict in {cache_tag(action)} is not for the image here ({present})")
        return Fetched(verdict, f"{step.target.reference} passed its smoke test on another runner ({verdict['how']})")

    def _fetch_file(self, action: Action) -> Fetched | Miss:
        step = action.step
        assert isinstance(step, FileStep)
        tag = cache_tag(action)
        found = self._artifact(action, ARTIFACT_TYPES[ActionKind(action.kind)])
        if isinstance(found, Miss):
            return found
        data, layer = found
        step.layout.make_room(step.output.parent)  # a file left by the earlier flat output layout
        with atomic_path(step.output) as partial:
            partial.write_bytes(data)
            os.chmod(partial, FILE_MODE)
        result = step.result()
        if _sha256(result["sha256"]) != layer["digest"]:  # the file on disk is what was verified
            step.output.unlink(missing_ok=True)
            return Miss(f"{tag}: the written file does not match {layer['digest']}")
        return Fetched(result, f"{step.output.name} {layer['digest'][:19]} from {self.location.with_tag(tag)}")

    def _fetch_image(self, action: Action, log: Path) -> Fetched | Miss:
        step = action.step
        assert isinstance(step, ImageBuildStep)
        builder = step.builder
        if builder is None:
            return Miss("the builder is not installed here")
        recipe = step.recipe
        target = recipe.target
        tag = cache_tag(action)
        manifest = self._ask("reading a manifest", self.client.manifest, self.location.repository, tag)
        if manifest is None:
            return Miss("not in the cache")
        config = (manifest.json.get("config") or {}).get("digest")
        if not config or "layers" not in manifest.json:
            return Miss(f"{tag} is not a single image")
        pinned = self.location.with_digest(manifest.digest)
        sbom: bytes | None = None
        if recipe.sbom_file is not None:  # before pulling anything: an entry without its SBOM is of no use
            found = self._artifact(action, SBOM_TYPE, sbom_tag(action))
            if isinstance(found, Miss):
                return Miss(f"the image's SBOM: {found.reason}")
            sbom = found[0]
        in_store = target.platform.os in builder.capabilities.store_os
        if in_store:
            builder.pull(pinned, target.platform, log)
            pulled = builder.image_id(pinned)
            if pulled != config:
                return Miss(f"{tag}: the pulled image is {pulled}, the manifest says {config}")
            builder.tag(config, target.reference)
        result: dict[str, Any] = {"reference": str(target.reference), "image_id": config,
                                  "size": builder.size(target.reference) if in_store else None}  # fmt: skip
        if recipe.sbom_file is not None and sbom is not None:
            atomic_write(recipe.sbom_file, sbom)
            result["sbom"] = step.layout.relative(recipe.sbom_file)
            result["sbom_sha256"] = hashlib.sha256(sbom).hexdigest()
        if recipe.archive is not None:
            _restore_archive(pinned, target.reference, recipe.archive, log)
            image = ociarchive.read(recipe.archive)
            problem = _archive_problem(image, config, target.platform, target.os_version)
            if problem:
                recipe.archive.unlink(missing_ok=True)
                return Miss(f"{tag}: {problem}")
            result["archive"] = step.layout.relative(recipe.archive)
            result["archive_sha256"] = file_digest(recipe.archive)
            result["size"] = result["size"] or recipe.archive.stat().st_size
        return Fetched(result, f"{target.reference} {config[:19]} pulled from {pinned}")

    # --- store --------------------------------------------------------------------------------------------------

    def store(self, action: Action, result: Result, log: Path) -> str | None:
        if action.kind == ActionKind.SMOKE and not result.get("ran"):
            return None  # not started here (no engine): nothing to vouch for
        if self._unavailable or self._store_failure:
            raise BuildFailed(self._unavailable or f"an earlier store failed ({self._store_failure})")
        try:
            if action.kind in ARTIFACT_TYPES:
                return self._store_file(action, result)
            if action.kind == ActionKind.SMOKE:
                step = action.step
                assert isinstance(step, SmokeStep)
                vouched = dict(result)
                if step.archive is not None:
                    vouched["config_digest"] = _config_digest(step.archive)
                verdict = json.dumps(vouched, sort_keys=True).encode()
                return self._put_artifact(action, SMOKE_TYPE, verdict, VERDICT_MEDIA_TYPE, "verdict.json")
            return self._store_image(action, result, log)
        except Exception as error:
            with self._lock:
                self._store_failure = self._store_failure or _reason(error)
            raise

    def _store_file(self, action: Action, result: Result) -> str:
        step = action.step
        assert isinstance(step, FileStep)
        data = step.output.read_bytes()
        if _sha256(hashlib.sha256(data).hexdigest()) != _sha256(result["sha256"]):
            raise BuildFailed(f"{step.output} changed after it was built; not stored")
        artifact_type = ARTIFACT_TYPES[ActionKind(action.kind)]
        return self._put_artifact(action, artifact_type, data, FILE_MEDIA_TYPE, step.output.name)

    def _put_artifact(
        self, action: Action, artifact_type: str, data: bytes, media_type: str, title: str, tag: str | None = None
    ) -> str:
        """An OCI artifact tagged ``<kind>-<fingerprint>``: an empty config, one layer, annotations saying what."""
        repository = self.location.repository
        layer_digest = self.client.put_blob(repository, data)
        config_digest = self.client.put_blob(repository, EMPTY_CONFIG)
        details = action.details
        annotations = {
            PREFIX + "fingerprint": action.fingerprint,
            PREFIX + "action": action.id,
            PREFIX + "kind": str(action.kind),
            PREFIX + "binary": str(details.get("binary", title)),
            PREFIX + "platform": str(details.get("platform", "")),
            PREFIX + "toolchain": str(details.get("toolchain", "")),
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": config_digest, "size": len(EMPTY_CONFIG)},
            "layers": [
                {"mediaType": media_type, "digest": layer_digest, "size": len(data), "annotations": {TITLE: title}}
            ],
            "annotations": annotations,
        }
        body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        tag = tag or cache_tag(action)
        self.client.put_manifest(repository, tag, OCI_MANIFEST, body)
        return f"{self.location.with_tag(tag)}"

    def _store_image(self, action: Action, result: Result, log: Path) -> str:
        step = action.step
        assert isinstance(step, ImageBuildStep)
        builder = step.builder
        if builder is None:
            raise BuildFailed(f"{action.id}: the builder is not installed here")
        destination = self.reference(action)
        image_id = str(result["image_id"])
        archive = step.recipe.archive
        sbom = step.recipe.sbom_file
        if sbom is not None:  # first: an image entry is usable only once its SBOM is there too
            data = sbom.read_bytes()
            if hashlib.sha256(data).hexdigest() != result.get("sbom_sha256"):
                raise BuildFailed(f"{sbom} changed after the image was built; not stored")
            self._put_artifact(action, SBOM_TYPE, data, SBOM_MEDIA_TYPE, sbom.name, sbom_tag(action))
        if step.recipe.target.platform.os in builder.capabilities.store_os:
            builder.push_image(image_id, destination, log)
        elif archive is not None:
            _push_archive(archive, destination, log)
        else:
            raise BuildFailed(f"{action.id}: the image is neither in the builder's store nor in an archive")
        remote = self.client.get(destination)
        config = (remote.json.get("config") or {}).get("digest") if remote else None
        if config != image_id:
            raise BuildFailed(f"{destination} holds {config}, not the image built ({image_id})")
        assert remote is not None
        return f"{destination}@{remote.digest}"


def _config_digest(archive: Path) -> str:
    return str(ociarchive.read(archive).manifest["config"]["digest"])


def _reason(error: BaseException) -> str:
    if isinstance(error, AcnBuildError):
        return error.message.splitlines()[0]
    return f"{type(error).__name__}: {error}"


def _skopeo() -> str:
    import shutil

    found = shutil.which("skopeo")
    if found is None:
        raise BuildFailed("restoring or storing an OCI archive through the remote cache needs skopeo")
    return found


def _restore_archive(source: Reference, name: Reference, archive: Path, log: Path) -> None:
    tls = ["--src-tls-verify=false"] if source.is_loopback else []
    with atomic_path(archive) as partial:
        command = [_skopeo(), "copy", *tls, f"docker://{source}", f"oci-archive:{partial}:{name}"]
        process.run_with_retries(command, log, what=f"skopeo copy {source}", target=source.registry,
                                 scrub=(source.registry,))  # fmt: skip


def _push_archive(archive: Path, destination: Reference, log: Path) -> None:
    tls = ["--dest-tls-verify=false"] if destination.is_loopback else []
    command = [_skopeo(), "copy", *tls, f"oci-archive:{archive}", f"docker://{destination}"]
    process.run_with_retries(command, log, what=f"skopeo copy to {destination}", target=destination.registry,
                             scrub=(destination.registry,))  # fmt: skip


def _archive_problem(image: ociarchive.OciImage, config: str, platform: Platform, os_version: str | None) -> str:
    if image.manifest.get("config", {}).get("digest") != config:
        return "the restored archive holds another image"
    if (image.os, image.architecture) != (platform.os, platform.arch):
        return f"the restored image is {image.os}/{image.architecture}, not {platform}"
    if os_version and image.os_version != os_version:
        return f"the restored image has os.version {image.os_version!r}, not {os_version!r}"
    return ""
