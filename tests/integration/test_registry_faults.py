"""Registry faults through the sessions, against a real registry behind FaultProxy (tests/support/faultproxy.py).

Each fault ends in success after retries, or in a clear error that names the registry, the operation and the last
status, in bounded time and with the retries visible on stderr. A manifest list never points at a missing child,
and a rerun after the fault heals completes, pushing only what is missing.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from acnbuild.paths import Layout
from acnbuild.references import Reference
from acnbuild.registry import local as localregistry
from acnbuild.registry.client import RegistryClient

from tests.integration.conftest import acnbuild, require
from tests.support.faultproxy import Delay, FaultProxy, Garbage, Outage, ResetMidBody, Status, Truncate
from tests.support.sessions import pinned_version
from tests.support.token_registry import TokenServer

pytestmark = pytest.mark.integration

COMPONENT = "ipv6-hp-bpf"  # one small binary, Linux only
BLOB_UPLOAD = r"^(PATCH|PUT) /v2/.*/blobs/uploads/"
IMAGE_MANIFEST_PUT = r"^PUT /v2/.*/manifests/linux-"
CHILD_GET = r"^GET /v2/.*/manifests/linux-"


@pytest.fixture
def proxy(registry: localregistry.LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(registry.host, timeout=30) as running:
        yield running


@dataclass
class Publisher:
    """Runs this checkout's sessions against the registry behind the proxy, with a version of the test's own."""

    root: Path
    proxy: FaultProxy
    version: str
    env: dict[str, str]

    @property
    def host(self) -> str:
        return self.proxy.host

    @property
    def image(self) -> Reference:
        return Reference.parse(f"{self.host}/{COMPONENT}:linux-amd64-{self.version}")

    @property
    def list_reference(self) -> Reference:
        return Reference.parse(f"{self.host}/{COMPONENT}:{self.version}")

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return acnbuild(*args, "--registry", self.host, cwd=self.root, env={**self.env, **env})

    def push(self, builder: str = "docker", **env: str) -> subprocess.CompletedProcess[str]:
        return self.run("image-push", COMPONENT, "--builder", builder, **env)

    def push_list(self, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run("manifest", "--component", COMPONENT, "--platform", "linux/amd64", "--push", **env)

    def direct(self, reference: Reference) -> Reference:
        """``reference`` at the registry itself, not through the proxy."""
        return Reference.parse(str(reference).replace(self.host, f"127.0.0.1:{self.proxy.upstream_address[1]}"))

    def remote(self, reference: Reference) -> str | None:
        """The digest the registry itself holds (read directly, not through the proxy)."""
        direct = self.direct(reference)
        found = RegistryClient.for_reference(direct).get(direct)
        return found.digest if found else None

    def push_attempts(self, builder: str = "docker") -> int:
        """How many times the push was started (each attempt writes its command line to the push log)."""
        log = Layout(self.root).logs / f"push_{COMPONENT}_linux_amd64_{builder}.log"
        marker = "$ (docker engine) push" if builder == "docker" else f"$ {shutil.which(builder)} push"
        return log.read_text().count(marker) if log.exists() else 0


@pytest.fixture
def publisher(monorepo_copy: Path, proxy: FaultProxy) -> Iterator[Publisher]:
    version = f"v0.0.0-faults-{secrets.token_hex(3)}"
    env = pinned_version(version)
    yield Publisher(monorepo_copy, proxy, version, env)
    for builder in ("docker", "buildah"):
        if shutil.which(builder):
            images = subprocess.run([builder, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                                    text=True, check=False).stdout.split()  # fmt: skip
            mine = [image for image in images if version in image]
            if mine:
                subprocess.run([builder, "rmi", "--force", *mine], capture_output=True, check=False)


DIGEST_PARAM = re.compile(r"[?&]digest=sha256(?:%3A|:)([0-9a-f]{64})")


def uploaded_digests(proxy: FaultProxy, since: int = 0) -> set[str]:
    """The blobs whose upload was completed (the request carrying ``digest=``), from log entry ``since`` on."""
    found = set()
    for entry in proxy.log[since:]:
        if re.search(BLOB_UPLOAD, f"{entry.method} {entry.path}") and (match := DIGEST_PARAM.search(entry.path)):
            found.add(match.group(1))
    return found


def assert_clear_give_up(result: subprocess.CompletedProcess[str], host: str, operation: str, status: str) -> None:
    """Failed without a traceback; the give-up names the registry, the operation and the last status."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    given_up = [line for line in result.stderr.splitlines() if "gave up after" in line]
    assert given_up, result.stderr[-3000:]
    assert host in given_up[-1] and operation in given_up[-1], given_up[-1]
    assert re.search(status, given_up[-1]), given_up[-1]


