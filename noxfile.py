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


COMPONENT_SESSIONS = {
    "image": "Build the {c} image for PLATFORM (default linux/amd64).",
    "image-name": "Print the {c} image name (registry/name).",
    "image-name-and-tag": "Print the {c} image reference for PLATFORM.",
    "image-push": "Build if needed, push the {c} image for PLATFORM, verify its digest in the registry.",
    "image-pull": "Pull the {c} image for PLATFORM.",
    "manifest-build": "Assemble the {c} manifest list from pushed platform images (output/manifests/).",
    "manifest-push": "Assemble, push and verify the {c} manifest list <registry>/<image>:<version>.",
    "manifest-archive": "Save the {c} manifest list with its images as output/images/<image>-<version>.tar.",
}
GLOBAL_SESSIONS = {
    "images": "Build every component's image for PLATFORM (those without it are left out).",
    "manifest": "Build (with --push, publish) lists: -- [--component C] [--platform P] [--append] [--push].",
    "plan": "Show the actions a build would take and why (-- --json for machines).",
    "registry": "Start/stop a local registry on loopback (-- start|stop|status [--port N]).",
    "windows-standin-bases": "Push stand-in Windows bases to a loopback registry; prints BASE_IMAGE_OVERRIDES.",
    "qemu-user-static": "Register arm64 emulation (Debian qemu-user-static + binfmt_misc); needs root.",
}
for _c in COMPONENTS:
    for _verb, _doc in COMPONENT_SESSIONS.items():
        _register(f"{_c}-{_verb}", _doc.format(c=_c), _verb, _c)
for _name, _doc in GLOBAL_SESSIONS.items():
    _register(_name, _doc, _name)


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Run unit and integration tests (real engine, registry, builders); pytest args after --."""
    _tool(*(session.posargs or ["tests"]), module="pytest")


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """Check Python (ruff format + lint, mypy) and Go (gofmt, go vet) with the pinned tools."""
    _tool("format", "--check", ".", module="ruff")
    _tool("check", ".", module="ruff")
    _tool(module="mypy")
    _tool("golint", module="acnbuild")
