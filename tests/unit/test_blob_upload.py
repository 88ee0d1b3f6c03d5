"""Blob upload (monolithic POST + PUT), existence checks and digest verification of the registry client."""

from __future__ import annotations

import hashlib
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from acnbuild.references import Registry
from acnbuild.registry.client import DigestMismatch, RegistryClient
from acnbuild.retry import RetryPolicy


class Blobs(BaseHTTPRequestHandler):
    """Just enough of the distribution API for blobs, in memory."""

    store: dict[str, bytes] = {}
    requests: list[str] = []
    location_host: str | None = None  # answer uploads with a Location on this host instead
    corrupt = False

    def log_message(self, *args: object) -> None:
        return None

    def _digest(self) -> str:
        return self.path.rsplit("/", 1)[1]

    def do_HEAD(self) -> None:
        type(self).requests.append(f"HEAD {self.path}")
        self.send_response(200 if self._digest() in self.store else 404)
        self.end_headers()

    def do_GET(self) -> None:
        type(self).requests.append(f"GET {self.path}")
        data = self.store.get(self._digest())
        if data is None:
            self.send_response(404)
            self.end_headers()
            return
        body = b"x" * len(data) if self.corrupt else data
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        type(self).requests.append(f"POST {self.path}")
        host = self.location_host or self.headers["Host"]
        self.send_response(202)
        self.send_header("Location", f"http://{host}/v2/cache/blobs/uploads/abc?_state=xyz")
        self.end_headers()

    def do_PUT(self) -> None:
        type(self).requests.append(f"PUT {self.path}")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        data = self.rfile.read(int(self.headers["Content-Length"]))
        digest = query["digest"][0]
        assert query["_state"] == ["xyz"]
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            self.send_response(400)
            self.end_headers()
            return
        type(self).store[digest] = data
        self.send_response(201)
        self.end_headers()


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    Blobs.store, Blobs.requests, Blobs.location_host, Blobs.corrupt = {}, [], None, False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Blobs)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    policy = RetryPolicy(attempts=1, initial=0.0, deadline=5.0)
    yield RegistryClient(Registry.parse(f"127.0.0.1:{httpd.server_port}"), policy=policy)
    httpd.shutdown()


def test_upload_once_then_only_ask(client: RegistryClient) -> None:
    data = b"\x7fELF a binary"
    digest = client.put_blob("cache", data)
    assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert Blobs.store[digest] == data
    assert [r.split(" ")[0] for r in Blobs.requests] == ["HEAD", "POST", "PUT"]
    assert client.put_blob("cache", data) == digest
    assert [r.split(" ")[0] for r in Blobs.requests][3:] == ["HEAD"]
    assert client.has_blob("cache", digest) and not client.has_blob("cache", "sha256:" + "0" * 64)
    assert client.blob("cache", digest) == data


def test_an_upload_location_on_another_host_still_goes_to_the_registry(client: RegistryClient) -> None:
    Blobs.location_host = "203.0.113.9:80"  # a host that is not the registry: our login must not go there
    digest = client.put_blob("cache", b"data")
    assert Blobs.store[digest] == b"data"  # the PUT reached the registry itself, at the path the Location named
    assert any(r.startswith("PUT /v2/cache/blobs/uploads/abc?_state=xyz&digest=") for r in Blobs.requests)


def test_a_blob_that_does_not_match_its_digest_is_refused(client: RegistryClient) -> None:
    digest = client.put_blob("cache", b"the real bytes")
    Blobs.corrupt = True
    with pytest.raises(DigestMismatch):
        client.blob("cache", digest)
