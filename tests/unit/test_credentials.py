"""Finding a user's registry login: auth files in docker's and the containers tools' order, credential helpers
(a real ``docker-credential-*`` program on PATH), and secrets that never show in any text."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker.credentials
import pytest
from acnbuild.errors import UserError
from acnbuild.registry.credentials import DOCKER_HUB_SERVER, Credential, auth_files, resolve

from tests.support import credential_helper

HELPER_SECRET = "helper-Secret-7f3a"
STORE_SECRET = "store-Secret-91c2"
FILE_SECRET = "file-Secret-4b8e"
OTHER_SECRET = "other-Secret-0d6c"
IDENTITY_TOKEN = "identity-Token-e5a9"
SECRETS = (HELPER_SECRET, STORE_SECRET, FILE_SECRET, OTHER_SECRET, IDENTITY_TOKEN)


def b64(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
            assert base64.b64encode(secret.encode()).decode()[:12] not in text


@pytest.fixture(autouse=True)
def no_secret_in_output(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Whatever a test did, neither this process nor a helper it ran printed a secret."""
    yield
    out, err = capfd.readouterr()
    assert_no_secret(out, err)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def env(home: Path, tmp_path: Path) -> dict[str, str]:
    """A clean environment: no login anywhere, the helpers' directory first on PATH."""
    return {"HOME": str(home), "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}"}


def write_json(path: Path, content: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def docker_config(home: Path, content: object) -> Path:
    return write_json(home / ".docker" / "config.json", content)


# --- credential helpers -----------------------------------------------------------------------------------------


def test_cred_helpers_entry_is_asked_before_the_auths_entry(tmp_path: Path, home: Path, env: dict[str, str]) -> None:
    acr = credential_helper.install(tmp_path / "bin", "acr", {"acn.azurecr.io": ("00000000-0000", HELPER_SECRET)})
    docker_config(
        home,
        {"credHelpers": {"acn.azurecr.io": "acr"}, "auths": {"acn.azurecr.io": {"auth": b64("stale", OTHER_SECRET)}}},
    )
    found = resolve("acn.azurecr.io", env)
    assert found == Credential("00000000-0000", HELPER_SECRET)
    assert not found.is_identity_token
    assert "docker-credential-acr" in found.source
    assert acr.calls() == ["get acn.azurecr.io"]


def test_creds_store_is_the_fallback_after_auths(tmp_path: Path, home: Path, env: dict[str, str]) -> None:
    store = credential_helper.install(tmp_path / "bin", "desktop", {"b.example:5000": ("bob", STORE_SECRET)})
    docker_config(
        home,
        {
            "credsStore": "desktop",
            "auths": {"a.example": {"auth": b64("alice", FILE_SECRET)}, "b.example:5000": {}},  # {}: docker login's
        },
    )
    assert resolve("a.example", env) == Credential("alice", FILE_SECRET)
    assert store.calls() == []  # an auths entry answers without running the store
    assert resolve("b.example:5000", env) == Credential("bob", STORE_SECRET)
    assert store.calls() == ["get b.example:5000"]


def test_a_helper_holding_an_identity_token(tmp_path: Path, home: Path, env: dict[str, str]) -> None:
    credential_helper.install(tmp_path / "bin", "desktop", {"reg.example": ("<token>", IDENTITY_TOKEN)})
    docker_config(home, {"credsStore": "desktop"})
    found = resolve("reg.example", env)
    assert found is not None and found.is_identity_token and found.secret == IDENTITY_TOKEN


def test_a_helper_login_stored_with_a_scheme_is_found(tmp_path: Path, home: Path, env: dict[str, str]) -> None:
    store = credential_helper.install(tmp_path / "bin", "pass", {"https://reg.example": ("carol", STORE_SECRET)})
    docker_config(home, {"credsStore": "pass"})
    assert resolve("reg.example", env) == Credential("carol", STORE_SECRET)
    assert store.calls() == ["get reg.example", "get https://reg.example"]


def test_helper_not_found_means_no_login_here_and_the_search_goes_on(
    tmp_path: Path, home: Path, env: dict[str, str]
) -> None:
    empty = credential_helper.install(tmp_path / "bin", "empty")
    auth_file = write_json(tmp_path / "auth.json", {"credHelpers": {"reg.example": "empty"}})
    docker_config(home, {"auths": {"reg.example": {"auth": b64("dave", FILE_SECRET)}}})
    assert resolve("reg.example", {**env, "REGISTRY_AUTH_FILE": str(auth_file)}) == Credential("dave", FILE_SECRET)
    assert empty.calls() == ["get reg.example", "get https://reg.example"]
    assert resolve("elsewhere.example", env) is None


def test_a_missing_helper_is_a_clear_error(home: Path, env: dict[str, str]) -> None:
    config = docker_config(home, {"credHelpers": {"acn.azurecr.io": "acr-missing"}})
    with pytest.raises(UserError) as info:
        resolve("acn.azurecr.io", env)
    text = str(info.value)
    assert "docker-credential-acr-missing" in text and "acn.azurecr.io" in text and str(config) in text
    assert info.value.hint is not None and "install docker-credential-acr-missing" in info.value.hint


def test_a_failing_helper_is_a_clear_error(tmp_path: Path, home: Path, env: dict[str, str]) -> None:
    credential_helper.install(tmp_path / "bin", "broken", fail_with="error getting credentials - keychain locked")
    docker_config(home, {"credsStore": "broken"})
    with pytest.raises(UserError) as info:
        resolve("reg.example", env)
    text = str(info.value)
    assert "docker-credential-broken" in text and "reg.example" in text and "keychain locked" in text
    assert info.value.hint is not None and "log in again" in info.value.hint


# --- auths entries and files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"auth": b64("erin", FILE_SECRET)}, Credential("erin", FILE_SECRET)),
        ({"username": "erin", "password": FILE_SECRET}, Credential("erin", FILE_SECRET)),
        ({"auth": b64("erin", ""), "identitytoken": IDENTITY_TOKEN}, Credential("<token>", IDENTITY_TOKEN, True)),
        ({"identitytoken": IDENTITY_TOKEN}, Credential("<token>", IDENTITY_TOKEN, True)),
        ({}, None),
        ({"auth": ""}, None),
    ],
    ids=["auth", "username-password", "identitytoken-with-auth", "identitytoken", "empty", "empty-auth"],
)
def test_auths_entry_forms(home: Path, env: dict[str, str], entry: dict[str, str], expected: Credential | None) -> None:
    docker_config(home, {"auths": {"reg.example": entry}})
    found = resolve("reg.example", env)
    assert found == expected
    if found is not None:
        assert found.is_identity_token == expected.is_identity_token  # type: ignore[union-attr]
        assert found.source == str(home / ".docker" / "config.json")


