"""Real logins end to end, through the sessions a user runs: ``image-push`` with docker, buildah and podman, and
``manifest -- --push``, against a token-authenticated registry (docker-registry + a loopback token server), with
the login held by a credential helper program on PATH: docker's ``credsStore`` / ``credHelpers``, and for
buildah/podman their auth file's ``credHelpers``. The password and every token issued never appear in stdout,
stderr, logs, records, reports (``--json``), written lists, or error text.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from acnbuild.paths import user_cache
from acnbuild.references import Reference
from acnbuild.registry.auth import Authenticator
from acnbuild.registry.client import RegistryClient
from acnbuild.registry.credentials import Credential

from tests.integration.conftest import acnbuild, require
from tests.support import credential_helper
from tests.support.sessions import pinned_version
from tests.support.token_registry import TokenRegistry, token_registry

pytestmark = pytest.mark.integration

USER = "release-bot"
PASSWORD = "pw-Release-3c91e7"
WRONG_PASSWORD = "pw-Stale-d04b2a"
COMPONENT = "ipv6-hp-bpf"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    require(shutil.which("docker-registry") is not None, "docker-registry (Debian package docker-registry)")
    with token_registry(tmp_path_factory.mktemp("token-registry"), {USER: PASSWORD}) as running:
        yield running


def secrets_of(registry: TokenRegistry) -> list[str]:
    basic = [base64.b64encode(f"{USER}:{p}".encode()).decode() for p in (PASSWORD, WRONG_PASSWORD)]
    return [PASSWORD, WRONG_PASSWORD, *basic, *registry.token_server.issued]


def written_text(root: Path) -> dict[str, str]:
    """Everything the build wrote in the checkout: logs, records, caches, output (lists, archives' names)."""
    found = {}
    for base in (root / ".acnbuild", root / "output"):
        for path in base.rglob("*") if base.exists() else []:
            if path.is_file() and path.stat().st_size < 50_000_000:
                found[str(path)] = path.read_text(errors="replace")
    return found


def assert_no_secret(registry: TokenRegistry, root: Path, *texts: str) -> None:
    everything = {f"output {i}": text for i, text in enumerate(texts)} | written_text(root)
    for where, text in everything.items():
        for secret in secrets_of(registry):
            assert secret not in text, f"a secret in {where}"


def login(tmp_path: Path, registry: TokenRegistry, builder: str, style: str, password: str) -> dict[str, str]:
    """A user's machine logged in to ``registry`` through a credential helper; the environment for the build."""
    helper = credential_helper.install(tmp_path / "bin", "acntest", {registry.host: (USER, password)})
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    auth_file = tmp_path / "containers-auth.json"
    helpers = {"credHelpers": {registry.host: "acntest"}} if style == "credHelpers" else {"credsStore": "acntest"}
    (docker_config / "config.json").write_text(json.dumps(helpers if builder == "docker" else {}))
    auth_file.write_text(json.dumps(helpers if builder != "docker" else {}))
    home = tmp_path / "home"  # no login of the machine's own can answer
    home.mkdir()
    return {
        "HOME": str(home),
        "ACNBUILD_CACHE": str(user_cache()),  # the installed toolchain, as before HOME moved
        "PATH": helper.path_with_helper(),
        "DOCKER_CONFIG": str(docker_config),
        "REGISTRY_AUTH_FILE": str(auth_file),
        **pinned_version(f"v0.0.0-login-{secrets.token_hex(3)}"),
    }


def remove_images(builder: str, version: str) -> None:
    listing = subprocess.run([builder, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                             text=True, check=False)  # fmt: skip
    mine = [image for image in listing.stdout.split() if version in image]
    if mine:
        subprocess.run([builder, "rmi", "--force", *mine], capture_output=True, check=False)


@pytest.mark.parametrize(
    ("builder", "style"),
    [("docker", "credsStore"), ("docker", "credHelpers"), ("buildah", "credHelpers"), ("podman", "credHelpers")],
)
def test_image_push_and_list_push_with_a_login_held_by_a_credential_helper(
    builder: str, style: str, registry: TokenRegistry, monorepo_copy: Path, tmp_path: Path, tool, request
) -> None:
    tool(builder)
    if builder == "docker":
        request.getfixturevalue("docker_client")
    env = login(tmp_path, registry, builder, style, PASSWORD)
    try:
        registry.token_server.requests.clear()
        pushed = acnbuild("image-push", COMPONENT, "--builder", builder, "--registry", registry.host, "--json",
                          cwd=monorepo_copy, env=env)  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        push = next(o for o in json.loads(pushed.stdout) if o["kind"] == "push")
        assert push["status"] == "built"
        # the builder's own token requests and ours (reading the digest back) were made as the helper's user
        assert registry.token_server.requests
        assert all((r.grant, r.subject) == ("basic", USER) for r in registry.token_server.requests)

        listed = acnbuild("manifest", "--component", COMPONENT, "--platform", "linux/amd64", "--push",
                          "--registry", registry.host, "--json", cwd=monorepo_copy, env=env)  # fmt: skip
        assert listed.returncode == 0, listed.stderr[-3000:]
        result = json.loads(listed.stdout)[COMPONENT]
        reference = Reference.parse(result["reference"])
        client = RegistryClient(reference.registry_info)
        client.auth = Authenticator(registry.host, Credential(USER, PASSWORD))
        back = client.get(reference)
        assert back is not None and back.digest == result["digest"]
        assert back.json["manifests"][0]["digest"] == push["result"]["digest"]

        assert_no_secret(registry, monorepo_copy, pushed.stdout, pushed.stderr, listed.stdout, listed.stderr)
    finally:
        remove_images(builder, env["VERSION"])


@pytest.mark.parametrize("builder", ["docker", "buildah"])
def test_a_refused_login_is_a_clear_error_without_the_password(
    builder: str, registry: TokenRegistry, monorepo_copy: Path, tmp_path: Path, tool, request
) -> None:
    tool(builder)
    if builder == "docker":
        request.getfixturevalue("docker_client")
    env = login(tmp_path, registry, builder, "credHelpers", WRONG_PASSWORD)
    try:
        pushed = acnbuild("image-push", COMPONENT, "--builder", builder, "--registry", registry.host,
                          cwd=monorepo_copy, env=env)  # fmt: skip
        assert pushed.returncode == 1, pushed.stderr[-3000:]  # the push action failed (its error says why)
        assert "Traceback" not in pushed.stderr
        assert f"the registry refused the credentials for {registry.host}" in pushed.stderr
        assert "retrying" not in pushed.stderr  # refused at once: no retry, ours or the engine's (50 s)

        listed = acnbuild("manifest", "--component", COMPONENT, "--platform", "linux/amd64", "--push",
                          "--registry", registry.host, cwd=monorepo_copy, env=env)  # fmt: skip
        assert listed.returncode == 2, listed.stderr[-3000:]
        assert f"the registry refused the credentials for {registry.host}" in listed.stderr
        assert "docker-credential-acntest" in listed.stderr
        assert_no_secret(registry, monorepo_copy, pushed.stdout, pushed.stderr, listed.stdout, listed.stderr)
    finally:
        remove_images(builder, env["VERSION"])
