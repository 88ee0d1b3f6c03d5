"""The developer sessions: ``tests`` (pytest) and ``lint`` (ruff, mypy, import layers, workflows, Go)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from . import discover, report
from .errors import AcnBuildError, BuildFailed
from .go import checks as go_checks

BIN = Path(sys.executable).parent


def tests(posargs: Sequence[str]) -> int:
    """pytest over ``tests/`` (or the arguments given), in this process's environment."""
    return subprocess.call([sys.executable, "-m", "pytest", *(posargs or ["tests"])], cwd=discover.find_root())


def _lint_steps(root: Path) -> list[tuple[str, list[str]]]:
    steps = [
        ("ruff format", [sys.executable, "-m", "ruff", "format", "--check", "."]),
        ("ruff check", [sys.executable, "-m", "ruff", "check", "."]),
        ("mypy", [sys.executable, "-m", "mypy"]),
        ("import layers", [str(BIN / "lint-imports")]),
    ]
    workflows = sorted((root / ".github" / "workflows").glob("*.y*ml"))
    if workflows:
        steps.append(("actionlint", [str(BIN / "actionlint"), *map(str, workflows)]))
    return steps


def lint(posargs: Sequence[str]) -> int:
    root = discover.find_root()
    failed = []
    for name, command in _lint_steps(root):
        report.console.print(f"lint: {name}", style="dim")
        if subprocess.call(command, cwd=root) != 0:
            failed.append(name)
    report.console.print("lint: base image lock", style="dim")
    from .baselock import BaseLock

    try:
        lock = BaseLock.read(root)
        problems = discover.lock_problems(discover.load_repository(root, lock), lock)
    except AcnBuildError as error:
        problems = [str(error)]
    if problems:
        report.console.print("error: " + "\n".join(problems), style="bold red", markup=False)
        failed.append("base lock")
    try:
        go_checks.lint(root)
        report.console.print("go: gofmt and go vet are clean")
    except AcnBuildError as error:
        report.console.print(f"error: {error}", style="bold red", markup=False)
        failed.append("go")
    if failed:
        report.console.print(f"error: {BuildFailed('lint failed: ' + ', '.join(failed))}", style="bold red")
        return 1
    return 0
