"""``verify-reproducible``: build every target twice, each time in a fresh clone at its own path, and compare.

Each run is a new process in a new checkout (``git clone`` of this one, at the same commit, with the working
tree's changes copied over): no record, output or staged context of this checkout takes part, and the two paths
differ in length and depth, so a path leaking into a binary shows. The shared Go build cache is content-addressed
and keyed by every input, so it speeds the runs up without deciding what they produce.

Compared: every binary and installer (sha256), every image's SBOM (sha256) and, for builders that declare
reproducible images (buildah, podman), every image id. docker stamps build times into its images, so their ids
are not compared (their contents are, through the binaries and SBOMs); the report says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BuildFailed
from .model import ActionKind

# What each kind of action's result must repeat exactly.
COMPARED = {
    ActionKind.GO_BINARY: ("sha256",),
    ActionKind.INSTALLER: ("sha256",),
    ActionKind.IMAGE: ("sbom_sha256", "image_id"),
}


@dataclass(frozen=True)
class Row:
    action: str
    what: str
    first: str
    second: str

    @property
    def same(self) -> bool:
        return self.first == self.second


def compare(first: Sequence[Mapping[str, Any]], second: Sequence[Mapping[str, Any]], *, image_ids: bool) -> list[Row]:
    """One row per compared value of every action both runs report (``--json`` outcomes)."""
    rows = []
    by_id = {o["id"]: o for o in second}
    for outcome in first:
        fields = COMPARED.get(ActionKind(outcome["kind"]), ())
        other = by_id.get(outcome["id"])
        for name in fields:
            if name == "image_id" and not image_ids:
                continue
            a = str(outcome.get("result", {}).get(name, "missing"))
            b = str((other or {}).get("result", {}).get(name, "missing")) if other else "not built"
            rows.append(Row(outcome["id"], name, a, b))
    missing = sorted(set(by_id) - {o["id"] for o in first})
    rows += [Row(action, "built", "not built", "built") for action in missing]
    return rows


def clone(source: Path, target: Path) -> Path:
    """A clone of ``source`` at its HEAD, with its uncommitted and untracked (not ignored) files copied over."""

    def git(*args: str, cwd: Path = source) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BuildFailed(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
        return done.stdout

    head = git("rev-parse", "HEAD").strip()
    target.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "--quiet", "--no-checkout", str(source), str(target))
    git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", head, cwd=target)
    for name in git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0"):
        if name and (source / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)
    for name in git("ls-files", "-z", "--deleted").split("\0"):
        if name:
            (target / name).unlink(missing_ok=True)
    return target


def run_twice(root: Path, posargs: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``images`` with ``posargs`` in two fresh clones; the ``--json`` outcomes of each."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="acnbuild-reproducible-") as scratch:
        for place in ("a", "second-run/at/another/depth"):
            checkout = clone(root, Path(scratch) / place / root.name)
            env = {**os.environ, "PYTHONPATH": str(checkout / "build")}
            done = subprocess.run(
                [sys.executable, "-m", "acnbuild", "images", *posargs, "--json"],
                cwd=checkout, env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                tail = "\n".join(done.stderr.strip().splitlines()[-20:])
                raise BuildFailed(f"the build in {checkout} failed (exit {done.returncode}):\n{tail}")
            runs.append(json.loads(done.stdout))
    return runs[0], runs[1]
