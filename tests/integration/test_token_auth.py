"""Real logins against a real token-authenticated registry (Debian docker-registry + a loopback token server):
the distribution API through ``Authenticator`` with a credential from a credential helper, refusals, identity
tokens, and ``docker login``/``push``/``logout`` through the engine with the same helper program."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from acnbuild.errors import UserError
from acnbuild.registry.auth import Authenticator
from acnbuild.registry.credentials import resolve

from tests.integration.conftest import require
from tests.support import credential_helper
from tests.support.token_registry import TokenRegistry, token_registry

pytestmark = pytest.mark.integration

USER = "ci-pusher"
PASSWORD = "pw-Pusher-52f0e1"
WRONG_PASSWORD = "pw-Wrong-a71c3d"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    require(shutil.which("docker-registry") is not None, "docker-registry (Debian package docker-registry)")
    with token_registry(tmp_path_factory.mktemp("token-registry"), {USER: PASSWORD}) as running:
        yield running


@pytest.fixture(autouse=True)
def no_secret_leaks(capfd: pytest.CaptureFixture[str], registry: TokenRegistry) -> Iterator[None]:
    """After every test: no password, refresh token or access token in our output, helpers' or the registry's log."""
    yield
    out, err = capfd.readouterr()
    assert_no_secret(registry, out, err, registry.log.read_text())


def secrets_of(registry: TokenRegistry) -> list[str]:
    basic = [base64.b64encode(f"{USER}:{p}".encode()).decode() for p in (PASSWORD, WRONG_PASSWORD)]
    return [PASSWORD, WRONG_PASSWORD, *basic, *registry.token_server.issued]


def assert_no_secret(registry: TokenRegistry, *texts: str) -> None:
    for text in texts:
        for secret in secrets_of(registry):
            assert secret not in text


@dataclass
class Login:
    """A user's machine: DOCKER_CONFIG naming a credential helper, the helper on PATH."""

    env: dict[str, str]
    helper: credential_helper.CredentialHelper
    config: Path


def login_with_helper(tmp_path: Path, config: dict[str, object], logins: dict[str, tuple[str, str]]) -> Login:
    helper = credential_helper.install(tmp_path / "bin", "acntest", logins)
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps(config))
    env = {
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(docker_config),
        "PATH": helper.path_with_helper(),
    }
    return Login(env, helper, docker_config / "config.json")


def send(
    authenticator: Authenticator,
    method: str,
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One distribution request the way a client does it: plain first, then once more answering the challenge."""
    authorization: str | None = None
    for _ in range(2):
        request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        if authorization:
            request.add_header("Authorization", authorization)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            if error.code != 401 or authorization:
                raise
            authorization = authenticator.authorization(error.headers["WWW-Authenticate"])
            assert authorization is not None
    raise AssertionError("unreachable")


def push_manifest(authenticator: Authenticator, host: str, repository: str, tag: str) -> bytes:
    """Upload a config blob and an OCI manifest naming it; returns the manifest body."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    status, headers, _ = send(authenticator, "POST", f"http://{host}/v2/{repository}/blobs/uploads/", b"")
    assert status == 202
    location = headers["Location"]
    separator = "&" if "?" in location else "?"
    upload = f"{location}{separator}digest={config_digest}"
    status, _, _ = send(authenticator, "PUT", upload, config, {"Content-Type": "application/octet-stream"})
    assert status == 201
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [],
        }
    ).encode()
    url = f"http://{host}/v2/{repository}/manifests/{tag}"
    status, headers, _ = send(authenticator, "PUT", url, manifest, {"Content-Type": OCI_MANIFEST})
    assert status == 201
    assert headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()
    return manifest


def get_manifest(authenticator: Authenticator, host: str, repository: str, tag: str) -> bytes:
    url = f"http://{host}/v2/{repository}/manifests/{tag}"
    accept = f"{OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json"
    status, _, body = send(authenticator, "GET", url, headers={"Accept": accept})
    assert status == 200
    return body


def sorted_actions(scope: str) -> str:
    resource, _, actions = scope.rpartition(":")
    return f"{resource}:{','.join(sorted(actions.split(',')))}"


def test_distribution_api_with_a_credential_from_a_helper(registry: TokenRegistry, tmp_path: Path) -> None:
    login = login_with_helper(tmp_path, {"credHelpers": {registry.host: "acntest"}}, {registry.host: (USER, PASSWORD)})
    registry.token_server.requests.clear()
    authenticator = Authenticator(registry.host, resolver=lambda host: resolve(host, login.env))

    status, _, _ = send(authenticator, "GET", f"http://{registry.host}/v2/")
    assert status == 200
    manifest = push_manifest(authenticator, registry.host, "creds-it/api", "v1")
    assert get_manifest(authenticator, registry.host, "creds-it/api", "v1") == manifest

    assert login.helper.calls() == [f"get {registry.host}"]  # resolved once, lazily
    asked = [
        (r.grant, r.subject, [sorted_actions(scope) for scope in r.scopes]) for r in registry.token_server.requests
    ]
    assert asked == [
        ("basic", USER, []),  # GET /v2/
        ("basic", USER, ["repository:creds-it/api:pull,push"]),  # upload, blob PUT and manifest PUT: one token
        ("basic", USER, ["repository:creds-it/api:pull"]),  # manifest GET
    ]


