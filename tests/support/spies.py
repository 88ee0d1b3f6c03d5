"""Listeners that only record who connected: stand-ins for an engine or a registry that must not be contacted."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Spy:
    """Accepts connections on a socket, records each one and closes it at once."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@contextmanager
def spy_registry() -> Iterator[tuple[str, Spy]]:
    """A TCP listener on loopback: ``(host:port, spy)``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    spy = Spy(sock)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}", spy
    finally:
        spy.close()


@contextmanager
def spy_engine(directory: Path) -> Iterator[tuple[str, Spy]]:
    """A unix socket where a Docker engine would be: ``(DOCKER_HOST value, spy)``."""
    path = directory / "docker.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(16)
    spy = Spy(sock)
    try:
        yield f"unix://{path}", spy
    finally:
        spy.close()


def snapshot(*roots: Path) -> dict[str, int]:
    """Every file under ``roots`` with its modification time, to prove nothing was written."""
    found = {}
    for root in roots:
        if root.exists():
            for path in root.rglob("*"):
                if path.is_file():
                    found[str(path)] = path.stat().st_mtime_ns
    return found
