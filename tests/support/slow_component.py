"""Make a component of a monorepo copy slow to build, so a test can interrupt it in the middle of a step.

``slower_compile`` adds a Go file with thousands of closures (a few seconds of real compiling, never in the Go build
cache: its content is new each time); ``bigger_image`` adds a large random file the image COPYs (seconds of
context transfer, layer writing and pushing).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

COMPONENT = "ipv6-hp-bpf"  # Linux only, one binary, no installer: the smallest plan
PAYLOAD = "payload.bin"


def component_dir(root: Path) -> Path:
    return root / "components" / COMPONENT


def slower_compile(root: Path, closures: int = 4000) -> Path:
    seed = secrets.randbelow(10**9)
    lines = [
        "package main",
        "",
        "// slowTable only makes this package take seconds to compile (tests).",
        "var slowTable = []func() int{",
    ]
    lines += [
        f"\tfunc() int {{ x := {seed + i}; for j := 0; j < {i % 7 + 1}; j++ {{ x = x*31 + j }}; return x }},"
        for i in range(closures)
    ]
    lines.append("}")
    path = component_dir(root) / "cmd" / COMPONENT / "slow_table.go"
    path.write_text("\n".join(lines) + "\n")
    return path


def bigger_image(root: Path, megabytes: int = 300) -> Path:
    directory = component_dir(root)
    payload = directory / PAYLOAD
    with open(payload, "wb") as handle:
        for _ in range(megabytes):
            handle.write(os.urandom(1 << 20))
    build_file = directory / "BUILD.yaml"
    build_file.write_text(build_file.read_text() + f"files: [{PAYLOAD}]\n")
    dockerfile = directory / "linux.Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + f"COPY files/{PAYLOAD} /{PAYLOAD}\n")
    return payload
