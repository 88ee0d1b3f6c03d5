"""A real registry on loopback (Debian's ``docker-registry``, the CNCF distribution) for users and tests."""

from __future__ import annotations

import contextlib
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

from .errors import UserError

CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{auth}"""
AUTH = """\
auth:
  htpasswd:
    realm: acnbuild
    path: {htpasswd}
"""


@dataclass(frozen=True)
class LocalRegistry:
    directory: Path
    port: int
    pid: int

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop(self.directory)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(directory: Path, port: int | None = None, htpasswd: Path | None = None) -> LocalRegistry:
    """Start (or find running) a registry whose state lives in ``directory``; returns once it answers."""
    running = status(directory)
    if running is not None:
        return running
    binary = shutil.which("docker-registry")
    if binary is None:
        raise UserError("docker-registry is not installed", hint="apt-get install docker-registry")
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    auth = AUTH.format(htpasswd=htpasswd) if htpasswd else ""
    config = directory / "config.yml"
    config.write_text(CONFIG.format(storage=directory / "storage", port=port, auth=auth))
    with open(directory / "registry.log", "ab") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log, start_new_session=True)
    registry = LocalRegistry(directory, port, process.pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UserError(f"docker-registry exited at start; see {directory / 'registry.log'}")
        if _answers(registry.host):
            (directory / "registry.json").write_text(json.dumps({"port": port, "pid": process.pid}))
            return registry
        time.sleep(0.05)
    process.kill()
    raise UserError(f"docker-registry did not answer on {registry.host} within 10 s")


def status(directory: Path) -> LocalRegistry | None:
    try:
        state = json.loads((directory / "registry.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    registry = LocalRegistry(directory, state["port"], state["pid"])
    alive = _pid_alive(registry.pid) and _answers(registry.host)
    return registry if alive else None


def stop(directory: Path) -> bool:
    registry = status(directory)
    (directory / "registry.json").unlink(missing_ok=True)
    if registry is None:
        return False
    os.kill(registry.pid, signal.SIGTERM)
    for _ in range(100):
        if not _pid_alive(registry.pid):
            break
        time.sleep(0.05)
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):  # reap a zombie child of ours: it counts as gone
        os.waitpid(pid, os.WNOHANG)
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def _answers(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=1) as response:
            return response.status in (200, 401)
    except urllib.error.HTTPError as error:
        return error.code == 401
    except OSError:
        return False
