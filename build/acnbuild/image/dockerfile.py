"""Dockerfile checks: every FROM is a build stage, the BASE_IMAGE argument, scratch, or pinned by digest."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UserError

_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<stage>\S+))?", re.IGNORECASE)
_PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")
BASE_ARGUMENT = "BASE_IMAGE"


_RUN = re.compile(r"^\s*RUN\s", re.IGNORECASE)


def runs_commands(dockerfile: Path) -> bool:
    """Does building this Dockerfile execute anything (a RUN instruction)? COPY-only files build for any
    architecture without emulation or a native runner."""
    return any(_RUN.match(line) for line in dockerfile.read_text().splitlines())


def stages(dockerfile: Path) -> list[str]:
    return [m.group("stage") for m in map(_FROM.match, dockerfile.read_text().splitlines()) if m and m.group("stage")]


def check_pinned(dockerfile: Path, display: str) -> None:
    known_stages: set[str] = set()
    for number, line in enumerate(dockerfile.read_text().splitlines(), start=1):
        match = _FROM.match(line)
        if not match:
            continue
        image = match.group("image")
        allowed = (
            image in (f"${BASE_ARGUMENT}", f"${{{BASE_ARGUMENT}}}", "scratch")
            or image.lower() in known_stages
            or _PINNED.search(image)
        )
        if not allowed:
            raise UserError(
                f"{display}:{number}: FROM {image} is a floating reference",
                hint=f"use FROM ${{{BASE_ARGUMENT}}} (pinned in BUILD.yaml `images.<os>.base`), "
                "scratch, an earlier stage, or name@sha256:<digest>",
            )
        if match.group("stage"):
            known_stages.add(match.group("stage").lower())


def require_target(dockerfile: Path, target: str, display: str) -> None:
    if target.lower() not in {s.lower() for s in stages(dockerfile)}:
        raise UserError(
            f"{display}: has no stage named {target!r} (stages: {', '.join(stages(dockerfile)) or 'none'})",
            hint=f"add `FROM ... AS {target}` or fix `target` in BUILD.yaml",
        )