def test_a_wrong_password_is_refused_without_showing_it(registry: TokenRegistry, tmp_path: Path) -> None:
    login = login_with_helper(tmp_path, {"credsStore": "acntest"}, {registry.host: (USER, WRONG_PASSWORD)})
    authenticator = Authenticator(registry.host, resolver=lambda host: resolve(host, login.env))
    with pytest.raises(UserError) as info:
        send(authenticator, "GET", f"http://{registry.host}/v2/creds-it/api/tags/list")
    text = str(info.value)
    assert f"the registry refused the credentials for {registry.host}" in text
    assert "docker-credential-acntest" in text
    assert info.value.hint is not None and f"docker login {registry.host}" in info.value.hint
    assert_no_secret(registry, text, repr(info.value), repr(authenticator))


def test_an_identity_token_from_a_helper_pushes_and_pulls(registry: TokenRegistry, tmp_path: Path) -> None:
    refresh_token = registry.token_server.issue_refresh_token(USER)
    login = login_with_helper(tmp_path, {"credsStore": "acntest"}, {registry.host: ("<token>", refresh_token)})
    credential = resolve(registry.host, login.env)
    assert credential is not None and credential.is_identity_token
    registry.token_server.requests.clear()
    authenticator = Authenticator(registry.host, credential)
    manifest = push_manifest(authenticator, registry.host, "creds-it/identity", "v1")
    assert get_manifest(authenticator, registry.host, "creds-it/identity", "v1") == manifest
    assert {(r.method, r.grant, r.subject) for r in registry.token_server.requests} == {("POST", "refresh_token", USER)}


def test_docker_login_and_push_through_the_engine_use_the_helper(
    registry: TokenRegistry, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    cli = shutil.which("docker")
    require(cli is not None, "the docker CLI")
    assert cli is not None
    login = login_with_helper(tmp_path, {"credsStore": "acntest"}, {})
    env = {**os.environ, **login.env}
    reference = f"{registry.host}/creds-it/engine:v1"
    outputs: list[str] = []

    def docker_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run([cli, *args], input=stdin, env=env, capture_output=True, check=False, timeout=120)
        outputs.extend((done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")))
        return done

    refused = docker_cli("login", registry.host, "--username", USER, "--password-stdin", stdin=WRONG_PASSWORD.encode())
    assert refused.returncode != 0 and login.helper.logins() == {}

    logged_in = docker_cli("login", registry.host, "--username", USER, "--password-stdin", stdin=PASSWORD.encode())
    assert logged_in.returncode == 0, logged_in.stderr.decode()
    assert login.helper.logins() == {registry.host: {"Username": USER, "Secret": PASSWORD}}
    config_text = login.config.read_text()
    assert json.loads(config_text)["credsStore"] == "acntest"
    assert_no_secret(registry, config_text)

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        content = b"pushed by test_token_auth\n"
        entry = tarfile.TarInfo("hello.txt")
        entry.size = len(content)
        tar.addfile(entry, io.BytesIO(content))
    imported = docker_cli("import", "-", reference, stdin=layer.getvalue())
    assert imported.returncode == 0, imported.stderr.decode()
    try:
        calls_before_push = len(login.helper.calls())
        registry.token_server.requests.clear()
        pushed = docker_cli("push", reference)
        assert pushed.returncode == 0, pushed.stderr.decode()
        assert f"get {registry.host}" in login.helper.calls()[calls_before_push:]
        pushing = [
            r for r in registry.token_server.requests if any(s.endswith(("push,pull", "pull,push")) for s in r.scopes)
        ]
        assert pushing and all((r.grant, r.subject) == ("basic", USER) for r in pushing)  # the engine's token request

        # What docker pushed, read back with the same login through our resolve + Authenticator.
        authenticator = Authenticator(registry.host, resolver=lambda host: resolve(host, login.env))
        manifest = json.loads(get_manifest(authenticator, registry.host, "creds-it/engine", "v1"))
        assert len(manifest["layers"]) == 1

        logged_out = docker_cli("logout", registry.host)
        assert logged_out.returncode == 0 and login.helper.logins() == {}
        assert f"erase {registry.host}" in login.helper.calls()
        assert resolve(registry.host, login.env) is None
    finally:
        docker_cli("rmi", "--force", reference)
    assert_no_secret(registry, *outputs)
