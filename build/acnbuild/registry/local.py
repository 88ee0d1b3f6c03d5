"""A real registry on loopback (Debian's ``docker-registry``, the CNCF distribution) for users and tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .. import process
from ..atomic import atomic_write
from ..errors import UserError

CONFIG = """\
version: 0.1
log:
  level: {log_level}
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def htpasswd_auth(htpasswd: Path) -> str:
    """The ``auth:`` section for basic auth from an htpasswd file."""
    return f"auth:\n  htpasswd:\n    realm: acnbuild\n    path: {htpasswd}\n"


def token_auth(realm: str, service: str, issuer: str, root_bundle: Path) -> str:
    """The ``auth:`` section for the distribution token flow (bearer tokens signed by the bundle's key)."""
    return (
        f"auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n"
        f"    rootcertbundle: {root_bundle}\n"
    )


@dataclass(frozen=True)
class LocalRegistry:
    directory: Path
    port: int
    pid: int

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / "registry.log"

    def stop(self) -> None:
        stop(self.directory)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(
    directory: Path, port: int | None = None, htpasswd: Path | None = None, *, auth: str = "", log_level: str = "warn"
) -> LocalRegistry:
    """Start (or find running) a registry whose state lives in ``directory``; returns once it answers.

    ``auth`` is a whole ``auth:`` section (``htpasswd_auth``, ``token_auth``); ``htpasswd`` is the short form.
    """
    running = status(directory)
    if running is not None:
        return running
    binary = shutil.which("docker-registry")
    if binary is None:
        raise UserError("docker-registry is not installed", hint="apt-get install docker-registry")
    if port is not None and not _port_is_free(port):
        raise UserError(
            f"port {port} on 127.0.0.1 is already in use by another process",
            hint="pick another port (--port N), or stop what listens there",
        )
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    section = auth or (htpasswd_auth(htpasswd) if htpasswd else "")
    config = directory / "config.yml"
    config.write_text(CONFIG.format(storage=directory / "storage", port=port, log_level=log_level) + section)
    with open(directory / "registry.log", "ab") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    registry = LocalRegistry(directory, port, process.pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(registry.log.read_text(errors="replace").splitlines()[-3:])
            raise UserError(f"docker-registry exited at start:\n{tail}", hint=f"see {registry.log}")
        if _listens(process.pid, port) and _answers(registry.host):
            atomic_write(directory / "registry.json", json.dumps({"port": port, "pid": process.pid}))
            return registry
        time.sleep(0.05)
    process.kill()
    raise UserError(f"docker-registry did not answer on {registry.host} within 10 s", hint=f"see {registry.log}")


def status(directory: Path) -> LocalRegistry | None:
    try:
        state = json.loads((directory / "registry.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    registry = LocalRegistry(directory, state["port"], state["pid"])
    alive = process.is_alive(registry.pid) and _listens(registry.pid, registry.port) and _answers(registry.host)
    return registry if alive else None


def stop(directory: Path) -> bool:
    registry = status(directory)
    (directory / "registry.json").unlink(missing_ok=True)
    if registry is None:
        return False
    os.kill(registry.pid, signal.SIGTERM)
    for _ in range(100):
        if not process.is_alive(registry.pid):
            break
        time.sleep(0.05)
    return True


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds the socket listening on 127.0.0.1:``port`` (Linux ``/proc``).

    Answering on the port is not enough: another process may hold it, and then ours died with "address in use".
    """
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    wanted = f"0100007F:{port:04X}"  # 127.0.0.1 in /proc/net/tcp's little-endian hex
    for line in table:
        fields = line.split()
        if len(fields) > 9 and fields[1] == wanted and fields[3] == "0A" and f"socket:[{fields[9]}]" in inodes:
            return True  # state 0A: LISTEN
    return False


def _answers(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=1) as response:
            return response.status in (200, 401)
    except urllib.error.HTTPError as error:
        return error.code == 401
    except OSError:
        return False
