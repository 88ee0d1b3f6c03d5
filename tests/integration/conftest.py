"""Integration prerequisites: a real engine and tools. Missing ones skip locally and fail when CI=true."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

# testcontainers on these hosts: no ryuk (it would be pulled), talk to the engine on loopback.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TC_HOST", "127.0.0.1")

import docker
from acnbuild import discover, sessions
from acnbuild.engine.executor import Outcome
from acnbuild.go import toolchain
from acnbuild.references import Registry
from acnbuild.registry import local as localregistry
from acnbuild.registry import standin

from tests.conftest import REPO_ROOT

# Image names the tests build under; a separate value per checkout keeps concurrent test runs apart on one engine.
TEST_REGISTRY = os.environ.get("ACNBUILD_TEST_REGISTRY", "acntest.local/it")


def require(available: bool, what: str) -> None:
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required when CI=true (.ci/run installs and starts it)")
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except Exception:  # noqa: BLE001 - any failure means no usable engine
        client = None
    require(client is not None, "a Docker engine")
    assert client is not None
    yield client
    client.close()


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    def check(name: str) -> str:
        path = shutil.which(name)
        require(path is not None, name)
        assert path is not None
        return path

    return check


def build(names: Sequence[str], *args: str, root: Path = REPO_ROOT) -> list[Outcome]:
    """Build through the session code, exactly as `nox -s <c>-image -- args` does."""
    return sessions.build_images(["--registry", TEST_REGISTRY, *args], list(names), prog="test", root=root)


def image_outcomes(outcomes: Sequence[Outcome]) -> dict[str, Outcome]:
    return {o.action.details["component"]: o for o in outcomes if o.action.kind == "image"}


def acnbuild(
    *args: str, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m acnbuild` as the nox sessions do, capturing its output."""
    import sys

    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "build"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "acnbuild", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localregistry.LocalRegistry]:
    """A real CNCF distribution registry on loopback, for the session."""
    require(shutil.which("docker-registry") is not None, "docker-registry (Debian package docker-registry)")
    running = localregistry.start(tmp_path_factory.mktemp("registry"))
    yield running
    running.stop()


@pytest.fixture
def own_cache(tmp_path: Path) -> Path:
    """An ACNBUILD_CACHE of the test's own (its tmp/ is the test's to inspect) sharing the installed toolchain and
    the warm Go build cache of the user's cache."""
    shared = toolchain.ensure(REPO_ROOT).cache
    cache = tmp_path / "acnbuild-cache"
    cache.mkdir()
    for name in ("toolchains", "go-build"):
        (cache / name).symlink_to(shared / name)
    return cache


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[localregistry.LocalRegistry]:
    """A registry of the test's own, for a test that damages its storage (blobs are shared by every repository
    of a registry, so a corrupted blob in the session's registry would corrupt other tests' pushes)."""
    require(shutil.which("docker-registry") is not None, "docker-registry (Debian package docker-registry)")
    running = localregistry.start(tmp_path / "private-registry")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def windows_overrides(registry: localregistry.LocalRegistry) -> list[str]:
    """Stand-ins for the declared Windows bases in the loopback registry, as --base-override values."""
    require(shutil.which("buildah") is not None, "buildah")
    return standin.push_for_repository(discover.load_repository(REPO_ROOT), Registry.parse(registry.host))


def override_args(overrides: Sequence[str]) -> list[str]:
    return [f"--base-override={o}" for o in overrides]