def retries_shown(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if "retrying" in line.lower()]


# --- connection resets -------------------------------------------------------------------------------------------


def test_a_reset_storm_on_docker_uploads_ends_after_the_engines_own_retries(publisher: Publisher) -> None:
    """The engine retries each layer for ~50 s; we add no attempt on top of that (the issue saw 209 s, silent)."""
    assert publisher.run("image", COMPONENT).returncode == 0  # built first: the storm only hits the push
    publisher.proxy.inject(ResetMidBody(after_bytes=512, match=BLOB_UPLOAD))
    started = time.monotonic()
    result = publisher.push()
    elapsed = time.monotonic() - started

    assert_clear_give_up(result, publisher.host, f"push {publisher.image}", r"closed network connection|reset")
    engine_retries = [line for line in retries_shown(result) if "the engine's own retry" in line]
    assert len(engine_retries) >= 4, result.stderr[-3000:]  # each retry the engine starts is shown as it starts
    assert publisher.push_attempts() == 1
    assert elapsed < 120, elapsed  # docker's own 50 s and our overhead, not minutes of stacked retries
    assert publisher.remote(publisher.image) is None


def test_a_reset_storm_on_buildah_uploads_is_retried_within_the_deadline(publisher: Publisher, tool) -> None:
    tool("buildah")
    assert publisher.run("image", COMPONENT, "--builder", "buildah").returncode == 0
    publisher.proxy.inject(ResetMidBody(after_bytes=512, match=BLOB_UPLOAD))
    result = publisher.push("buildah")

    # The proxy resets the connection mid-body; Go reports that as a reset, a closed connection, or (when buildah
    # was writing as the reset arrived) EPIPE: "broken pipe".
    reset_words = r"closed network connection|reset|broken pipe"
    assert_clear_give_up(result, publisher.host, f"buildah push {publisher.image}", reset_words)
    ours = [line for line in retries_shown(result) if line.startswith(f"retrying buildah push {publisher.image}")]
    attempts = publisher.push_attempts("buildah")
    assert 2 <= attempts <= 4 and len(ours) == attempts - 1, result.stderr[-3000:]
    assert publisher.remote(publisher.image) is None


def test_one_reset_mid_upload_is_survived(publisher: Publisher, tool) -> None:
    tool("buildah")
    publisher.proxy.inject(ResetMidBody(after_bytes=512, match=BLOB_UPLOAD, times=1))
    result = publisher.push("buildah")
    assert result.returncode == 0, result.stderr[-3000:]
    assert publisher.remote(publisher.image) is not None


