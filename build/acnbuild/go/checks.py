"""Go checks with the pinned toolchain: gofmt and go vet over every module in the repository."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..errors import BuildFailed
from . import toolchain

SKIP_DIRS = {".git", ".nox", ".acnbuild", "output"}


def modules(root: Path) -> list[Path]:
    found = [p.parent for p in root.rglob("go.mod") if not SKIP_DIRS.intersection(p.relative_to(root).parts)]
    return sorted(found)


def _run(command: Sequence[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True, check=False)


def lint(root: Path) -> None:
    chain = toolchain.ensure(root)
    env = chain.env()
    gofmt = chain.goroot / "bin" / "gofmt"
    problems = []
    for module in modules(root):
        unformatted = _run([str(gofmt), "-l", "."], module, env).stdout.split()
        problems += [f"gofmt: {(module / f).relative_to(root)} is not formatted" for f in unformatted]
        vet = _run([str(chain.go), "vet", "./..."], module, env)
        if vet.returncode != 0:
            problems.append(f"go vet in {module.relative_to(root) or '.'}:\n{vet.stderr.strip()}")
    if problems:
        raise BuildFailed("\n".join(problems))


def test(root: Path, args: Sequence[str] = ()) -> str:
    """``go test`` in every module; returns the combined output, raises with it on failure."""
    chain = toolchain.ensure(root)
    outputs = []
    for module in modules(root):
        result = _run([str(chain.go), "test", *(args or ["./..."])], module, chain.env())
        outputs.append(result.stdout + result.stderr)
        if result.returncode != 0:
            raise BuildFailed(f"go test in {module.relative_to(root)} failed:\n{result.stdout}{result.stderr}")
    return "\n".join(outputs)
