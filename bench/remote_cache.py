"""Benchmark: a second CI runner, cold, with a warm remote cache, against the same runner with no remote cache.

    .nox/_acnbuild/bin/python bench/remote_cache.py [--runs 3] [--platform linux/amd64] [--builder docker]

A runner is a fresh clone of this checkout's HEAD with a fresh ``ACNBUILD_CACHE`` (the pinned toolchain
hard-linked in, an empty Go build cache) and none of its images in the builder's store. A first runner fills a
remote cache (a real registry on loopback) and is not timed; then, per run, one cold runner builds ``nox -s images``
without a remote cache and one with it (``ACNBUILD_REMOTE_CACHE_MODE=read``, as an untrusted runner would).
Prints medians and the ratio; the remote runs' JSON reports must show no action built. ``bench/scenarios.py``
runs the same measurement as its ``remote`` scenario. Machines are noisy: read
the ratio. Everything it made (clones, caches, images, the registry) is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build"))

import systems  # noqa: E402
from acnbuild.go import toolchain  # noqa: E402
from acnbuild.paths import user_cache  # noqa: E402
from acnbuild.registry import local  # noqa: E402

REGISTRY = "acnbench.local/remote"
SCRUBBED = ("PLATFORM", "PLATFORMS", "GOOS", "GOARCH", "VERSION", "IMAGE_REGISTRY", "CONTAINER_BUILDER",
            "ACNBUILD_CACHE", "ACNBUILD_REMOTE_CACHE", "ACNBUILD_REMOTE_CACHE_MODE", "SOURCE_DATE_EPOCH")  # fmt: skip


class Runner:
    def __init__(self, work: Path, name: str, toolchain_dir: Path) -> None:
        self.checkout = work / name / "checkout"
        self.cache = work / name / "cache"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(self.checkout)], check=True, capture_output=True)
        (self.checkout / ".nox").symlink_to(ROOT / ".nox")
        shutil.copytree(toolchain_dir, self.cache / "toolchains" / toolchain_dir.name, copy_function=os.link,
                        symlinks=True)  # fmt: skip

    def build(
        self, nox: str, platform: str, builder: str, remote: str | None, mode: str = "read"
    ) -> tuple[float, dict[str, int]]:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.endswith("_VERSION")}
        env.update(
            PLATFORM=platform, IMAGE_REGISTRY=REGISTRY, CONTAINER_BUILDER=builder, ACNBUILD_CACHE=str(self.cache)
        )
        if remote:
            env.update(ACNBUILD_REMOTE_CACHE=remote, ACNBUILD_REMOTE_CACHE_MODE=mode)
        report = self.checkout.parent / "report.json"
        start = time.perf_counter()
        result = subprocess.run([nox, "-s", "images", "--", "--report", str(report)], cwd=self.checkout, env=env,
                                capture_output=True, text=True, check=False)  # fmt: skip
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"error: nox -s images failed in {self.checkout}:\n{result.stderr[-3000:]}")
        return seconds, json.loads(report.read_text())["counts"]


def remove_images(builder: str) -> None:
    """Our bench images, so every runner starts without them (never anything else)."""
    if builder == "docker":
        listed = subprocess.run(
            ["docker", "images", "--filter", f"reference={REGISTRY}/*", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if listed:  # by name only: an image goes when its last name does, and other names are never touched
            subprocess.run(["docker", "rmi", *listed], capture_output=True, check=False)
    else:
        listed = subprocess.run([builder, "images", "--format", "{{.Name}}:{{.Tag}}"], capture_output=True, text=True,
                                check=False).stdout.split()  # fmt: skip
        ours = [name for name in listed if name.startswith(REGISTRY + "/")]
        if ours:
            subprocess.run([builder, "rmi", *ours], capture_output=True, check=False)


@dataclass
class RemoteCacheRuns:
    """Seconds of cold runners without and with a warm remote cache, and what the remote runs' reports counted."""

    without: list[float] = field(default_factory=list)
    with_cache: list[float] = field(default_factory=list)
    counts: list[dict[str, int]] = field(default_factory=list)


def measure(runs: int, platform: str, builder: str, nox: str, say: Callable[[str], None] = print) -> RemoteCacheRuns:
    """A first runner fills a fresh remote cache (not timed); then, per run, a cold runner without it and one with
    it (read-only). Everything it made (clones, caches, images, the registry) is removed at the end."""
    chain = toolchain.ensure(ROOT)
    toolchain_dir = chain.goroot.parent
    assert toolchain_dir.parent == user_cache() / "toolchains"
    work = Path(tempfile.mkdtemp(prefix="acnbench-remote-"))
    registry = local.start(work / "registry")
    cache = f"{registry.host}/acnbuild-cache-{uuid.uuid4().hex[:8]}"
    measured = RemoteCacheRuns()
    try:
        remove_images(builder)
        first = Runner(work, "first", toolchain_dir)
        fill_seconds, fill_counts = first.build(nox, platform, builder, cache, mode="readwrite")
        say(f"remote cache: first runner (fills {cache}): {fill_seconds:.1f} s {fill_counts}")
        for run in range(runs):
            remove_images(builder)
            seconds, _ = Runner(work, f"cold-{run}", toolchain_dir).build(nox, platform, builder, None)
            measured.without.append(seconds)
            remove_images(builder)
            seconds, found = Runner(work, f"remote-{run}", toolchain_dir).build(nox, platform, builder, cache)
            measured.with_cache.append(seconds)
            measured.counts.append(found)
            if found.get("built"):
                raise SystemExit(f"error: a runner with a warm remote cache built something: {found}")
            say(f"remote cache run {run + 1}: no remote cache {measured.without[-1]:.1f} s, warm remote cache "
                f"{seconds:.1f} s {found}")  # fmt: skip
    finally:
        remove_images(builder)
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--platform", default="linux/amd64")
    parser.add_argument("--builder", default="docker")
    args = parser.parse_args()
    measured = measure(args.runs, args.platform, args.builder, systems.find_nox(None))
    base, ours = statistics.median(measured.without), statistics.median(measured.with_cache)
    print(f"\n{args.platform}, {args.builder}, {args.runs} runs each, {os.cpu_count()} CPUs (median seconds)")
    print(f"  cold runner, no remote cache:    {base:.2f} s")
    print(
        f"  cold runner, warm remote cache:  {ours:.2f} s   (built: {sum(c.get('built', 0) for c in measured.counts)})"
    )
    print(f"  ratio no cache / remote cache:   {base / ours:.1f}x")


if __name__ == "__main__":
    main()