# --- server errors, throttling -----------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", ["docker", "buildah"])
def test_500s_on_the_first_manifest_puts_are_retried_to_success(publisher: Publisher, builder: str, tool) -> None:
    tool(builder)
    publisher.proxy.inject(Status(500, match=IMAGE_MANIFEST_PUT, times=2))
    result = publisher.push(builder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [e.outcome for e in publisher.proxy.requests(IMAGE_MANIFEST_PUT)] == ["Status", "Status", 201]
    assert len(retries_shown(result)) == 2
    outcome = json.loads(publisher.run("image-push", COMPONENT, "--builder", builder, "--json").stdout)
    push = next(o for o in outcome if o["kind"] == "push")
    assert push["status"] == "cached" and push["result"]["digest"] == publisher.remote(publisher.image)


def test_500s_then_429_with_retry_after_on_a_list_push(publisher: Publisher) -> None:
    assert publisher.push().returncode == 0
    list_put = rf"^PUT /v2/{COMPONENT}/manifests/{re.escape(publisher.version)}$"
    publisher.proxy.inject(Status(500, match=list_put, times=2), Status(429, retry_after=2, match=list_put, times=1))
    result = publisher.push_list()
    assert result.returncode == 0, result.stderr[-3000:]
    assert [e.outcome for e in publisher.proxy.requests(list_put)] == ["Status", "Status", "Status", 201]
    waits = [float(m) for m in re.findall(r"retrying PUT \S+ at \S+ in ([\d.]+)s \(HTTP 429", result.stderr)]
    assert waits and waits[0] >= 2.0  # the registry's Retry-After, not our shorter backoff
    assert publisher.remote(publisher.list_reference) is not None


def test_a_429_on_a_docker_manifest_put_is_retried(publisher: Publisher) -> None:
    """docker gives up on a throttled manifest PUT at once; one more attempt of ours re-PUTs it (blobs are HEADed)."""
    publisher.proxy.inject(Status(429, retry_after=1, match=IMAGE_MANIFEST_PUT, times=1))
    result = publisher.push()
    assert result.returncode == 0, result.stderr[-3000:]
    assert publisher.push_attempts() == 2
    assert publisher.remote(publisher.image) is not None


# --- the registry dies -------------------------------------------------------------------------------------------


def test_registry_killed_during_an_image_manifest_push_then_the_rerun_pushes_only_what_is_missing(
    publisher: Publisher,
) -> None:
    publisher.proxy.inject(Outage(match=IMAGE_MANIFEST_PUT, times=1))
    result = publisher.push()
    assert_clear_give_up(result, publisher.host, f"push {publisher.image}", r"refused|reset|EOF")
    assert publisher.remote(publisher.image) is None

    publisher.proxy.up()
    first = uploaded_digests(publisher.proxy)
    assert first  # the layers and the config went up before the registry died
    mark = len(publisher.proxy.log)
    again = publisher.push()
    assert again.returncode == 0, again.stderr[-3000:]
    assert not uploaded_digests(publisher.proxy, since=mark) & first  # what the registry has is not sent again
    assert publisher.remote(publisher.image) is not None


def test_registry_killed_during_a_list_push_never_leaves_a_list_with_a_missing_child(publisher: Publisher) -> None:
    assert publisher.push().returncode == 0
    list_put = rf"^PUT /v2/{COMPONENT}/manifests/{re.escape(publisher.version)}$"
    publisher.proxy.inject(Outage(match=list_put, times=1))
    result = publisher.push_list()
    assert_clear_give_up(result, publisher.host, f"PUT {COMPONENT}", r"refused")
    assert publisher.remote(publisher.list_reference) is None

    publisher.proxy.up()
    pushes_before = len(publisher.proxy.requests(r"^PUT "))
    again = publisher.push_list()
    assert again.returncode == 0, again.stderr[-3000:]
    assert [f"{e.method} {e.path}" for e in publisher.proxy.requests(r"^PUT ")[pushes_before:]] == [
        f"PUT /v2/{COMPONENT}/manifests/{publisher.version}"  # only the list: its child was already there
    ]
    direct = publisher.direct(publisher.list_reference)
    client = RegistryClient.for_reference(direct)
    pushed = client.get(direct)
    assert pushed is not None
    for entry in pushed.json["manifests"]:
        assert client.manifest(direct.repository, entry["digest"]) is not None, entry  # every child is there


# --- slow, truncated and garbled answers -------------------------------------------------------------------------


def test_a_slow_answer_past_the_timeout_is_retried_to_success(publisher: Publisher) -> None:
    assert publisher.push().returncode == 0
    publisher.proxy.inject(Delay(seconds=10, match=CHILD_GET, times=1))
    result = publisher.push_list(ACNBUILD_REGISTRY_TIMEOUT="1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert any("timed out" in line for line in retries_shown(result)), result.stderr[-3000:]
    assert publisher.remote(publisher.list_reference) is not None


def test_a_registry_that_never_answers_ends_in_a_clear_error(publisher: Publisher) -> None:
    assert publisher.push().returncode == 0
    publisher.proxy.inject(Delay(seconds=60, match=CHILD_GET))
    result = publisher.push_list(ACNBUILD_REGISTRY_TIMEOUT="1")
    assert_clear_give_up(result, publisher.host, f"GET {COMPONENT}", r"timed out")
    assert publisher.remote(publisher.list_reference) is None


def test_a_hung_manifest_put_stops_the_tool_at_its_timeout(publisher: Publisher, tool) -> None:
    tool("buildah")
    assert publisher.run("image", COMPONENT, "--builder", "buildah").returncode == 0
    publisher.proxy.inject(Delay(seconds=120, match=IMAGE_MANIFEST_PUT))
    result = publisher.push("buildah", ACNBUILD_TOOL_TIMEOUT="3")
    assert_clear_give_up(result, publisher.host, f"buildah push {publisher.image}", r"no result within 3 s")
    assert publisher.remote(publisher.image) is None


@pytest.mark.parametrize("fault", [Truncate(match=CHILD_GET, times=1), Garbage(match=CHILD_GET, times=1)],
                         ids=["truncated-body", "not-http"])  # fmt: skip
def test_truncated_or_garbled_answers_are_retried(publisher: Publisher, fault: Truncate | Garbage) -> None:
    assert publisher.push().returncode == 0
    publisher.proxy.inject(fault)
    result = publisher.push_list()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    shown = retries_shown(result)
    assert len(shown) == 1 and re.search(r"IncompleteRead|BadStatusLine|RemoteDisconnected", shown[0]), shown


# --- never retried -----------------------------------------------------------------------------------------------


def port_with_500() -> int:
    """A free loopback port whose number contains "500" (the README's examples use 5000)."""
    for port in [*range(15000, 15010), *range(25000, 25010), *range(35000, 35010), *range(5000, 5010)]:
        if localregistry._port_is_free(port):
            return port
    raise AssertionError("no free port with 500 in it")


@pytest.mark.parametrize("builder", ["docker", "buildah", "podman"])
def test_an_unauthorized_push_to_a_port_with_500_in_it_is_tried_once(
    builder: str, monorepo_copy: Path, tmp_path: Path, tool
) -> None:
    """The issue: "500" in the registry's address made a refused push look like a server error, tried 4 times.

    The registry (token auth) lets anyone in, read-only: the login check passes, the tool's push is refused.
    """
    tool(builder)
    require(shutil.which("docker-registry") is not None, "docker-registry (Debian package docker-registry)")
    no_login = tmp_path / "no-login"  # logged in nowhere
    no_login.mkdir()
    for name in ("config.json", "auth.json"):
        (no_login / name).write_text("{}")
    env = {**pinned_version(f"v0.0.0-unauth-{secrets.token_hex(3)}"), "DOCKER_CONFIG": str(no_login),
           "REGISTRY_AUTH_FILE": str(no_login / "auth.json")}  # fmt: skip
    with TokenServer({"someone": "pw-9d1e"}) as tokens:
        bundle = tokens.write_root_bundle(tmp_path / "token-root.pem")
        auth = localregistry.token_auth(tokens.realm, tokens.service, tokens.issuer, bundle)
        secured = localregistry.start(tmp_path / "secured", port_with_500(), auth=auth)
        try:
            result = acnbuild("image-push", COMPONENT, "--builder", builder, "--registry", secured.host,
                              cwd=monorepo_copy, env=env)  # fmt: skip
        finally:
            secured.stop()
            subprocess.run([builder, "rmi", "--force", *_images_with(builder, env["VERSION"])], capture_output=True,
                           check=False)  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert retries_shown(result) == [], result.stderr[-3000:]
    log = (Layout(monorepo_copy).logs / f"push_{COMPONENT}_linux_amd64_{builder}.log").read_text()
    marker = "$ (docker engine) push" if builder == "docker" else f"$ {shutil.which(builder)} push"
    assert log.count(marker) == 1
    assert re.search(r"unauthorized|authentication required|refused access|denied", result.stderr, re.IGNORECASE)
    assert "500" in secured.host and secured.host in result.stderr


def _images_with(builder: str, version: str) -> list[str]:
    listing = subprocess.run([builder, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                             text=True, check=False)  # fmt: skip
    return [image for image in listing.stdout.split() if version in image]
