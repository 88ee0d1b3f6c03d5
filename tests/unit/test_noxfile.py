"""The sessions nox lists are discovered from BUILD.yaml and described in one line each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

VERBS = ("image", "image-name", "image-name-and-tag", "version", "binary", "binary-archive")
GLOBAL = {"images", "plan", "tests", "lint", "version", "revision", "binaries", "binary-archives", "manifest-archives"}


def test_nox_lists_every_component_verb_and_global_session() -> None:
    nox = Path(sys.executable).parent / "nox"
    result = subprocess.run([str(nox), "-l", "--json"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    sessions = {s["session"]: s["description"] for s in json.loads(result.stdout)}
    components = sorted(p.parent.name for p in REPO_ROOT.glob("components/*/BUILD.yaml"))
    expected = {f"{c}-{v}" for c in components for v in VERBS} | GLOBAL
    assert expected <= set(sessions)
    assert all(description and "\n" not in description for description in sessions.values())
