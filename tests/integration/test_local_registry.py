"""``nox -s registry -- start --port P`` when another process holds P: refused (exit 2), never reported as ours.

The issue's defect: with P taken, start said the registry runs (exit 0; what answered was the other process),
its own docker-registry had died with "address already in use", and ``status`` then said nothing ran.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from acnbuild.errors import UserError
from acnbuild.registry import local

from tests.integration.conftest import acnbuild, require

pytestmark = pytest.mark.integration


class LooksLikeARegistry(BaseHTTPRequestHandler):
    """Someone else's server on the port, answering the registry ping as a registry would."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def taken_port() -> Iterator[int]:
    require(shutil.which("docker-registry") is not None, "docker-registry (Debian package docker-registry)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), LooksLikeARegistry)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_start_on_a_taken_port_is_refused_and_status_says_stopped(taken_port: int, tmp_path: Path) -> None:
    directory = tmp_path / "registry"
    started = acnbuild("registry", "start", "--port", str(taken_port), "--dir", str(directory))
    assert started.returncode == 2, started.stderr
    assert f"port {taken_port} on 127.0.0.1 is already in use by another process" in started.stderr
    assert "Traceback" not in started.stderr and started.stdout == ""
    status = acnbuild("registry", "status", "--dir", str(directory))
    assert (status.returncode, status.stdout.strip()) == (0, "stopped")
    assert local._answers(f"127.0.0.1:{taken_port}")  # the other process was left alone


def test_a_registry_that_loses_its_port_is_never_reported_as_ours(
    taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port is free when checked and taken when docker-registry binds it (another process was faster)."""
    monkeypatch.setattr(local, "_port_is_free", lambda port: True)
    directory = tmp_path / "registry"
    with pytest.raises(UserError, match="docker-registry exited at start") as info:
        local.start(directory, taken_port)
    assert "address already in use" in str(info.value)
    assert local.status(directory) is None
    assert not (directory / "registry.json").exists()


def test_start_status_stop_on_a_free_port(tmp_path: Path) -> None:
    require(shutil.which("docker-registry") is not None, "docker-registry (Debian package docker-registry)")
    directory = tmp_path / "registry"
    port = local.free_port()
    started = acnbuild("registry", "start", "--port", str(port), "--dir", str(directory))
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == f"127.0.0.1:{port}"
        assert acnbuild("registry", "status", "--dir", str(directory)).stdout.strip() == f"127.0.0.1:{port}"
        again = acnbuild("registry", "start", "--port", str(port), "--dir", str(directory))
        assert (again.returncode, again.stdout.strip()) == (0, f"127.0.0.1:{port}")  # ours: found, not refused
    finally:
        stopped = acnbuild("registry", "stop", "--dir", str(directory))
    assert stopped.returncode == 0 and "registry stopped" in stopped.stderr
    assert acnbuild("registry", "status", "--dir", str(directory)).stdout.strip() == "stopped"
