"""Session registration only; every session body lives in build/acnbuild (see README, developer section).

Sessions are discovered from components/*/BUILD.yaml. Each runs the build system in one shared environment
(.nox/_acnbuild), installed once per requirements/lock.txt, so no session installs anything of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "build"))

from acnbuild import bootstrap  # noqa: E402  (standard library only)

nox.needs_version = ">=2025.2.9"
COMPONENTS = sorted(p.parent.name for p in ROOT.glob("components/*/BUILD.yaml"))


def _tool(*args: str, module: str = "acnbuild") -> None:
    """Run the shared environment's Python; its exit code (2 for bad input) becomes nox's."""
    python = bootstrap.tool_python(ROOT)
    code = subprocess.call([str(python), "-m", module, *args], cwd=ROOT, env=bootstrap.tool_env(ROOT))
    if code:
        raise SystemExit(code)


def _register(name: str, doc: str, *args: str) -> None:
    def session(s: nox.Session) -> None:
        _tool(*args, *s.posargs)

    session.__doc__ = doc
    nox.session(name=name, python=False)(session)


for _c in COMPONENTS:
    _register(f"{_c}-image", f"Build the {_c} image for PLATFORM (default linux/amd64).", "image", _c)
    _register(f"{_c}-image-name", f"Print the {_c} image name (registry/name).", "image-name", _c)
    _register(f"{_c}-image-name-and-tag", f"Print the {_c} image reference for PLATFORM.", "image-name-and-tag", _c)

_register("images", "Build every component's image for PLATFORM (those without it are left out).", "images")
_register(
    "windows-standin-bases",
    "Push stand-in Windows bases to a (loopback) registry; prints BASE_IMAGE_OVERRIDES.",
    "windows-standin-bases",
)
_register("registry", "Start/stop a local registry on loopback (-- start|stop|status [--port N]).", "registry")
_register("plan", "Show the actions a build would take and why (-- --json for machines).", "plan")


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Run unit and integration tests (real engine, registry, builders); pytest args after --."""
    _tool(*(session.posargs or ["tests"]), module="pytest")


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """Check Python (ruff format + lint) and Go (gofmt, go vet) with the pinned tools."""
    _tool("format", "--check", ".", module="ruff")
    _tool("check", ".", module="ruff")
    _tool("golint", module="acnbuild")
