"""Our build against two Dockerfile baselines, in the same run: one table of medians and ratios.

    .nox/_acnbuild/bin/python bench/scenarios.py [--runs 3] [--matrix] [--only cold,noop,edit,remote,floor]
                                                 [--components cns,...] [--prune-build-cache]

Scenarios, for every image of the selected components on linux/amd64 (``--matrix``: also linux/arm64 and
windows/amd64, each component where it ships):
  cold   empty caches (see bench/systems.py for what that means for each build)
  noop   the same build again, nothing changed
  edit   a comment appended to components/cns/cmd/azure-cns/main.go (reverted afterwards)
  remote a second CI runner, cold, with a warm remote cache, against the same cold runner with none
         (linux/amd64, docker, all components; bench/remote_cache.py)
  floor  the no-op floor: a no-op ``nox -s cns-image`` and ``nox -s images`` against an empty session, which
         nox cannot express without adding a session to the noxfile, so it is measured as
         ``nox --version`` (nox's own start-up) + ``.nox/_acnbuild/bin/python -c pass`` (the interpreter every
         session starts): the least any session can cost. ``nox -s cns-image-name`` (loads the repository,
         prints a name) is shown too: the cost of a session that does real but trivial work.
Baselines (bench/baselines.py): upstream-style (``COPY . .``, ``go build -a``) and well-written (BuildKit cache
mounts, narrow COPYs). Everything runs in temporary clones of this checkout, which is never modified; images,
containers, build-cache records and cache mounts the run made are removed at the end. Machines are noisy: read
the medians as rough, and compare ratios within one run only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import baselines
import enginestate
import remote_cache
import systems
from rich import box
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("cold", "noop", "edit", "remote", "floor")
WORKSPACE_SCENARIOS = ("cold", "noop", "edit", "floor")  # the ones run in the baseline workspace
MATRIX = ("linux/amd64", "linux/arm64", "windows/amd64")
ALL_PLATFORMS = "all platforms"
console = Console(highlight=False, width=max(Console().width, 150))


# --- results ---------------------------------------------------------------------------------------------------


@dataclass
class Results:
    """seconds[(scenario, platform, system)][rep]; reps line up so platforms can be summed per rep."""

    seconds: dict[tuple[str, str, str], dict[int, float]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, scenario: str, platform: str, system: str, rep: int, value: float) -> None:
        self.seconds[(scenario, platform, system)][rep] = value

    def samples(self, scenario: str, platform: str, system: str) -> list[float]:
        return list(self.seconds.get((scenario, platform, system), {}).values())

    def summed(self, scenario: str, platforms: list[str], system: str) -> list[float]:
        per_rep: dict[int, float] = defaultdict(float)
        for platform in platforms:
            for rep, value in self.seconds.get((scenario, platform, system), {}).items():
                per_rep[rep] += value
        return list(per_rep.values())


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    median = statistics.median(values)
    return f"{median:.2f}" + (f" [{min(values):.2f}-{max(values):.2f}]" if len(values) > 1 else "")


def _ratio(numerator: list[float], denominator: list[float]) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{statistics.median(numerator) / statistics.median(denominator):.1f}x"


def build_table(results: Results, platforms: list[str], labels: list[str]) -> Table:
    ours, *others = labels
    table = Table(title="build time in seconds: median [min-max]; ratio = baseline / ours", box=box.SIMPLE_HEAD)
    table.add_column("scenario")
    table.add_column("platform")
    for label in labels:
        table.add_column(label, justify="right")
        if label != ours:
            table.add_column(f"{label} / ours", justify="right")
    rows = list(platforms) + ([ALL_PLATFORMS] if len(platforms) > 1 else [])
    for scenario in ("cold", "noop", "edit"):
        for platform in rows:

            def values(label: str, platform: str = platform, scenario: str = scenario) -> list[float]:
                if platform == ALL_PLATFORMS:
                    return results.summed(scenario, platforms, label)
                return results.samples(scenario, platform, label)

            if not values(ours):
                continue
            cells = [_cell(values(ours))]
            for label in others:
                cells += [_cell(values(label)), _ratio(values(label), values(ours))]
            table.add_row(scenario, platform, *cells)
    return table


def floor_table(results: Results) -> Table:
    floor = results.samples("floor", "linux/amd64", "empty session")
    table = Table(title="no-op floor (linux/amd64), seconds: median [min-max]", box=box.SIMPLE_HEAD)
    table.add_column("what")
    table.add_column("seconds", justify="right")
    table.add_column("/ empty session", justify="right")
    rows = ("empty session", "nox --version", "python -c pass", "cns-image-name", "no-op cns-image", "no-op images")
    for label in rows:
        values = results.samples("floor", "linux/amd64", label)
        table.add_row(label, _cell(values), _ratio(values, floor) if label not in rows[:3] else "")
    return table


# --- the run ---------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    setting: systems.Setting
    ours: systems.Ours
    baselines: list[systems.Baseline]
    platforms: list[str]
    scenarios: tuple[str, ...]
    reset_engines: systems.EngineReset
    results: Results = field(default_factory=Results)
    load: list[float] = field(default_factory=list)
    evicted: list[str] = field(default_factory=list)  # baseline no-ops whose cache was gone

    @property
    def everyone(self) -> list[systems.Ours | systems.Baseline]:
        return [self.ours, *self.baselines]

    def timed(self, scenario: str, rep: int) -> None:
        for platform in self.platforms:
            for system in self.everyone:
                self.load.append(os.getloadavg()[0])
                seconds = system.build(platform)
                if scenario in self.scenarios:
                    self.results.add(scenario, platform, system.label, rep, seconds)
                    console.print(f"  {scenario:5} {platform:14} {system.label:15} {seconds:8.2f} s")
                executed = getattr(system, "last_executed", 0)
                if scenario == "noop" and executed:
                    self.evicted.append(f"{system.label} {platform} (run {rep + 1}): {executed} RUN steps")

    def repetition(self, rep: int) -> None:
        console.print(f"run {rep + 1}", style="bold")
        self.reset_engines()
        for system in self.everyone:
            system.reset(f"r{rep}")
        self.timed("cold", rep)
        if "noop" in self.scenarios:
            self.timed("noop", rep)
        if "edit" in self.scenarios:
            with systems.edited([s.checkout for s in self.everyone], f"{self.setting.token}-{rep}"):
                self.timed("edit", rep)
        if "floor" in self.scenarios:
            self.floor(rep)

    def floor(self, rep: int) -> None:
        ours, platform = self.ours, "linux/amd64"
        cns = ["-s", "cns-image"]
        images = self.ours.images_command(platform)[1:]
        ours.session(cns, platform)  # after the edit and its revert: re-fingerprint once, untimed
        ours.session(images, platform)
        python = ours.checkout / ".nox" / "_acnbuild" / "bin" / "python"
        env = ours.env(platform)
        nox_version = systems.run_logged(
            [self.setting.nox, "--version"], cwd=ours.checkout, env=env, log=self.setting.logs.path("floor-nox")
        )
        python_pass = systems.run_logged(
            [str(python), "-c", "pass"], cwd=ours.checkout, env=env, log=self.setting.logs.path("floor-python")
        )
        measured = {
            "nox --version": nox_version,
            "python -c pass": python_pass,
            "empty session": nox_version + python_pass,
            "cns-image-name": ours.session(["-s", "cns-image-name"], platform),
            "no-op cns-image": ours.session(cns, platform),
            "no-op images": ours.session(images, platform),
        }
        for label, seconds in measured.items():
            self.results.add("floor", platform, label, rep, seconds)
            console.print(f"  floor {label:31} {seconds:8.2f} s")


def nox_output(nox: str, cwd: Path, *session: str, **env: str) -> str:
    """The last stdout line of ``nox -s <session...>`` (our sessions print their machine answer last)."""
    result = subprocess.run([nox, "-s", *session], cwd=cwd, env=systems.clean_env(**env), capture_output=True,
                            text=True, check=False)  # fmt: skip
    if result.returncode != 0 or not result.stdout.strip():
        raise systems.BenchError(f"nox -s {' '.join(session)} failed:\n{result.stderr.strip()[-2000:]}")
    return result.stdout.strip().splitlines()[-1]


def versions(setup: Path, setting: systems.Setting, nox: str) -> dict[str, str]:
    """Each component's bare version, read from our CLI (``<c>-image-name-and-tag`` minus its platform prefix)."""
    found = {}
    for component in setting.components:
        reference = nox_output(nox, setup, f"{component}-image-name-and-tag", PLATFORM="linux/amd64")
        found[component] = reference.rsplit(":", 1)[1].removeprefix("linux-amd64-")
    return found


