"""A small client for the OCI distribution HTTP API: manifests and blobs, with auth, retries and backoff.

Retries are decided on facts (``retry``): connection resets, timeouts, truncated or garbled answers, 5xx and 429
(honouring ``Retry-After``); never 401/403/404 or DNS failures. Credentials are sent only in Authorization
headers and never appear in messages, logs or reports.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import interrupts, retry
from ..errors import BuildFailed, UserError
from ..references import Reference, Registry

if TYPE_CHECKING:
    from .auth import Authenticator

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT_ALL = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
LIST_TYPES = (OCI_INDEX, DOCKER_LIST)


class DigestMismatch(BuildFailed):
    """What the registry sent is not what its digest says: corrupt or tampered with."""


class ManifestRefused(BuildFailed):
    """The registry does not take this kind of manifest (e.g. an OCI artifact): a fact, not a failed push."""


@dataclass
class Manifest:
    media_type: str
    digest: str
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _retry_after(error: BaseException) -> float | None:
    """What a throttling (429) or unavailable (503) registry asks us to wait, in seconds."""
    if isinstance(error, urllib.error.HTTPError) and error.code in (429, 503) and error.headers:
        return retry.retry_after_seconds(error.headers.get("Retry-After"))
    return None


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


@dataclass
class RegistryClient:
    registry: Registry
    policy: retry.RetryPolicy = retry.REGISTRY_POLICY
    sleep: Callable[[float], None] = interrupts.sleep
    timeout: float = field(default_factory=retry.registry_timeout)  # ACNBUILD_REGISTRY_TIMEOUT
    auth: Authenticator = field(init=False, repr=False)
    _authorization: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from .auth import Authenticator  # logins import the docker SDK: only when a registry is really used

        self.auth = Authenticator(self.registry.address)

    @classmethod
    def for_reference(cls, reference: Reference) -> RegistryClient:
        return cls(reference.registry_info)

    @property
    def base_url(self) -> str:
        return f"{self.registry.scheme}://{self.registry.api_host}/v2"

    # --- transport: one request, read whole, retried on transient failures ----------------------

    def _send(self, method: str, path: str, headers: dict[str, str], data: bytes | None) -> Response:
        url = f"{self.base_url}/{path}"

        def once(authorization: str | None) -> Response:
            request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
            if authorization:
                request.add_unredirected_header("Authorization", authorization)
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                body = answer.read()
                return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, body)

        def attempt() -> Response:
            sent = self._authorization
            try:
                return once(sent)
            except urllib.error.HTTPError as error:
                challenge = error.headers.get("WWW-Authenticate", "") if error.headers else ""
                if error.code != 401 or not challenge:
                    raise
                if sent is not None:
                    self.auth.forget(challenge)  # the registry refused what we sent: ask again
                answer = self.auth.authorization(challenge)
                if answer is None:
                    raise
                self._authorization = answer
                return once(answer)

        operation = f"{method} {path.split('/manifests/')[0].split('/blobs/')[0] or '/v2/'}"
        try:
            return retry.call(
                operation, self.registry.address, attempt, is_transient=retry.exception_is_transient,
                describe=_describe, retry_after=_retry_after, policy=self.policy, sleep=self.sleep,
            )  # fmt: skip
        except urllib.error.HTTPError:
            raise
        except (OSError, http.client.HTTPException) as error:  # not transient (e.g. DNS): say so, no traceback
            raise BuildFailed(f"{operation} at {self.registry.address} failed: {_describe(error)}") from None

    def _failure(self, error: urllib.error.HTTPError, what: str) -> Exception:
        if error.code in (401, 403):
            return UserError(
                f"{what}: {self.registry.address} refused access (HTTP {error.code})",
                hint="log in with your builder (docker login / podman login / buildah login) and retry",
            )
        return BuildFailed(f"{what}: {self.registry.address} answered HTTP {error.code} {error.reason}")

    # --- API ------------------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the registry answers and accepts the login (the API root, ``/v2/``); UserError when refused.

        Before a push through a tool: the docker engine retries a refused layer upload for 50 s on its own.
        """
        try:
            self._send("GET", "", {}, None)
        except urllib.error.HTTPError as error:
            raise self._failure(error, f"logging in to {self.registry.address}") from None

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        """GET a manifest by tag or digest; None when the registry has no such manifest."""
        what = f"reading {self.registry.address}/{repository}:{reference}"
        try:
            answer = self._send("GET", f"{repository}/manifests/{reference}", {"Accept": ACCEPT_ALL}, None)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise self._failure(error, what) from None
        digest = answer.headers.get("docker-content-digest") or _digest(answer.body)
        if _digest(answer.body) != digest:
            raise DigestMismatch(f"{self.registry.address}/{repository}@{digest}: content does not match its digest")
        media_type = answer.headers.get("content-type", "").split(";")[0]
        return Manifest(media_type or json.loads(answer.body).get("mediaType", ""), digest, answer.body)

    def get(self, reference: Reference) -> Manifest | None:
        return self.manifest(reference.repository, reference.api_reference)

    def blob(self, repository: str, digest: str) -> bytes:
        what = f"reading blob {digest} of {self.registry.address}/{repository}"
        try:
            answer = self._send("GET", f"{repository}/blobs/{digest}", {}, None)
        except urllib.error.HTTPError as error:
            raise self._failure(error, what) from None
        if _digest(answer.body) != digest:
            raise DigestMismatch(f"blob {digest} of {self.registry.address}/{repository} does not match its digest")
        return answer.body

    def put_manifest(self, repository: str, tag: str, media_type: str, body: bytes) -> str:
        what = f"pushing {self.registry.address}/{repository}:{tag}"
        try:
            answer = self._send("PUT", f"{repository}/manifests/{tag}", {"Content-Type": media_type}, body)
        except urllib.error.HTTPError as error:
            raise self._failure(error, what) from None
        return answer.headers.get("docker-content-digest") or _digest(body)

    # --- artifacts (SBOM referrers, remote cache): blobs and manifests with the registry's answer -------------

    def has_blob(self, repository: str, digest: str) -> bool:
        try:
            self._send("HEAD", f"{repository}/blobs/{digest}", {}, None)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise self._failure(error, f"checking blob {digest} of {self.registry.address}/{repository}") from None
        return True

    def put_blob(self, repository: str, data: bytes) -> str:
        """Upload ``data`` in one request (POST, then PUT with the digest) unless the registry has it already."""
        digest = _digest(data)
        if self.has_blob(repository, digest):
            return digest
        what = f"uploading blob {digest} to {self.registry.address}/{repository}"
        try:
            started = self._send("POST", f"{repository}/blobs/uploads/", {"Content-Length": "0"}, b"")
            location = started.headers.get("location", "")
            path = self._api_path(location)
            if not path:
                raise BuildFailed(f"{what}: the registry gave no upload location")
            joiner = "&" if "?" in path else "?"
            self._send("PUT", f"{path}{joiner}digest={digest}", {"Content-Type": "application/octet-stream"}, data)
        except urllib.error.HTTPError as error:
            raise self._failure(error, what) from None
        return digest

    def _api_path(self, location: str) -> str:
        """An upload ``Location`` (absolute URL or ``/v2/...``) as a path below ``/v2/``."""
        if location.startswith(("http://", "https://")):
            location = "/" + location.split("://", 1)[1].split("/", 1)[1]
        return location.removeprefix("/v2/") if location.startswith("/v2/") else ""

    def get_json(self, path: str) -> dict[str, Any] | None:
        """GET an API path below /v2/ answering JSON (e.g. referrers); None when the registry has no such path."""
        try:
            answer = self._send("GET", path, {"Accept": OCI_INDEX}, None)
        except urllib.error.HTTPError as error:
            if error.code in (404, 405):
                return None
            raise self._failure(error, f"reading {self.registry.address}/v2/{path}") from None
        parsed: dict[str, Any] = json.loads(answer.body)
        return parsed

    def put_manifest_answer(self, repository: str, reference: str, media_type: str, body: bytes) -> Response:
        """PUT a manifest and return the registry's whole answer (its headers say, e.g., OCI-Subject)."""
        what = f"pushing {self.registry.address}/{repository}:{reference}"
        try:
            return self._send("PUT", f"{repository}/manifests/{reference}", {"Content-Type": media_type}, body)
        except urllib.error.HTTPError as error:
            if error.code in (400, 405, 415):
                raise ManifestRefused(f"{what}: {self.registry.address} refused it (HTTP {error.code})") from None
            raise self._failure(error, what) from None


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()
