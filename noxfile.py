"""Session registration only; every session body lives in build/acnbuild (see docs/architecture.md).

Sessions come from one table (build/acnbuild/verbs.py) and the components found in components/*/BUILD.yaml. Each
runs the build system in one shared environment (.nox/_acnbuild), installed once per requirements/lock.txt, so no
session installs anything of its own. This file imports only the standard library and nox.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "build"))

from acnbuild import bootstrap  # noqa: E402  (standard library only)
from acnbuild.verbs import VERBS, Verb  # noqa: E402  (standard library only)

nox.needs_version = ">=2025.2.9"
COMPONENTS = sorted(p.parent.name for p in ROOT.glob("components/*/BUILD.yaml"))


def _register(verb: Verb, component: str | None) -> None:
    def session(s: nox.Session) -> None:
        """Run the verb in the shared environment; its exit code (2 for bad input) becomes nox's."""
        python = bootstrap.tool_python(ROOT)
        args = [verb.name, *([component] if component else []), *s.posargs]
        code = bootstrap.run([str(python), "-m", "acnbuild", *args], cwd=ROOT, env=bootstrap.tool_env(ROOT))
        if code:
            raise SystemExit(code)

    session.__doc__ = verb.doc.format(c=component)
    nox.session(name=verb.session_name(component), python=False)(session)


for _component in COMPONENTS:
    for _verb in VERBS:
        if _verb.per_component:
            _register(_verb, _component)
for _verb in VERBS:
    if not _verb.per_component:
        _register(_verb, None)