def toolchain_dir(setup: Path, nox: str) -> Path:
    """Our pinned toolchain in the user cache, installed through our CLI if it is not there yet."""
    cache = Path(os.environ.get("ACNBUILD_CACHE") or Path.home() / ".cache" / "acnbuild")
    try:
        return baselines.toolchain_goroot(cache, setup).parent
    except FileNotFoundError:
        subprocess.run([nox, "-s", "plan"], cwd=setup, env=systems.clean_env(), capture_output=True, check=True)
        return baselines.toolchain_goroot(cache, setup).parent


@contextmanager
def workspace(args: argparse.Namespace) -> Iterator[Bench]:
    """Clones, the Go builder images, the local registry with Windows stand-ins; all of it gone afterwards."""
    started = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="acnbench-"))
    token = uuid.uuid4().hex[:8]
    nox = systems.find_nox(args.nox)
    registry_dir = work / "registry"
    storage_root = work / "buildah"
    storage = ["--root", str(storage_root / "root"), "--runroot", str(storage_root / "run")]
    registry: str | None = None
    docker_image: str | None = None
    standins: list[str] = []
    bench: Bench | None = None
    try:
        setup = systems.clone(ROOT, work / "setup", ROOT / ".nox")
        catalog = baselines.load_components(setup)
        chosen = tuple(args.components.split(",")) if args.components else tuple(catalog)
        unknown = [c for c in chosen if c not in catalog]
        if unknown:
            raise SystemExit(f"error: unknown component(s) {', '.join(unknown)}; known: {', '.join(catalog)}")
        platforms = list(MATRIX if args.matrix else ("linux/amd64",))
        setting = systems.Setting(
            source=ROOT, work=work, catalog=catalog, components=chosen, nox=nox, logs=systems.Logs(work / "logs"),
            token=token, jobs=os.cpu_count() or 2,
        )  # fmt: skip
        platforms = [p for p in platforms if setting.shipping(p)]
        console.print(f"setup in {work} (nox: {nox})", style="dim")
        goroot = toolchain_dir(setup, nox) / "go"
        docker_image = baselines.build_builder_image(goroot, work / "go-builder", enginestate.DOCKER)
        buildah_image = ""
        if any(p.startswith("windows/") for p in platforms):
            buildah_image = "localhost/" + docker_image  # copied into the private storage by EngineReset
            registry = nox_output(nox, setup, "registry", "--", "start", "--port", "0", "--dir", str(registry_dir))
            setting.base_overrides = nox_output(nox, setup, "windows-standin-bases", "--", "--registry", registry)
            standins = [ref.split("=", 1)[1] for ref in setting.base_overrides.split()]
        images = systems.BuilderImages(docker=docker_image, buildah=buildah_image, buildah_storage=storage)
        found = versions(setup, setting, nox)
        bench = Bench(
            setting=setting,
            ours=systems.Ours(setting, toolchain_dir(setup, nox)),
            baselines=[systems.Baseline(setting, s, images, found) for s in baselines.STYLES],
            platforms=platforms,
            scenarios=tuple(args.only.split(",")),
            reset_engines=systems.EngineReset(
                images, storage_root, started, args.prune_build_cache, bool(buildah_image)
            ),
        )
        yield bench
    finally:
        console.print("cleaning up", style="dim")
        for system in bench.everyone if bench else []:
            system.cleanup()
        enginestate.ImageLedger(()).remove_named(extra_buildah=standins)
        if docker_image is not None:
            subprocess.run([enginestate.DOCKER, "rmi", docker_image], capture_output=True, check=False)
        enginestate.remove_buildah_storage(storage, storage_root)
        enginestate.remove_buildah_cache_mounts(f"acnbench-{token}-")
        pruned = enginestate.prune_build_cache(started)
        console.print(f"removed {pruned} build-cache records", style="dim")
        if registry is not None:
            subprocess.run([nox, "-s", "registry", "--", "stop", "--dir", str(registry_dir)], cwd=work / "setup",
                           env=systems.clean_env(), capture_output=True, check=False)  # fmt: skip
        if args.keep:
            console.print(f"kept {work}", style="dim")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions; every scenario is run once per repetition")
    parser.add_argument("--matrix", action="store_true", help="also linux/arm64 and windows/amd64")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("--components", help="comma-separated subset (default: all); for quick runs")
    parser.add_argument(
        "--prune-build-cache",
        action="store_true",
        help="also `docker builder prune -af` before each cold run (it empties everyone's build cache)",
    )
    parser.add_argument("--nox", help="nox executable (default: the one on PATH, pyenv shim resolved)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clones and logs")
    args = parser.parse_args()
    wanted = args.only.split(",")
    bad = [s for s in wanted if s not in SCENARIOS]
    if bad or args.runs < 1:
        raise SystemExit(f"error: --only takes {', '.join(SCENARIOS)} and --runs must be >= 1 (got {args.only!r})")
    start = time.perf_counter()
    bench: Bench | None = None
    if any(s in WORKSPACE_SCENARIOS for s in wanted):
        try:
            with workspace(args) as bench:
                for rep in range(args.runs):
                    bench.repetition(rep)
        except systems.BenchError as exc:
            raise SystemExit(f"error: {exc}") from None
    remote = None
    if "remote" in wanted:
        remote = remote_cache.measure(args.runs, "linux/amd64", "docker", systems.find_nox(args.nox),
                                      say=lambda line: console.print(line, style="dim"))  # fmt: skip
    console.print()
    if bench is not None:
        labels = [bench.ours.label, *(b.label for b in bench.baselines)]
        console.print(
            f"{len(bench.setting.components)} component(s) ({', '.join(bench.setting.components)}), {args.runs} "
            f"run(s), {os.cpu_count()} CPUs; baselines run {bench.setting.jobs} image builds at a time (ours: its "
            "default pool)"
        )
        if any(s in bench.scenarios for s in ("cold", "noop", "edit")):
            console.print(build_table(bench.results, bench.platforms, labels))
        if "floor" in bench.scenarios:
            console.print(floor_table(bench.results))
    if remote is not None:
        console.print(remote_table(remote))
    if bench is not None:
        for note in notes(bench):
            console.print(f"note: {note}")
    console.print(f"total benchmark time {time.perf_counter() - start:.0f} s", style="dim")


