"""Benchmark: what a second `nox -s <c>-image` costs when nothing changed, against a Makefile-style rebuild.

Baseline (measured in the same run, same machine): what upstream's `make <c>-image` does every time: run the
compiler (warm Go cache) and the image build (warm BuildKit cache) again. Ours: the session's code path, which
fingerprints the inputs and skips both. Prints medians and the ratio; no assertions (machines are noisy).

    .nox/_acnbuild/bin/python bench/noop_rebuild.py [--component cns] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build"))

from acnbuild import discover, settings  # noqa: E402
from acnbuild.go import compile as gobuild  # noqa: E402
from acnbuild.go import toolchain  # noqa: E402
from acnbuild.image import builders  # noqa: E402
from acnbuild.paths import Layout  # noqa: E402
from acnbuild.platforms import Platform  # noqa: E402
from acnbuild.references import Registry  # noqa: E402
from acnbuild.targets import image_targets  # noqa: E402


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--component", default="cns")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    python = [sys.executable, "-m", "acnbuild"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "build")}
    subprocess.run([*python, "image", args.component], cwd=ROOT, env=env, check=True, capture_output=True)

    repo = discover.load_repository(ROOT)
    component = repo.component(args.component)
    platform = Platform("linux", settings.host_arch())
    target = image_targets(repo, component, platform, Registry.parse(settings.DEFAULT_REGISTRY))[0]
    chain = toolchain.ensure(ROOT)
    builder = builders.select("docker")
    assert isinstance(builder, builders.DockerBuilder)
    binary = component.binaries[0]
    job = gobuild.GoBuild(binary, platform, target.version)
    go_command = job.command(chain.go, Layout(ROOT).binary(binary.name, platform, directory=binary.directory))
    context = ROOT / ".acnbuild" / "contexts" / component.name / platform.tag_prefix
    docker_env = {**os.environ, "DOCKER_BUILDKIT": "1" if builder.mode == "buildkit" else "0"}
    image = component.os_image(platform)
    docker_command = [builder.cli, "build", "-q", "--platform", str(platform), "--target", image.target,
                      "-f", str(image.dockerfile), "-t", "bench/" + component.image, str(context)]  # fmt: skip
    if builder.mode == "buildx":
        docker_command[1:2] = ["buildx", "build", "--load"]

    baseline, ours = [], []
    for _ in range(args.runs):
        baseline.append(timed(go_command, chain.env(platform)) + timed(docker_command, docker_env))
        ours.append(timed([*python, "image", args.component], env))
    base, mine = statistics.median(baseline), statistics.median(ours)
    print(f"component {args.component}, {args.runs} runs each (median seconds)")
    print(f"  baseline (make-style: go build + docker build again): {base:.3f} s")
    print(f"  acnbuild no-op rebuild (fingerprints, skip):          {mine:.3f} s")
    print(f"  ratio baseline / acnbuild: {base / mine:.1f}x")


if __name__ == "__main__":
    main()
