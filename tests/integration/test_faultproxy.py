"""FaultProxy against a real registry (Debian docker-registry): each fault does what it says, and real tools
(our urllib client, docker push, skopeo copy) work through the proxy when no fault is armed."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import re
import shutil
import subprocess
import tarfile
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from acnbuild.references import Registry
from acnbuild.registry import local as localregistry
from acnbuild.registry.client import OCI_MANIFEST, RegistryClient
from acnbuild.retry import RetryPolicy

from tests.integration.conftest import require
from tests.support.faultproxy import (
    Delay,
    FaultProxy,
    Garbage,
    Outage,
    ResetBeforeResponse,
    ResetMidBody,
    Status,
    Truncate,
)

pytestmark = pytest.mark.integration

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
OCTETS = {"Content-Type": "application/octet-stream"}  # the registry refuses urllib's default form type


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TinyImage:
    """A one-layer linux/amd64 OCI image made in memory: a single small file."""

    layer: bytes
    config: bytes
    manifest: bytes

    @classmethod
    def make(cls, content: bytes) -> TinyImage:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("hello.txt")
            info.size, info.mtime, info.mode = len(content), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(content))
        layer = buffer.getvalue()
        rootfs = {"type": "layers", "diff_ids": [digest_of(layer)]}
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": rootfs}).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": CONFIG_TYPE, "digest": digest_of(config), "size": len(config)},
                "layers": [{"mediaType": LAYER_TYPE, "digest": digest_of(layer), "size": len(layer)}],
            }
        ).encode()
        return cls(layer, config, manifest)

    def write_oci_layout(self, root: Path, tag: str) -> None:
        blobs = root / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        for blob in (self.layer, self.config, self.manifest):
            (blobs / digest_of(blob).removeprefix("sha256:")).write_bytes(blob)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        entry = {
            "mediaType": OCI_MANIFEST,
            "digest": digest_of(self.manifest),
            "size": len(self.manifest),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
        (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))


def call(
    method: str, url: str, data: bytes | None = None, *, timeout: float = 5, headers: dict[str, str] | None = None
) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, dict(response.headers), response.read()


def upload_blob(host: str, repository: str, blob: bytes) -> str:
    """A monolithic upload (POST, then PUT with the digest); returns the Location the registry answered."""
    _, headers, _ = call("POST", f"http://{host}/v2/{repository}/blobs/uploads/")
    location = headers["Location"]
    separator = "&" if "?" in location else "?"
    call("PUT", f"{location}{separator}digest={digest_of(blob)}", blob, headers=OCTETS)
    return location


def put_manifest(host: str, repository: str, tag: str, manifest: bytes) -> int:
    url = f"http://{host}/v2/{repository}/manifests/{tag}"
    return call("PUT", url, manifest, headers={"Content-Type": OCI_MANIFEST})[0]


def blob_exists(host: str, repository: str, digest: str) -> bool:
    try:
        return call("HEAD", f"http://{host}/v2/{repository}/blobs/{digest}")[0] == 200
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise


def connection_error(error: BaseException) -> BaseException:
    """urllib wraps errors raised while sending in URLError; those raised while reading the answer come bare."""
    return (
        error.reason if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException) else error
    )


@pytest.fixture
def proxy(registry: localregistry.LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.host, timeout=10) as running:
        yield running


@pytest.fixture
def repository(request: pytest.FixtureRequest) -> str:
    return "faults/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")


@pytest.fixture
def image(registry: localregistry.LocalRegistry, repository: str) -> TinyImage:
    """A tiny image already in the registry (pushed directly, not through the proxy), tagged ``v1``."""
    tiny = TinyImage.make(repository.encode())
    for blob in (tiny.layer, tiny.config):
        upload_blob(registry.host, repository, blob)
    RegistryClient(Registry.parse(registry.host)).put_manifest(repository, "v1", OCI_MANIFEST, tiny.manifest)
    return tiny


# --- plain forwarding -----------------------------------------------------------------------------------------


def test_forwards_the_ping_blobs_and_a_manifest_put_and_get(
    proxy: FaultProxy, registry: localregistry.LocalRegistry, repository: str
) -> None:
    assert call("GET", f"http://{proxy.host}/v2/")[0] == 200
    tiny = TinyImage.make(b"forwarded")
    location = upload_blob(proxy.host, repository, tiny.layer)
    upload_blob(proxy.host, repository, tiny.config)
    assert location.startswith(f"http://{proxy.host}/"), "the Host header must reach the registry unchanged"

    pushed = RegistryClient(Registry.parse(proxy.host)).put_manifest(repository, "v1", OCI_MANIFEST, tiny.manifest)
    through_proxy = RegistryClient(Registry.parse(proxy.host)).manifest(repository, "v1")
    direct = RegistryClient(Registry.parse(registry.host)).manifest(repository, "v1")

    assert pushed == digest_of(tiny.manifest)
    assert through_proxy is not None and direct is not None
    assert through_proxy.body == direct.body == tiny.manifest
    assert proxy.requests(r"^(PUT|GET) .*/manifests/v1$") == [
        ("PUT", f"/v2/{repository}/manifests/v1", 201),
        ("GET", f"/v2/{repository}/manifests/v1", 200),
    ]
    assert [e.outcome for e in proxy.requests(r"/blobs/uploads/")] == [202, 201, 202, 201]


def test_streams_large_chunked_uploads_and_downloads_in_parallel(proxy: FaultProxy, repository: str) -> None:
    """Four 16 MiB blobs up (chunked PATCH, as docker sends them) and down at once, without buffering them."""
    size, block = 16 * 1024 * 1024, 256 * 1024
    errors: list[BaseException] = []

    def round_trip(index: int) -> None:
        try:
            pattern = hashlib.sha256(str(index).encode()).digest() * (block // 32)
            whole = hashlib.sha256()
            for _ in range(size // block):
                whole.update(pattern)
            expected = whole.hexdigest()
            _, headers, _ = call("POST", f"http://{proxy.host}/v2/{repository}/blobs/uploads/")
            body = (pattern for _ in range(size // block))  # an iterable body: urllib sends it chunked
            _, headers, _ = call("PATCH", headers["Location"], body, timeout=30, headers=OCTETS)  # type: ignore[arg-type]
            call("PUT", f"{headers['Location']}&digest=sha256:{expected}", timeout=30)
            received = hashlib.sha256()
            with urllib.request.urlopen(f"http://{proxy.host}/v2/{repository}/blobs/sha256:{expected}") as response:
                while data := response.read(block):
                    received.update(data)
            assert received.hexdigest() == expected
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            errors.append(error)

    tracemalloc.start()
    try:
        threads = [threading.Thread(target=round_trip, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not errors, errors
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak} for 4 x 16 MiB: something buffers whole blobs"
    assert [e.outcome for e in proxy.requests(r"^PATCH ")] == [202] * 4


# --- faults ---------------------------------------------------------------------------------------------------


def test_status_500_n_times_then_forwards(
    proxy: FaultProxy, registry: localregistry.LocalRegistry, repository: str, image: TinyImage
) -> None:
    proxy.inject(Status(500, match=r"^GET .*/manifests/v1$", times=3))
    with pytest.raises(urllib.error.HTTPError) as first:
        call("GET", f"http://{proxy.host}/v2/{repository}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert first.value.code == 500
    assert json.loads(first.value.read())["errors"][0]["code"] == "UNAVAILABLE"

    sleeps: list[float] = []
    manifest = RegistryClient(Registry.parse(proxy.host), policy=RetryPolicy(attempts=3), sleep=sleeps.append).manifest(
        repository, "v1"
    )

    assert manifest is not None and manifest.body == image.manifest
    assert len(sleeps) == 2  # our client: two 500s, two backoffs, then the forwarded 200
    assert [e.outcome for e in proxy.requests(r"/manifests/v1$")] == ["Status", "Status", "Status", 200]


def test_status_429_carries_retry_after_and_does_not_reach_the_registry(
    proxy: FaultProxy, registry: localregistry.LocalRegistry, repository: str
) -> None:
    proxy.inject(Status(429, retry_after=7, match=r"^PUT .*/manifests/"))
    tiny = TinyImage.make(b"429")
    with pytest.raises(urllib.error.HTTPError) as refused:
        put_manifest(proxy.host, repository, "v1", tiny.manifest)
    assert refused.value.code == 429
    assert refused.value.headers["Retry-After"] == "7"
    assert json.loads(refused.value.read())["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert RegistryClient(Registry.parse(registry.host)).manifest(repository, "v1") is None


def test_reset_mid_body_on_a_download_is_a_connection_reset(
    proxy: FaultProxy, repository: str, image: TinyImage
) -> None:
    blob = b"x" * (1024 * 1024)
    upload_blob(proxy.host, repository, blob)
    proxy.inject(ResetMidBody(1000, match=r"^GET .*/blobs/"))
    with urllib.request.urlopen(f"http://{proxy.host}/v2/{repository}/blobs/{digest_of(blob)}", timeout=5) as response:
        assert response.headers["Content-Length"] == str(len(blob))
        with pytest.raises(ConnectionResetError):
            response.read()
    assert proxy.requests(r"^GET .*/blobs/")[-1].outcome == "ResetMidBody"


def test_reset_mid_body_on_an_upload_breaks_it(
    proxy: FaultProxy, registry: localregistry.LocalRegistry, repository: str
) -> None:
    blob = b"y" * (4 * 1024 * 1024)
    proxy.inject(ResetMidBody(64 * 1024, match=r"^PUT .*/blobs/uploads/"))
    with pytest.raises((urllib.error.URLError, ConnectionError)) as raised:
        upload_blob(proxy.host, repository, blob)
    assert isinstance(connection_error(raised.value), ConnectionResetError | BrokenPipeError)
    assert not blob_exists(registry.host, repository, digest_of(blob))
    assert [e.outcome for e in proxy.requests(r"/blobs/uploads/")] == [202, "ResetMidBody"]


@pytest.mark.parametrize("forward", [False, True], ids=["dropped", "lost-ack"])
def test_reset_before_response(
    forward: bool, proxy: FaultProxy, registry: localregistry.LocalRegistry, repository: str, image: TinyImage
) -> None:
    proxy.inject(ResetBeforeResponse(forward=forward, match=r"^PUT .*/manifests/"))
    with pytest.raises((urllib.error.URLError, ConnectionError)) as raised:
        put_manifest(proxy.host, repository, "v2", image.manifest)
    assert isinstance(connection_error(raised.value), ConnectionResetError)
    stored = RegistryClient(Registry.parse(registry.host)).manifest(repository, "v2")
    assert (stored is not None) == forward  # with forward=True the push happened; only the answer was lost


def test_truncate_is_an_incomplete_read(proxy: FaultProxy, repository: str, image: TinyImage) -> None:
    proxy.inject(Truncate(match=r"^GET .*/blobs/"))
    url = f"http://{proxy.host}/v2/{repository}/blobs/{digest_of(image.layer)}"
    with urllib.request.urlopen(url) as response, pytest.raises(http.client.IncompleteRead) as raised:
        response.read()
    assert len(raised.value.partial) == len(image.layer) // 2
    assert proxy.requests(r"^GET .*/blobs/") == [
        ("GET", f"/v2/{repository}/blobs/{digest_of(image.layer)}", "Truncate")
    ]


def test_garbage_is_a_bad_status_line(proxy: FaultProxy) -> None:
    proxy.inject(Garbage(times=1))
    with pytest.raises(http.client.BadStatusLine):
        call("GET", f"http://{proxy.host}/v2/")
    assert call("GET", f"http://{proxy.host}/v2/")[0] == 200


def test_delay_trips_a_short_client_timeout(proxy: FaultProxy) -> None:
    proxy.inject(Delay(30, times=1))
    started = time.monotonic()
    with pytest.raises((TimeoutError, urllib.error.URLError)) as raised:
        call("GET", f"http://{proxy.host}/v2/", timeout=0.3)
    assert isinstance(connection_error(raised.value), TimeoutError)
    assert time.monotonic() - started < 2
    assert call("GET", f"http://{proxy.host}/v2/")[0] == 200


def test_down_refuses_connections_and_up_accepts_again(proxy: FaultProxy) -> None:
    host = proxy.host
    proxy.down()
    with pytest.raises(urllib.error.URLError) as refused:
        call("GET", f"http://{host}/v2/")
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    proxy.up()
    assert proxy.host == host
    assert call("GET", f"http://{host}/v2/")[0] == 200


def test_outage_during_a_manifest_push(
    proxy: FaultProxy, registry: localregistry.LocalRegistry, repository: str, image: TinyImage
) -> None:
    """The registry 'dies' on the manifest PUT: that request is reset, every later connection refused."""
    proxy.inject(Outage(match=r"^PUT .*/manifests/", times=1))
    with pytest.raises((urllib.error.URLError, ConnectionError)) as raised:
        put_manifest(proxy.host, repository, "v2", image.manifest)
    assert isinstance(connection_error(raised.value), ConnectionResetError)
    with pytest.raises(urllib.error.URLError) as refused:
        call("GET", f"http://{proxy.host}/v2/")
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    assert RegistryClient(Registry.parse(registry.host)).manifest(repository, "v2") is None

    proxy.up()
    RegistryClient(Registry.parse(proxy.host), policy=RetryPolicy(attempts=1)).put_manifest(
        repository, "v2", OCI_MANIFEST, image.manifest
    )
    assert [e.outcome for e in proxy.requests(r"^PUT .*/manifests/")] == ["Outage", 201]


def test_exit_cuts_requests_in_flight_and_leaves_no_threads_or_listener(registry: localregistry.LocalRegistry) -> None:
    outcomes: list[BaseException] = []
    hung = FaultProxy(registry.host, [Delay(600)])

    def hang() -> None:
        try:
            call("GET", f"http://{hung.host}/v2/", timeout=30)
        except (OSError, http.client.HTTPException) as error:
            outcomes.append(error)

    with hung:
        client = threading.Thread(target=hang)
        client.start()
        while not hung.log:
            time.sleep(0.01)
        started = time.monotonic()
    client.join(timeout=5)

    assert time.monotonic() - started < 2
    assert not client.is_alive() and outcomes, "the hung request was not cut"
    assert not [t for t in threading.enumerate() if t.name.startswith("faultproxy-")]
    with pytest.raises(urllib.error.URLError) as refused:
        call("GET", f"http://{hung.host}/v2/")
    assert isinstance(refused.value.reason, ConnectionRefusedError)


# --- real tools through the proxy, no faults --------------------------------------------------------------------


def test_docker_push_through_the_proxy(
    proxy: FaultProxy, registry: localregistry.LocalRegistry, repository: str, docker_client, tmp_path: Path
) -> None:
    require(shutil.which("docker") is not None, "the docker CLI")
    tiny = TinyImage.make(b"pushed by docker through FaultProxy\n")
    reference = f"{proxy.host}/{repository}:v1"
    subprocess.run(["docker", "import", "-", reference], input=tiny.layer, capture_output=True, check=True)
    try:
        pushed = subprocess.run(["docker", "push", reference], capture_output=True, text=True, timeout=60)
        assert pushed.returncode == 0, pushed.stderr
        digest = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed.stdout)
        stored = RegistryClient(Registry.parse(registry.host)).manifest(repository, "v1")
        assert digest and stored is not None and stored.digest == digest.group(1)
        assert proxy.requests(r"^PUT .*/manifests/v1$")[-1].outcome == 201
        assert all(isinstance(e.outcome, int) and e.outcome < 500 for e in proxy.log), proxy.log
    finally:
        subprocess.run(["docker", "rmi", "-f", reference], capture_output=True, check=False)


def test_skopeo_copy_through_the_proxy(
    proxy: FaultProxy, registry: localregistry.LocalRegistry, repository: str, tool, tmp_path: Path
) -> None:
    skopeo = tool("skopeo")
    TinyImage.make(b"copied by skopeo through FaultProxy\n").write_oci_layout(tmp_path / "layout", "v1")
    remote = f"docker://{proxy.host}/{repository}:v1"

    up = ["--dest-tls-verify=false", "--digestfile", str(tmp_path / "digest"), f"oci:{tmp_path / 'layout'}:v1", remote]
    copied = subprocess.run([skopeo, "copy", *up], capture_output=True, text=True, timeout=60)
    assert copied.returncode == 0, copied.stderr
    stored = RegistryClient(Registry.parse(registry.host)).manifest(repository, "v1")
    assert stored is not None and stored.digest == (tmp_path / "digest").read_text().strip()

    down = ["--src-tls-verify=false", remote, f"oci:{tmp_path / 'back'}:v1"]
    copied = subprocess.run([skopeo, "copy", *down], capture_output=True, text=True, timeout=60)
    assert copied.returncode == 0, copied.stderr
    pulled = json.loads((tmp_path / "back" / "index.json").read_text())["manifests"][0]["digest"]
    assert pulled == stored.digest  # skopeo compressed the layer on the way up, and kept it so on the way down
    assert proxy.requests(r"^PUT .*/manifests/v1$")[-1].outcome == 201
    assert [e.outcome for e in proxy.requests(r"^GET .*/blobs/")] == [200, 200]


# --- how the tools themselves react: the facts our retry policy is built on -------------------------------------

MANIFEST_PUT = r"^PUT .*/manifests/"


@contextlib.contextmanager
def push_command(tool: str, tmp_path: Path, reference: str) -> Iterator[list[str]]:
    """The command that pushes a fresh tiny image to ``reference`` with ``tool`` (its local copy removed after)."""
    require(shutil.which(tool) is not None, tool)
    tiny = TinyImage.make(f"pushed by {tool} at {time.time_ns()}\n".encode())
    if tool == "docker":
        subprocess.run(["docker", "import", "-", reference], input=tiny.layer, capture_output=True, check=True)
        try:
            yield ["docker", "push", reference]
        finally:
            subprocess.run(["docker", "rmi", "-f", reference], capture_output=True, check=False)
        return
    tiny.write_oci_layout(tmp_path / "layout", "v1")
    source = f"oci:{tmp_path / 'layout'}:v1"
    if tool == "skopeo":
        yield ["skopeo", "copy", "--dest-tls-verify=false", source, f"docker://{reference}"]
        return
    storage = ["--root", str(tmp_path / "root"), "--runroot", str(tmp_path / "run"), "--storage-driver", "vfs"]
    pulled = subprocess.run(["buildah", *storage, "pull", "-q", source], capture_output=True, text=True, check=True)
    image = pulled.stdout.split()[-1]
    try:
        yield ["buildah", *storage, "push", "--tls-verify=false", image, f"docker://{reference}"]
    finally:
        subprocess.run(["buildah", *storage, "rmi", "-a", "-f"], capture_output=True, check=False)


@pytest.mark.parametrize(
    ("tool", "fault", "succeeds", "attempts"),
    [
        pytest.param(
            "docker", Status(503, match=MANIFEST_PUT, times=1), False, 1, id="docker-never-retries-a-manifest"
        ),
        pytest.param(
            "skopeo", ResetBeforeResponse(match=MANIFEST_PUT, times=1), False, 1, id="skopeo-no-retry-default"
        ),
        pytest.param(
            "buildah", ResetBeforeResponse(match=MANIFEST_PUT, times=1), True, 2, id="buildah-retries-a-reset"
        ),
        pytest.param("buildah", Status(503, match=MANIFEST_PUT, times=1), False, 1, id="buildah-never-retries-5xx"),
    ],
)
def test_how_a_tool_reacts_to_one_failed_manifest_push(
    tool: str,
    fault: Status | ResetBeforeResponse,
    succeeds: bool,
    attempts: int,
    proxy: FaultProxy,
    repository: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if tool == "docker":
        request.getfixturevalue("docker_client")  # a running engine, not only the CLI
    proxy.inject(fault)
    with push_command(tool, tmp_path, f"{proxy.host}/{repository}:v1") as command:
        pushed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (pushed.returncode == 0) == succeeds, pushed.stdout + pushed.stderr
    assert len(proxy.requests(MANIFEST_PUT)) == attempts
