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
from acnbuild.references import Registry
from acnbuild.registry.client import OCI_MANIFEST, RegistryClient
from acnbuild.retry import RetryPolicy

BODY = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()


class Flaky(BaseHTTPRequestHandler):
    failures_left = 0
    status = 503
    fault = "status"  # status | truncate | garbage
    retry_after: str | None = None
    requests = 0
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
        cls.requests += 1
        if cls.failures_left > 0:
            cls.failures_left -= 1
            if cls.fault == "garbage":
                self.wfile.write(b"SSH-2.0-not-http\r\n\r\n")
                self.close_connection = True
                return
            if cls.fault == "truncate":
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY[:10])
                self.close_connection = True
                return
            self.send_response(cls.status)
            if cls.retry_after:
                self.send_header("Retry-After", cls.retry_after)
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
    Flaky.fault, Flaky.retry_after, Flaky.requests = "status", None, 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def client(host: str, sleeps: list[float]) -> RegistryClient:
    return RegistryClient(
        Registry.parse(host, source="test"), policy=RetryPolicy(attempts=4, initial=0.01), sleep=sleeps.append
    )


def test_5xx_is_retried_with_growing_backoff(server: str) -> None:
    Flaky.failures_left = 2
    sleeps: list[float] = []
    manifest = client(server, sleeps).manifest("acn/azure-cns", "v1")
    assert manifest is not None and manifest.digest == DIGEST
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]


def test_retries_are_bounded(server: str) -> None:
    Flaky.failures_left = 10
    sleeps: list[float] = []
    with pytest.raises(BuildFailed, match=rf"GET acn/azure-cns at {server} gave up after 4 attempt\(s\): HTTP 503"):
        client(server, sleeps).manifest("acn/azure-cns", "v1")
    assert len(sleeps) == 3


def test_4xx_is_not_retried_and_404_is_none(server: str) -> None:
    sleeps: list[float] = []
    assert client(server, sleeps).manifest("acn/missing", "v1") is None
    assert sleeps == []


def test_connection_refused_is_retried_then_reported(server: str) -> None:
    sleeps: list[float] = []
    with pytest.raises(BuildFailed, match=r"127\.0\.0\.1:9 gave up after 4 attempt.*Connection refused"):
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


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_and_throttling_are_retried(server: str, status: int) -> None:
    Flaky.failures_left, Flaky.status = 1, status
    sleeps: list[float] = []
    assert client(server, sleeps).manifest("acn/azure-cns", "v1") is not None
    assert Flaky.requests == 2 and len(sleeps) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 405])
def test_client_errors_are_not_retried(server: str, status: int) -> None:
    Flaky.failures_left, Flaky.status = 1, status
    sleeps: list[float] = []
    with pytest.raises((BuildFailed, UserError)) as info:
        client(server, sleeps).manifest("acn/azure-cns", "v1")
    assert Flaky.requests == 1 and sleeps == []
    assert f"HTTP {status}" in str(info.value) and server in str(info.value)


def test_retry_after_is_honoured(server: str) -> None:
    Flaky.failures_left, Flaky.status, Flaky.retry_after = 1, 429, "3"
    sleeps: list[float] = []
    assert client(server, sleeps).manifest("acn/azure-cns", "v1") is not None
    assert sleeps and sleeps[0] >= 3


@pytest.mark.parametrize("fault", ["truncate", "garbage"])
def test_truncated_or_garbled_answers_are_retried(server: str, fault: str) -> None:
    Flaky.failures_left, Flaky.fault = 2, fault
    sleeps: list[float] = []
    manifest = client(server, sleeps).manifest("acn/azure-cns", "v1")
    assert manifest is not None and manifest.digest == DIGEST
    assert Flaky.requests == 3 and len(sleeps) == 2


def test_dns_failure_is_not_retried_and_has_no_traceback() -> None:
    sleeps: list[float] = []
    with pytest.raises(BuildFailed, match=r"registry\.invalid") as info:
        client("registry.invalid", sleeps).manifest("acn/azure-cns", "v1")
    assert sleeps == []
    assert "gave up" not in str(info.value)
