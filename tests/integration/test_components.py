"""Each Linux image does its job the way a cluster uses it (images built by the session code)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from tests.integration.conftest import build, image_outcomes

pytestmark = pytest.mark.integration
COMPONENTS = ["cns", "cni", "npm", "azure-ipam", "ipv6-hp-bpf"]
POOL = "10.240.0.0/28"


@pytest.fixture(scope="module")
def images(docker_client) -> dict[str, str]:
    return {name: o.action.details["reference"] for name, o in image_outcomes(build(COMPONENTS)).items()}


def http(method: str, url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        text, status = error.read().decode(), error.code
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as error:
            last = error
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def cns_container(image: str, state_dir: Path) -> DockerContainer:
    return (
        DockerContainer(image)
        .with_command(["-ip-pool", POOL, "-state-file", "/var/lib/azure-cns/state.json"])
        .with_exposed_ports(10090)
        .with_volume_mapping(str(state_dir), "/var/lib/azure-cns", "rw")
    )


def base_url(container: DockerContainer, port: int) -> str:
    return f"http://{container.get_container_host_ip()}:{container.get_exposed_port(port)}"


POD = {"podName": "web-0", "podNamespace": "default", "infraContainerID": "c0ffee"}


def test_cns_service(images: dict[str, str], tmp_path: Path) -> None:
    with cns_container(images["cns"], tmp_path) as cns:
        url = base_url(cns, 10090)
        status, health = wait_for(lambda: http("GET", f"{url}/network/health"), "cns health")
        assert status == 200 and health["status"] == "ok"
        assert images["cns"].endswith(f"-{health['version']}")
        status, first = http("POST", f"{url}/network/requestipconfigs", POD)
        assert status == 200 and first["ipAddress"].startswith("10.240.0.")
        status, again = http("POST", f"{url}/network/requestipconfigs", POD)
        assert (status, again["ipAddress"]) == (200, first["ipAddress"])
        other = {**POD, "podName": "web-1", "infraContainerID": "beef"}
        status, second = http("POST", f"{url}/network/requestipconfigs", other)
        assert status == 200 and second["ipAddress"] != first["ipAddress"]
        status, error = http("POST", f"{url}/network/requestipconfigs", raw=b'{"podName": ')
        assert status == 400 and error["error"]
        status, _ = http("POST", f"{url}/network/releaseipconfigs", other)
        assert status == 200
        status, listed = http("GET", f"{url}/debug/ipaddresses")
        assert [a["podName"] for a in listed] == ["web-0"]
        cns.get_wrapped_container().stop(timeout=10)  # SIGTERM: graceful shutdown
        assert cns.get_wrapped_container().wait(timeout=15)["StatusCode"] == 0
    # a new container on the same volume still holds web-0's address
    with cns_container(images["cns"], tmp_path) as restarted:
        url = base_url(restarted, 10090)
        wait_for(lambda: http("GET", f"{url}/network/health")[0] == 200, "restarted cns")
        status, listed = http("GET", f"{url}/debug/ipaddresses")
        assert [(a["podName"], a["ipAddress"]) for a in listed] == [("web-0", first["ipAddress"])]


def test_cns_pool_exhaustion_is_a_clear_error(images: dict[str, str], tmp_path: Path) -> None:
    container = cns_container(images["cns"], tmp_path).with_command(
        ["-ip-pool", "10.9.0.0/30", "-state-file", "/var/lib/azure-cns/state.json"]
    )
    with container as cns:
        url = base_url(cns, 10090)
        wait_for(lambda: http("GET", f"{url}/network/health")[0] == 200, "cns health")
        codes = [http("POST", f"{url}/network/requestipconfigs", {**POD, "podName": f"p{i}"}) for i in range(3)]
        assert [c[0] for c in codes] == [200, 200, 409]
        assert codes[2][1]["code"] == "PoolExhausted"


@pytest.fixture
def volume(docker_client) -> Iterator[str]:
    name = f"acnbuild-test-{uuid.uuid4().hex[:8]}"
    docker_client.volumes.create(name, labels={"org.testcontainers": "true"})
    yield name
    docker_client.volumes.get(name).remove(force=True)


def docker_run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    command = ["docker", "run", "--rm", "--label", "org.testcontainers=true", *(["-i"] if stdin else []), *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, check=False)


def test_azure_ipam_from_its_image_talks_to_cns(images: dict[str, str], volume: str, tmp_path: Path) -> None:
    deployed = docker_run("-v", f"{volume}:/opt/cni/bin", images["azure-ipam"], "deploy", "azure-ipam", "-o",
                          "/opt/cni/bin")  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr
    with (
        Network() as network,
        cns_container(images["cns"], tmp_path).with_network(network).with_network_aliases("cns") as cns,
    ):
        url = base_url(cns, 10090)
        wait_for(lambda: http("GET", f"{url}/network/health")[0] == 200, "cns health")
        config = json.dumps({"cniVersion": "1.0.0", "name": "azure",
                             "ipam": {"type": "azure-ipam", "cnsUrl": "http://cns:10090"}})  # fmt: skip

        def plugin(command: str) -> subprocess.CompletedProcess:
            return docker_run(
                "--network", network.name, "-v", f"{volume}:/opt/cni/bin", "--entrypoint", "/opt/cni/bin/azure-ipam",
                "-e", f"CNI_COMMAND={command}", "-e", "CNI_CONTAINERID=ctr-1", "-e", "CNI_IFNAME=eth0",
                "-e", "CNI_NETNS=/proc/1/ns/net", "-e", "CNI_ARGS=K8S_POD_NAME=nginx;K8S_POD_NAMESPACE=web",
                "-e", "CNI_PATH=/opt/cni/bin", images["azure-ipam"], stdin=config,
            )  # fmt: skip

        added = plugin("ADD")
        assert added.returncode == 0, added.stdout + added.stderr
        result = json.loads(added.stdout)
        assert result["cniVersion"] == "1.0.0" and result["ips"][0]["address"].endswith("/28")
        _, listed = http("GET", f"{url}/debug/ipaddresses")
        assert [(a["podName"], a["podNamespace"]) for a in listed] == [("nginx", "web")]
        assert f"{listed[0]['ipAddress']}/28" == result["ips"][0]["address"]
        deleted = plugin("DEL")
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
        assert http("GET", f"{url}/debug/ipaddresses")[1] == []
    unreachable = docker_run("-v", f"{volume}:/opt/cni/bin", "--entrypoint", "/opt/cni/bin/azure-ipam",
                             "-e", "CNI_COMMAND=ADD", "-e", "CNI_CONTAINERID=x", "-e", "CNI_IFNAME=eth0",
                             "-e", "CNI_ARGS=K8S_POD_NAME=a;K8S_POD_NAMESPACE=b", images["azure-ipam"],
                             stdin=config.replace("cns:10090", "127.0.0.1:9"))  # fmt: skip
    assert unreachable.returncode != 0
    assert json.loads(unreachable.stdout)["code"] == 11


def extract(docker_client, image: str, path: str, target: Path) -> Path:
    container = docker_client.containers.create(image, labels={"org.testcontainers": "true"})
    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.getmembers()[0]
            data = archive.extractfile(member)
            assert data is not None
            target.write_bytes(data.read())
    finally:
        container.remove(force=True)
    target.chmod(0o755)
    return target


def test_cni_dropgz_deploys_working_plugins_to_the_host(images: dict[str, str], tmp_path: Path, docker_client) -> None:
    out = tmp_path / "bin"
    out.mkdir()
    deployed = docker_run("-v", f"{out}:/host/opt/cni/bin", images["cni"], "deploy", "azure-vnet", "azure-ipam",
                          "azure.conflist", "-o", "/host/opt/cni/bin")  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr
    assert sorted(p.name for p in out.iterdir()) == ["azure-ipam", "azure-vnet", "azure.conflist"]
    assert json.loads((out / "azure.conflist").read_text())["plugins"][0]["ipam"]["type"] == "azure-ipam"
    for plugin in ("azure-vnet", "azure-ipam"):
        answer = subprocess.run([str(out / plugin)], env={"CNI_COMMAND": "VERSION"}, capture_output=True, text=True,
                                timeout=30, check=False)  # fmt: skip
        assert answer.returncode == 0, answer.stdout + answer.stderr
        assert "1.0.0" in json.loads(answer.stdout)["supportedVersions"]


def test_tampered_payload_is_rejected(images: dict[str, str], tmp_path: Path, docker_client) -> None:
    dropgz = extract(docker_client, images["cni"], "/dropgz", tmp_path / "dropgz")
    data = bytearray(dropgz.read_bytes())
    start = data.find(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02")  # our payload's gzip header (mtime 0, best)
    assert start > 0, "no embedded gzip payload found in /dropgz"
    data[start + 64] ^= 0xFF
    tampered = tmp_path / "dropgz-tampered"
    tampered.write_bytes(bytes(data))
    tampered.chmod(0o755)
    names = subprocess.run([str(dropgz), "list"], capture_output=True, text=True, check=True).stdout.split()
    out = tmp_path / "out"
    result = subprocess.run([str(tampered), "deploy", *[n for n in names if n != "sum.txt"], "-o", str(out)],
                            capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert result.returncode != 0
    assert "deploy failed" in result.stderr
    assert not out.exists() or not any(out.iterdir())


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and line.split(" ")[0] == name):
            return float(line.rsplit(" ", 1)[1])
    return None


def when(text: str, name: str, value: float) -> str | None:
    return text if metric(text, name) == value else None


def test_npm_metrics_follow_the_policy_directory(images: dict[str, str], tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    container = (
        DockerContainer(images["npm"])
        .with_command(["-policy-dir", "/policies", "-interval", "200ms"])
        .with_exposed_ports(10091)
        .with_volume_mapping(str(policies), "/policies", "ro")
    )
    with container as npm:
        url = base_url(npm, 10091)
        assert wait_for(lambda: http("GET", f"{url}/healthz") == (200, "ok"), "npm health")
        metrics = lambda: http("GET", f"{url}/metrics")[1]  # noqa: E731
        assert metric(wait_for(metrics, "metrics"), "npm_num_policies") == 0
        policy = {"name": "deny-all", "namespace": "payments", "podSelector": {}, "ingress": [], "egress": []}
        (policies / "deny-all.json").write_text(json.dumps(policy))
        text = wait_for(lambda: when(metrics(), "npm_num_policies", 1), "one policy")
        assert 'npm_policies_per_namespace{namespace="payments"} 1' in text
        (policies / "broken.json").write_text("{not json")
        text = wait_for(lambda: when(metrics(), "npm_invalid_policy_files", 1), "one invalid file")
        assert metric(text, "npm_num_policies") == 1
        assert http("GET", f"{url}/healthz") == (200, "ok")


def test_ipv6_hp_bpf_dry_run_lists_the_container_interfaces(images: dict[str, str]) -> None:
    result = docker_run(images["ipv6-hp-bpf"], "/ipv6-hp-bpf", "-dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "would attach ipv6-hp-bpf to eth0 (ingress, egress)" in lines
    assert not any(" to lo " in line for line in lines)
    no_match = docker_run(images["ipv6-hp-bpf"], "/ipv6-hp-bpf", "-dry-run", "-iface", "^nothing$")
    assert no_match.returncode == 0 and "eth0" not in no_match.stdout


def test_ipv6_hp_bpf_has_no_windows_image() -> None:
    from tests.integration.conftest import acnbuild

    result = acnbuild("image", "ipv6-hp-bpf", "--platform", "windows/amd64", env={"CONTAINER_BUILDER": "buildah"})
    assert result.returncode == 2 and "does not support platform windows/amd64" in result.stderr
    assert "linux/amd64, linux/arm64" in result.stderr
