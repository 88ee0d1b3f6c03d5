"""A real ``docker-credential-<name>`` program for tests, backed by a JSON file instead of a keychain.

It speaks the credential-helper protocol exactly as docker, the docker SDK and the containers tools expect:

- ``get``: the server URL on stdin; ``{"ServerURL", "Username", "Secret"}`` on stdout; on a miss
  ``credentials not found in native keychain`` on stdout and exit code 1.
- ``store``: ``{"ServerURL", "Username", "Secret"}`` on stdin; nothing on stdout.
- ``erase``: the server URL on stdin; a miss is the same not-found answer as ``get``.
- ``list``: ``{server URL: username}`` on stdout.

Each call is appended to ``<store>.calls`` as ``<action> <server URL>`` (never a secret), so tests can see
what the client asked for.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

NOT_FOUND = "credentials not found in native keychain"

PROGRAM = '''\
#!{python} -IS
"""docker-credential-{name}: a test credential helper keeping its logins in {store}."""
import json
import os
import sys

STORE = {store!r}
FAIL_WITH = {fail_with!r}
NOT_FOUND = {not_found!r}


def load():
    try:
        with open(STORE) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {{}}


def save(entries):
    temporary = STORE + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(entries, handle, indent=2)
    os.replace(temporary, STORE)


def record(action, server):
    with open(STORE + ".calls", "a") as handle:
        handle.write(f"{{action}} {{server}}\\n")


def answer(text, code=0):
    sys.stdout.write(text)
    sys.stdout.flush()
    sys.exit(code)


def main():
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    data = sys.stdin.read() if action in ("get", "store", "erase") else ""
    if FAIL_WITH is not None:
        answer(FAIL_WITH + "\\n", 1)
    entries = load()
    if action == "get":
        server = data.strip()
        record("get", server)
        if not server:
            answer("no credentials server URL\\n", 1)
        if server not in entries:
            answer(NOT_FOUND + "\\n", 1)
        entry = entries[server]
        answer(json.dumps({{"ServerURL": server, "Username": entry["Username"], "Secret": entry["Secret"]}}))
    if action == "store":
        try:
            login = json.loads(data)
            server, username, secret = login["ServerURL"], login["Username"], login["Secret"]
        except (ValueError, KeyError, TypeError):
            answer("the store input is not {{ServerURL, Username, Secret}} JSON\\n", 1)
        record("store", server)
        if not server:
            answer("no credentials server URL\\n", 1)
        entries[server] = {{"Username": username, "Secret": secret}}
        save(entries)
        answer("")
    if action == "erase":
        server = data.strip()
        record("erase", server)
        if server not in entries:
            answer(NOT_FOUND + "\\n", 1)
        del entries[server]
        save(entries)
        answer("")
    if action == "list":
        record("list", "")
        answer(json.dumps({{server: entry["Username"] for server, entry in entries.items()}}))
    if action == "version":
        answer("docker-credential-{name} (test helper) v0.0.1\\n")
    answer(f"Unknown credential action `{{action}}`\\n", 1)


main()
'''


@dataclass(frozen=True)
class CredentialHelper:
    """An installed helper: its program and the JSON file holding its logins."""

    name: str
    program: Path
    store: Path

    @property
    def directory(self) -> Path:
        return self.program.parent

    def logins(self) -> dict[str, dict[str, str]]:
        """{server URL: {"Username", "Secret"}} as the helper holds them now."""
        return json.loads(self.store.read_text()) if self.store.exists() else {}

    def calls(self) -> list[str]:
        """``<action> <server>`` for every call so far, oldest first."""
        path = Path(f"{self.store}.calls")
        return path.read_text().splitlines() if path.exists() else []

    def path_with_helper(self, path: str | None = None) -> str:
        """A PATH value with this helper's directory first."""
        rest = os.environ.get("PATH", os.defpath) if path is None else path
        return f"{self.directory}{os.pathsep}{rest}"


def install(
    directory: Path,
    name: str,
    logins: dict[str, tuple[str, str]] | None = None,
    *,
    fail_with: str | None = None,
) -> CredentialHelper:
    """Write ``directory/docker-credential-<name>`` (run by this interpreter) and its store, pre-filled with
    ``logins`` ({server URL: (username, secret)}). ``fail_with``: every call prints that and exits 1."""
    if " " in sys.executable:
        raise RuntimeError(f"the interpreter path {sys.executable!r} cannot stand in a #! line")
    directory.mkdir(parents=True, exist_ok=True)
    store = directory / f"{name}-store.json"
    entries = {server: {"Username": user, "Secret": secret} for server, (user, secret) in (logins or {}).items()}
    store.write_text(json.dumps(entries, indent=2))
    program = directory / f"docker-credential-{name}"
    program.write_text(
        PROGRAM.format(python=sys.executable, name=name, store=str(store), fail_with=fail_with, not_found=NOT_FOUND)
    )
    program.chmod(program.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return CredentialHelper(name, program, store)