def test_file_order_registry_auth_file_then_containers_then_docker(
    tmp_path: Path, home: Path, env: dict[str, str]
) -> None:
    runtime, config_home, docker_dir = tmp_path / "run", tmp_path / "xdg-config", tmp_path / "docker-config"
    full_env = {
        **env,
        "REGISTRY_AUTH_FILE": str(tmp_path / "explicit.json"),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(config_home),
        "DOCKER_CONFIG": str(docker_dir),
    }
    files = [
        tmp_path / "explicit.json",
        runtime / "containers" / "auth.json",
        config_home / "containers" / "auth.json",
        docker_dir / "config.json",
    ]
    assert auth_files(full_env) == files
    for index, path in enumerate(files):
        write_json(path, {"auths": {"reg.example": {"auth": b64(f"user{index}", FILE_SECRET)}}})
    for index, path in enumerate(files):
        found = resolve("reg.example", full_env)
        assert found is not None and found.username == f"user{index}" and found.source == str(path)
        path.unlink()
    assert resolve("reg.example", full_env) is None


def test_default_files_are_under_home(home: Path, env: dict[str, str]) -> None:
    assert auth_files(env) == [home / ".config" / "containers" / "auth.json", home / ".docker" / "config.json"]
    write_json(home / ".config" / "containers" / "auth.json", {"auths": {"quay.io": {"auth": b64("f", FILE_SECRET)}}})
    assert resolve("quay.io", env) == Credential("f", FILE_SECRET)


