"""The registry client against a small HTTP server on loopback: retries, backoff, auth, not-found."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from acnbuild.errors import BuildFailed, UserError
from acnbuild.registryapi import OCI_MANIFEST, RegistryClient

BODY = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()


class Flaky(BaseHTTPRequestHandler):
    failures_left = 0
    status = 503
    password: str | None = None
    seen_auth: list[str] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        cls = type(self)
        if cls.password is not None:
            expected = "Basic " + base64.b64encode(f"u:{cls.password}".encode()).decode()
            header = self.headers.get("Authorization", "")
            cls.seen_auth.append(header)
            if header != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
                self.end_headers()
                return
        if cls.failures_left > 0:
            cls.failures_left -= 1
            self.send_response(cls.status)
            self.end_headers()
            return
        if "missing" in self.path:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", OCI_MANIFEST)
        self.send_header("Docker-Content-Digest", DIGEST)
        self.end_headers()
        self.wfile.write(BODY)


@pytest.fixture
def server() -> Iterator[str]:
    Flaky.failures_left, Flaky.status, Flaky.password, Flaky.seen_auth = 0, 503, None, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def client(host: str, sleeps: list[float]) -> RegistryClient:
    return RegistryClient(host, attempts=4, backoff=0.01, sleep=sleeps.append)


def test_5xx_is_retried_with_growing_backoff(server: str) -> None:
    Flaky.failures_left = 2
    sleeps: list[float] = []
    manifest = client(server, sleeps).manifest("acn/azure-cns", "v1")
    assert manifest is not None and manifest.digest == DIGEST
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]


def test_retries_are_bounded(server: str) -> None:
    Flaky.failures_left = 10
    sleeps: list[float] = []
    with pytest.raises(BuildFailed, match="HTTP 503"):
        client(server, sleeps).manifest("acn/azure-cns", "v1")
    assert len(sleeps) == 3


def test_4xx_is_not_retried_and_404_is_none(server: str) -> None:
    sleeps: list[float] = []
    assert client(server, sleeps).manifest("acn/missing", "v1") is None
    assert sleeps == []


def test_connection_refused_is_retried_then_reported(server: str) -> None:
    sleeps: list[float] = []
    with pytest.raises(BuildFailed, match="unreachable"):
        client("127.0.0.1:9", sleeps).manifest("acn/azure-cns", "v1")
    assert len(sleeps) == 3


def test_basic_auth_from_the_builders_login(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Flaky.password = "pa55-word"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    with pytest.raises(UserError, match="log in") as info:
        client(server, []).manifest("acn/azure-cns", "v1")
    assert "pa55-word" not in str(info.value)
    auth = base64.b64encode(b"u:pa55-word").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {server: {"auth": auth}}}))
    assert client(server, []).manifest("acn/azure-cns", "v1") is not None