def remote_table(measured: remote_cache.RemoteCacheRuns) -> Table:
    table = Table(title="remote cache (linux/amd64, docker, all components), seconds: median [min-max]",
                  box=box.SIMPLE_HEAD)  # fmt: skip
    table.add_column("second CI runner, cold")
    table.add_column("seconds", justify="right")
    table.add_column("speed-up", justify="right")
    table.add_column("actions built / remote hits", justify="right")
    hits = sum(c.get("remote-hit", 0) for c in measured.counts)
    built = sum(c.get("built", 0) for c in measured.counts)
    table.add_row("no remote cache", _cell(measured.without), "", "")
    table.add_row("warm remote cache", _cell(measured.with_cache), _ratio(measured.without, measured.with_cache),
                  f"{built} / {hits}")  # fmt: skip
    return table


def notes(bench: Bench) -> list[str]:
    result = [
        "cold: ours starts from a fresh clone and a fresh ACNBUILD_CACHE with the pinned toolchain hard-linked in "
        "(empty GOCACHE), its images removed; baselines from a fresh clone, new cache-mount ids, their build-cache "
        "records removed (buildah: an emptied private storage)",
        f"noisy machine: {os.cpu_count()} CPUs shared with other work, 1-minute load average "
        f"{min(bench.load, default=0):.1f}-{max(bench.load, default=0):.1f} during the run; medians of few runs, "
        "compare ratios within this run only",
    ]
    if not bench.reset_engines.prune_all:
        result.append(
            "BuildKit's cache was pruned only of the baselines' own records (shared engine): final-stage COPY layers "
            "(ours and theirs) may hit on cold runs after the first, worth well under a second; "
            "--prune-build-cache empties it all"
        )
    if bench.evicted:
        result.append(
            "these baseline no-ops re-ran steps, so their layers had left the build cache between the cold and "
            "the no-op build (not removed by this benchmark; BuildKit's garbage collection or another user's "
            "prune): " + "; ".join(bench.evicted)
        )
    if any(p.startswith("windows/") for p in bench.platforms):
        result.append(
            "windows/amd64: baselines built by buildah 1.28 (a Linux engine cannot build Windows images), Linux "
            "builder stages via FROM --platform=$BUILDPLATFORM with BUILDPLATFORM passed in, --layers; "
            "bases are the stand-ins from `nox -s windows-standin-bases`"
        )
    return result


if __name__ == "__main__":
    main()
