"""Find the login a user already made for a registry, the way docker and the containers tools (podman, buildah,
skopeo) find it: auth files in a fixed order and, in each, a credential helper named for the registry, the
stored ``auths`` entry, then the default credential store.

The docker SDK does the file-entry decoding (``docker.auth``) and speaks the ``docker-credential-*`` protocol
(``docker.credentials.Store``). What it does not do, done here: the containers tools' auth files, the lookup
order (the SDK asks the store before ``auths`` and never tells a missing helper from a failing one), plain
``username``/``password`` entries, and an environment other than the process's own.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.auth
import docker.credentials
import docker.errors

from ..errors import UserError

HELPER_PREFIX = docker.credentials.PROGRAM_PREFIX
DOCKER_HUB = docker.auth.INDEX_NAME  # "docker.io"
DOCKER_HUB_SERVER = docker.auth.INDEX_URL  # "https://index.docker.io/v1/": docker's key for Docker Hub logins
DOCKER_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True, repr=False)
class Credential:
    """A login for one registry. ``secret`` is a password, or an OAuth2 refresh token when ``is_identity_token``."""

    username: str
    secret: str
    is_identity_token: bool = False
    source: str = field(default="", compare=False)  # where it was found, for messages (a file or a helper)

    def __repr__(self) -> str:
        kind = "identity token" if self.is_identity_token else "password"
        origin = f" from {self.source}" if self.source else ""
        return f"Credential(username={self.username!r}, secret=<{kind} hidden>{origin})"

    __str__ = __repr__


def resolve(registry: str, env: Mapping[str, str] | None = None) -> Credential | None:
    """The login stored for ``registry`` (``host[:port]``, a URL, or a Docker Hub alias); None when there is none.

    ``env`` stands in for the process environment (HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR,
    XDG_CONFIG_HOME, and PATH for the helpers). Raises UserError for an unreadable auth file, a malformed entry, or
    a credential helper that is missing or fails.
    """
    environment = os.environ if env is None else env
    host = registry_host(registry)
    for path in auth_files(environment):
        config = _load(path)
        if config is not None:
            found = _from_config(config, path, host, environment)
            if found is not None:
                return found
    return None


def registry_host(registry: str) -> str:
    """``registry`` as the host[:port] the auth files are keyed by; every Docker Hub spelling becomes docker.io."""
    host = docker.auth.resolve_index_name(registry.strip())  # drops a scheme and path; index.docker.io -> docker.io
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def auth_files(env: Mapping[str, str]) -> list[Path]:
    """Where logins are looked for, first match wins: containers' files, then docker's config."""
    home = Path(env.get("HOME") or Path.home())
    candidates = []
    if env.get("REGISTRY_AUTH_FILE"):
        candidates.append(Path(env["REGISTRY_AUTH_FILE"]))
    if env.get("XDG_RUNTIME_DIR"):
        candidates.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    candidates.append(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "containers" / "auth.json")
    candidates.append(Path(env.get("DOCKER_CONFIG") or home / ".docker") / "config.json")
    return list(dict.fromkeys(candidates))


def _load(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise UserError(f"cannot read the registry login file {path}: {error.strerror}") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(
            f"the registry login file {path} is not valid JSON (line {error.lineno})",
            hint="fix or remove the file, then log in again (docker login / podman login)",
        ) from None
    if not isinstance(config, dict):
        raise UserError(f"the registry login file {path} does not hold a JSON object", hint="fix or remove the file")
    return config


def _from_config(config: Mapping[str, Any], path: Path, host: str, env: Mapping[str, str]) -> Credential | None:
    helper = _matching(_section(config, "credHelpers", path), host)
    if helper is not None:  # a helper named for this registry is the only answer this file gives for it
        return _from_helper(str(helper), host, path, env)
    auths = _section(config, "auths", path)
    for key in _matching_keys(auths, host):
        found = _from_entry(auths[key], key, path, host)
        if found is not None:
            return found
    store = config.get("credsStore")
    return _from_helper(str(store), host, path, env) if store else None


def _section(config: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    section = config.get(name) or {}
    if not isinstance(section, dict):
        raise UserError(f"{name} in {path} is not a JSON object", hint="fix the file or log in again")
    return section


def _matching_keys(entries: Mapping[str, Any], host: str) -> Iterator[str]:
    """Keys naming ``host``: the exact key first, then spellings with a scheme or path (docker's legacy keys)."""
    if host in entries:
        yield host
    for key in entries:
        if key != host and _key_names(key, host):
            yield key


def _key_names(key: str, host: str) -> bool:
    if "://" not in key and "/" in key:
        return False  # containers' repository-scoped key (quay.io/org): not a login for the whole registry
    return registry_host(key) == host


def _matching(entries: Mapping[str, Any], host: str) -> Any:
    return next((entries[key] for key in _matching_keys(entries, host)), None)


def _from_entry(entry: Any, key: str, path: Path, host: str) -> Credential | None:
    if not isinstance(entry, dict):
        raise UserError(f"the login for {key} in {path} is not a JSON object", hint=f"log in again to {host}")
    present = {name: value for name, value in entry.items() if value}  # docker writes {} when a store holds it
    try:
        parsed = docker.auth.parse_auth({key: present}, raise_on_error=True)[key]
    except (ValueError, docker.errors.DockerException):
        raise UserError(
            f"the login for {key} in {path} is malformed (its auth is not base64 of user:password)",
            hint=f"log in again to {host} (docker login / podman login)",
        ) from None
    source = str(path)
    if "IdentityToken" in parsed:
        return Credential(docker.auth.TOKEN_USERNAME, parsed["IdentityToken"], is_identity_token=True, source=source)
    if parsed.get("username"):
        return Credential(parsed["username"], parsed["password"], source=source)
    # docker's SDK reads only "auth"; containers' files and hand-written configs may hold the two fields instead.
    if present.get("username") and present.get("password"):
        return Credential(str(present["username"]), str(present["password"]), source=source)
    return None


def _helper_servers(host: str) -> list[str]:
    """What to ask a helper for: docker's own key first (the URL for Docker Hub), then the other spelling."""
    if host == DOCKER_HUB:
        return [DOCKER_HUB_SERVER, DOCKER_HUB]
    return [host, f"https://{host}"]


def _from_helper(name: str, host: str, path: Path, env: Mapping[str, str]) -> Credential | None:
    program = HELPER_PREFIX + name
    executable = shutil.which(program, path=env.get("PATH", os.defpath))
    if executable is None:
        raise UserError(
            f"{path} names the credential helper {program} for {host}, but {program} is not on PATH",
            hint=f"install {program}, or remove it from credHelpers/credsStore in {path} and log in again",
        )
    with warnings.catch_warnings():  # the SDK warns when the program is not on *its* PATH; we looked it up above
        warnings.simplefilter("ignore")
        store = docker.credentials.Store(name, environment=dict(env))
    store.exe = executable
    source = f"credential helper {program} ({path})"
    for server in _helper_servers(host):
        try:
            answer = store.get(server)
        except docker.credentials.CredentialsNotFound:
            continue
        except docker.credentials.StoreError as error:
            raise UserError(
                f"the credential helper {program} failed for {host}: {_first_line(error)}",
                hint=f"check that `{program} get` works for {server}, or log in again (docker login {host})",
            ) from None
        except (ValueError, KeyError, TypeError):
            raise UserError(
                f"the credential helper {program} gave an answer for {host} that is not the helper protocol's JSON",
                hint=f"check or reinstall {program}",
            ) from None
        username, secret = str(answer.get("Username", "")), str(answer.get("Secret", ""))
        if username == docker.auth.TOKEN_USERNAME:
            return Credential(username, secret, is_identity_token=True, source=source)
        return Credential(username, secret, source=source)
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
