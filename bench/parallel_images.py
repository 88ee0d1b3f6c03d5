"""Benchmark: `images` with every action re-run (records cleared, Go cache warm), serial against parallel.

Baseline: `-j 1`, one action at a time, like a Makefile's sequential `$(MAKE)` calls. Ours: the default pool
(one worker per core; compiles still one at a time since Go uses every core). Prints medians and the ratio.

    .nox/_acnbuild/bin/python bench/parallel_images.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(jobs: int) -> float:
    shutil.rmtree(ROOT / ".acnbuild" / "records", ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "build")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "acnbuild", "images", "-j", str(jobs)], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    run(os.cpu_count() or 2)  # warm the Go and BuildKit caches
    serial, parallel = [], []
    for _ in range(args.runs):
        serial.append(run(1))
        parallel.append(run(os.cpu_count() or 2))
    base, mine = statistics.median(serial), statistics.median(parallel)
    print(f"images, all actions re-run, {args.runs} runs each (median seconds), {os.cpu_count()} cores")
    print(f"  baseline -j 1 (sequential):    {base:.2f} s")
    print(f"  default pool -j {os.cpu_count()}:          {mine:.2f} s")
    print(f"  ratio baseline / parallel: {base / mine:.2f}x")


if __name__ == "__main__":
    main()
