"""A small client for the OCI distribution HTTP API: manifests and blobs, with auth, retries and backoff.

Credentials come from the builders' normal login files (docker's config.json, containers' auth.json); they are
sent only in Authorization headers and never appear in messages, logs or reports.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .bases import is_loopback
from .errors import BuildFailed, UserError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT_ALL = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
LIST_TYPES = (OCI_INDEX, DOCKER_LIST)

T = TypeVar("T")


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, text: str) -> Reference:
        name, _, tag = text.rpartition(":")
        if not name or "/" in tag or "/" not in name:
            raise UserError(f"{text!r} is not a registry/repository:tag reference")
        registry, _, repository = name.partition("/")
        return cls(registry, repository, tag)

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


@dataclass
class Manifest:
    media_type: str
    digest: str
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


def _auth_files() -> list[Path]:
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    docker_config = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"))
    files += [docker_config / "config.json", Path.home() / ".config" / "containers" / "auth.json"]
    return files


def basic_credentials(registry: str) -> str | None:
    """The base64 ``user:password`` a builder's login stored for ``registry``, if any."""
    for path in _auth_files():
        try:
            auths = json.loads(path.read_text()).get("auths", {})
        except (OSError, json.JSONDecodeError):
            continue
        for key in (registry, f"http://{registry}", f"https://{registry}"):
            if key in auths and auths[key].get("auth"):
                return auths[key]["auth"]
    return None


@dataclass
class RegistryClient:
    registry: str
    attempts: int = 4
    backoff: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    _token: str | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        scheme = "http" if is_loopback(self.registry + "/x") else "https"
        return f"{scheme}://{self.registry}/v2"

    # --- transport with retries ----------------------------------------------------------------

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except urllib.error.HTTPError as error:
                if error.code < 500 or attempt == self.attempts:
                    raise
                reason = f"HTTP {error.code}"
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                if attempt == self.attempts:
                    raise BuildFailed(f"{what}: {self.registry} unreachable: {_reason(error)}") from None
                reason = _reason(error)
            delay = self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 4)
            print(f"retrying {what} in {delay:.1f}s ({reason}; attempt {attempt}/{self.attempts})", file=sys.stderr)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def _request(self, method: str, path: str, headers: dict[str, str], data: bytes | None = None) -> Any:
        url = f"{self.base_url}/{path}"

        def send() -> Any:
            request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
            if self._token:
                request.add_header("Authorization", self._token)
            try:
                return urllib.request.urlopen(request, timeout=30)
            except urllib.error.HTTPError as error:
                if error.code == 401 and self._authenticate(error.headers.get("WWW-Authenticate", "")):
                    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
                    request.add_header("Authorization", self._token or "")
                    return urllib.request.urlopen(request, timeout=30)
                raise

        return self._retrying(f"{method} {self.registry}/{path.split('/manifests/')[0]}", send)

    def _authenticate(self, challenge: str) -> bool:
        credentials = basic_credentials(self.registry)
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if credentials is None:
                return False
            self._token = f"Basic {credentials}"
            return True
        if scheme == "bearer":
            params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
            query = urllib.parse.urlencode({k: v for k, v in params.items() if k in ("service", "scope")})
            request = urllib.request.Request(f"{params.get('realm', '')}?{query}")
            if credentials:
                request.add_header("Authorization", f"Basic {credentials}")
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = json.load(response)
            self._token = f"Bearer {payload.get('token') or payload.get('access_token')}"
            return True
        return False

    # --- API ------------------------------------------------------------------------------------

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        """GET a manifest by tag or digest; None when the registry has no such manifest."""
        try:
            with self._request("GET", f"{repository}/manifests/{reference}", {"Accept": ACCEPT_ALL}) as response:
                body = response.read()
                media_type = response.headers.get("Content-Type", "").split(";")[0]
                digest = response.headers.get("Docker-Content-Digest") or _digest(body)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise _http_failure(error, f"reading {self.registry}/{repository}:{reference}") from None
        if _digest(body) != digest:
            raise BuildFailed(f"{self.registry}/{repository}@{digest}: content does not match its digest")
        return Manifest(media_type or json.loads(body).get("mediaType", ""), digest, body)

    def blob(self, repository: str, digest: str) -> bytes:
        try:
            with self._request("GET", f"{repository}/blobs/{digest}", {}) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            raise _http_failure(error, f"reading blob {digest} of {self.registry}/{repository}") from None
        if _digest(body) != digest:
            raise BuildFailed(f"blob {digest} of {self.registry}/{repository} does not match its digest")
        return body

    def put_manifest(self, repository: str, tag: str, media_type: str, body: bytes) -> str:
        try:
            with self._request(
                "PUT", f"{repository}/manifests/{tag}", {"Content-Type": media_type}, data=body
            ) as response:
                return response.headers.get("Docker-Content-Digest") or _digest(body)
        except urllib.error.HTTPError as error:
            raise _http_failure(error, f"pushing {self.registry}/{repository}:{tag}") from None


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _reason(error: BaseException) -> str:
    return str(getattr(error, "reason", error))


def _http_failure(error: urllib.error.HTTPError, what: str) -> Exception:
    if error.code in (401, 403):
        return UserError(
            f"{what}: the registry refused access (HTTP {error.code})",
            hint="log in with your builder (docker login / podman login / buildah login) and retry",
        )
    return BuildFailed(f"{what}: HTTP {error.code} {error.reason}")


def encode_basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()
