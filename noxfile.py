# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "nox==2026.10.20",
#   "PyYAML==6.0.3",
#   "jsonschema==4.26.0",
#   "rich==15.0.0",
#   "packaging==26.2",
# ]
# ///
"""Session registration only: every session body lives in build/acnbuild/sessions.py.

Sessions are discovered from components/*/BUILD.yaml. The script block above makes nox run this file in
an environment holding the build system's own dependencies (nox's script mode, .nox/_nox_script_mode).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent / "build"))

from acnbuild import sessions  # noqa: E402
from acnbuild.errors import UserError  # noqa: E402

nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_external_run = True

try:
    REPOSITORY = sessions.load(Path(__file__).resolve().parent)
except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(2) from None


def _register(name: str, doc: str, body: object, *args: str) -> None:
    def session(s: nox.Session) -> None:
        body(s, *args)  # type: ignore[operator]

    session.__doc__ = doc
    session.__name__ = name.replace("-", "_")
    nox.session(name=name, python=False, tags=["images"] if name.endswith("image") else [])(session)


for _component in REPOSITORY.components.values():
    _c, _image = _component.name, _component.image
    _register(f"{_c}-image", f"Build the {_image} image for PLATFORM (default linux/amd64).", sessions.image, _c)
    _register(f"{_c}-image-name", f"Print the {_image} image name (registry/name).", sessions.image_name, _c)
    _register(
        f"{_c}-image-name-and-tag",
        f"Print the {_image} image reference for PLATFORM (registry/name:os-arch-version).",
        sessions.image_name_and_tag,
        _c,
    )


@nox.session(python=False)
def images(session: nox.Session) -> None:
    """Build every component's image for PLATFORM (components without it are left out)."""
    sessions.images(session)


@nox.session(python=False)
def plan(session: nox.Session) -> None:
    """Show the actions a build would take and why (-- --json for machines)."""
    sessions.plan(session)


@nox.session(reuse_venv=True)
def tests(session: nox.Session) -> None:
    """Run unit and integration tests (real engine and registry); pytest args after --."""
    session.install("--require-hashes", "-r", "requirements/lock.txt")
    session.run("pytest", *(session.posargs or ["tests"]), env={"PYTHONHASHSEED": "0"})


@nox.session(reuse_venv=True)
def lint(session: nox.Session) -> None:
    """Check formatting and lint Python (ruff) and Go (gofmt, go vet with the pinned toolchain)."""
    session.install("--require-hashes", "-r", "requirements/lock.txt")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    session.run("python", "-m", "acnbuild.golint", env={"PYTHONPATH": "build"})