@pytest.mark.parametrize("key", ["https://index.docker.io/v1/", "docker.io", "index.docker.io"])
@pytest.mark.parametrize("registry", ["docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_SERVER])
def test_docker_hub_key_forms(home: Path, env: dict[str, str], key: str, registry: str) -> None:
    docker_config(home, {"auths": {key: {"auth": b64("hubuser", FILE_SECRET)}}})
    assert resolve(registry, env) == Credential("hubuser", FILE_SECRET)


def test_docker_hub_through_a_helper_uses_dockers_url_key(tmp_path: Path, home: Path, env: dict[str, str]) -> None:
    hub = credential_helper.install(tmp_path / "bin", "hub", {DOCKER_HUB_SERVER: ("hubuser", HELPER_SECRET)})
    docker_config(home, {"credHelpers": {DOCKER_HUB_SERVER: "hub"}})
    assert resolve("docker.io", env) == Credential("hubuser", HELPER_SECRET)
    assert hub.calls() == [f"get {DOCKER_HUB_SERVER}"]


@pytest.mark.parametrize(
    ("key", "matches"),
    [
        ("reg.example:5000", True),
        ("https://reg.example:5000", True),
        ("http://reg.example:5000/v2/", True),
        ("reg.example:5000/team", False),  # containers' repository-scoped login, not one for the whole registry
        ("reg.example", False),
        ("other.example:5000", False),
    ],
)
def test_keys_match_with_and_without_scheme(home: Path, env: dict[str, str], key: str, matches: bool) -> None:
    docker_config(home, {"auths": {key: {"auth": b64("g", FILE_SECRET)}}})
    assert (resolve("reg.example:5000", env) is not None) is matches
    assert (resolve("https://reg.example:5000/", env) is not None) is matches


def test_an_exact_key_wins_over_a_legacy_spelling(home: Path, env: dict[str, str]) -> None:
    docker_config(
        home,
        {
            "auths": {
                "https://reg.example": {"auth": b64("legacy", OTHER_SECRET)},
                "reg.example": {"auth": b64("exact", FILE_SECRET)},
            }
        },
    )
    assert resolve("reg.example", env) == Credential("exact", FILE_SECRET)


# --- errors and secrets -----------------------------------------------------------------------------------------


def test_a_malformed_auth_is_a_clear_error_without_the_secret(home: Path, env: dict[str, str]) -> None:
    broken = base64.b64encode(f"no-colon-{FILE_SECRET}".encode()).decode()
    config = docker_config(home, {"auths": {"reg.example": {"auth": broken}}})
    with pytest.raises(UserError) as info:
        resolve("reg.example", env)
    assert "reg.example" in str(info.value) and str(config) in str(info.value)
    assert broken not in str(info.value) and broken not in repr(info.value)
    assert_no_secret(str(info.value), repr(info.value))


def test_an_unreadable_file_is_a_clear_error(home: Path, env: dict[str, str]) -> None:
    config = home / ".docker" / "config.json"
    config.parent.mkdir()
    config.write_text('{"auths": {"reg.example": {"auth": "' + b64("h", FILE_SECRET))  # cut short
    with pytest.raises(UserError, match="not valid JSON") as info:
        resolve("reg.example", env)
    assert str(config) in str(info.value)
    assert_no_secret(str(info.value))


def test_secrets_never_show_in_repr_or_str() -> None:
    for credential in (Credential("u", FILE_SECRET, source="/x"), Credential("<token>", IDENTITY_TOKEN, True)):
        texts = [repr(credential), str(credential), f"{credential}", f"{credential!r}", repr([credential])]
        assert_no_secret(*texts)
        assert all("hidden" in text for text in texts)
    assert "identity token" in repr(Credential("<token>", IDENTITY_TOKEN, True))


# --- the test helper program speaks the protocol -----------------------------------------------------------------


def test_helper_program_protocol(tmp_path: Path) -> None:
    installed = credential_helper.install(tmp_path / "bin", "proto", {"a.example": ("ann", HELPER_SECRET)})

    def call(action: str, data: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([installed.program, action], input=data, capture_output=True, text=True, check=False)

    got = call("get", "a.example")
    assert got.returncode == 0
    assert json.loads(got.stdout) == {"ServerURL": "a.example", "Username": "ann", "Secret": HELPER_SECRET}
    miss = call("get", "b.example")
    assert (miss.returncode, miss.stdout.strip()) == (1, "credentials not found in native keychain")
    stored = call("store", json.dumps({"ServerURL": "b.example", "Username": "ben", "Secret": OTHER_SECRET}))
    assert (stored.returncode, stored.stdout) == (0, "")
    assert json.loads(call("list").stdout) == {"a.example": "ann", "b.example": "ben"}
    assert call("erase", "b.example").returncode == 0
    assert call("erase", "b.example").stdout.strip() == "credentials not found in native keychain"
    assert installed.logins() == {"a.example": {"Username": "ann", "Secret": HELPER_SECRET}}
    unknown = call("frobnicate")
    assert unknown.returncode == 1 and "Unknown credential action" in unknown.stdout


def test_helper_program_works_with_the_docker_sdk_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed = credential_helper.install(tmp_path / "bin", "sdk")
    monkeypatch.setenv("PATH", installed.path_with_helper())
    store = docker.credentials.Store("sdk")
    store.store("c.example", "cat", STORE_SECRET)
    assert store.get("c.example")["Secret"] == STORE_SECRET
    assert store.list() == {"c.example": "cat"}
    store.erase("c.example")
    with pytest.raises(docker.credentials.CredentialsNotFound):
        store.get("c.example")
    assert installed.calls() == ["store c.example", "get c.example", "list ", "erase c.example", "get c.example"]
