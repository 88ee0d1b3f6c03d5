"""The three builds bench/scenarios.py times, each in its own throwaway clone of the repository.

* ``Ours``: driven only through its CLI (``nox -s images``, ``PLATFORM``, ``CONTAINER_BUILDER``, ...). Cold means a
  fresh clone (no ``.acnbuild``/``output``), a fresh ``ACNBUILD_CACHE`` holding only a hard-linked copy of the
  pinned toolchain (so GOCACHE is empty), and its images removed.
* ``Baseline``: the Dockerfiles of bench/baselines.py, built with BuildKit (``DOCKER_BUILDKIT=1`` and the 20.10
  CLI) for Linux and with buildah for Windows, as many builds at a time as ours runs actions. Cold means a fresh
  clone (a new context), cache mounts under new ids, and (done by the caller, see ``EngineReset``) the baselines'
  build-cache records removed and buildah's private storage emptied.

Not ``--no-cache`` for cold builds: with it BuildKit also starts the cache mounts afresh, so a cold linux/arm64
build would throw away the GOCACHE the linux/amd64 build just filled.
"""

from __future__ import annotations

import itertools
import os
import platform as host
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import baselines
import enginestate

OURS_REGISTRY = "acnbench.local/ours"
BASELINE_REGISTRY = "acnbench.local/"  # + style
EDITED = Path("components") / "cns" / "cmd" / "azure-cns" / "main.go"
# Settings of our build a caller's shell might hold; the benchmark sets what it needs and nothing else leaks in.
SCRUBBED = ("PLATFORM", "PLATFORMS", "GOOS", "GOARCH", "VERSION", "IMAGE_REGISTRY", "CONTAINER_BUILDER",
            "BASE_IMAGE_OVERRIDES", "OS_SKU_WIN", "ACNBUILD_CACHE", "SOURCE_DATE_EPOCH", "DOCKER_BUILDKIT")  # fmt: skip


class BenchError(RuntimeError):
    """A timed command failed; the message names its log."""


def host_platform() -> str:
    machine = host.machine().lower()
    return "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.endswith("_VERSION")}
    env.update(settings)
    return env


@dataclass
class Logs:
    directory: Path
    counter: Iterator[int] = field(default_factory=itertools.count)

    def path(self, name: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / f"{next(self.counter):04d}-{name.replace('/', '-')}.log"


def run_logged(command: list[str], *, cwd: Path, env: Mapping[str, str], log: Path) -> float:
    """Run to completion with output in ``log``; returns wall seconds; a failure raises BenchError."""
    with open(log, "w") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        start = time.perf_counter()
        code = subprocess.call(command, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
        elapsed = time.perf_counter() - start
    if code != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise BenchError(f"{command[0]} ... failed with exit code {code}; log: {log}\n{tail}")
    return elapsed


def clone(source: Path, target: Path, nox_env: Path | None = None) -> Path:
    """A throwaway clone of ``source``'s HEAD; ``nox_env`` links the shared ``.nox`` so no session installs one."""
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--quiet", str(source), str(target)], check=True, capture_output=True)
    if nox_env is not None:
        (target / ".nox").symlink_to(nox_env)
    return target


def parse_overrides(text: str) -> dict[str, str]:
    """``BASE_IMAGE_OVERRIDES``: ``REPO[:TAG]=NAME@sha256:...`` pairs."""
    pairs = (word.partition("=") for word in text.replace(",", " ").split())
    return {name.split("@", 1)[0]: ref for name, sep, ref in pairs if sep}


def apply_override(declared: str, overrides: Mapping[str, str]) -> str:
    """The same rule as our build: a ``name:tag`` key wins over a bare repository."""
    if declared == "scratch":
        return declared
    name = declared.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    repository = name.rsplit(":", 1)[0] if ":" in last else name
    return overrides.get(name) or overrides.get(repository) or declared


@dataclass
class Setting:
    """What all three builds share: sources, selection, bases, logs and how wide to run."""

    source: Path
    work: Path
    catalog: dict[str, baselines.Component]
    components: tuple[str, ...]
    nox: str
    logs: Logs
    token: str
    jobs: int
    base_overrides: str = ""

    def shipping(self, platform: str) -> list[str]:
        return [c for c in self.components if platform in self.catalog[c].platforms]

    @property
    def everything(self) -> bool:
        return set(self.components) == set(self.catalog)


class Ours:
    label = "ours"

    def __init__(self, setting: Setting, toolchain_dir: Path) -> None:
        self.setting = setting
        self.toolchain_dir = toolchain_dir  # <cache>/toolchains/go-<hash>, hard-linked into every fresh cache
        self.ledger = enginestate.ImageLedger((OURS_REGISTRY + "/",))
        self.checkout = setting.work / "unset"
        self.cache = setting.work / "unset-cache"

    def reset(self, rep: str) -> None:
        """Cold: no checkout state, no Go build cache, no images (the toolchain stays installed)."""
        self.ledger.remove_named()
        self.checkout = clone(self.setting.source, self.setting.work / rep / "ours", self.setting.source / ".nox")
        self.cache = self.setting.work / rep / "ours-cache"
        shutil.rmtree(self.cache, ignore_errors=True)
        shutil.copytree(
            self.toolchain_dir,
            self.cache / "toolchains" / self.toolchain_dir.name,
            copy_function=os.link,
            symlinks=True,
        )

    def env(self, platform: str) -> dict[str, str]:
        settings = {"PLATFORM": platform, "IMAGE_REGISTRY": OURS_REGISTRY, "ACNBUILD_CACHE": str(self.cache)}
        if platform.startswith("windows/"):
            settings.update(CONTAINER_BUILDER="buildah", BASE_IMAGE_OVERRIDES=self.setting.base_overrides)
        return clean_env(**settings)

    def images_command(self, platform: str) -> list[str]:
        """``nox -s images`` (all components) or ``nox -s images -- --component C ...`` (a selection)."""
        command = [self.setting.nox, "-s", "images"]
        if not self.setting.everything:
            command += [
                "--",
                *itertools.chain.from_iterable(("--component", c) for c in self.setting.shipping(platform)),
            ]
        return command

    def build(self, platform: str) -> float:
        self.ledger.note()
        return self.session(self.images_command(platform)[1:], platform)

    def session(self, nox_args: list[str], platform: str = "linux/amd64") -> float:
        """Time ``nox <nox_args>`` in the current checkout."""
        log = self.setting.logs.path(f"ours-{nox_args[1]}-{platform}")
        return run_logged([self.setting.nox, *nox_args], cwd=self.checkout, env=self.env(platform), log=log)

    def cleanup(self) -> None:
        self.ledger.remove_all()


@dataclass
class BuilderImages:
    """The Go builder image as each engine names it, and the private buildah storage the baselines use."""

    docker: str
    buildah: str
    buildah_storage: list[str]


class Baseline:
    def __init__(self, setting: Setting, style: str, images: BuilderImages, versions: Mapping[str, str]) -> None:
        self.setting = setting
        self.style = style
        self.label = {"upstream": "upstream-style", "wellwritten": "well-written"}[style]
        self.images = images
        self.versions = versions  # component -> bare version, as our build computes it
        self.registry = BASELINE_REGISTRY + style
        self.ledger = enginestate.ImageLedger((self.registry + "/",))
        self.checkout = setting.work / "unset"
        self.dockerfiles: dict[tuple[str, str, str], Path] = {}
        self.cache_id = ""
        self.last_executed = 0  # RUN steps the last build executed rather than took from the cache

    def reset(self, rep: str) -> None:
        self.ledger.remove_named()
        enginestate_names = enginestate.buildah_references((self.registry + "/",), self.images.buildah_storage)
        if enginestate_names:
            subprocess.run(["buildah", *self.images.buildah_storage, "rmi", *enginestate_names], capture_output=True)
        self.checkout = clone(self.setting.source, self.setting.work / rep / self.style)
        self.cache_id = f"acnbench-{self.setting.token}-{rep}-{self.style}"
        out = self.setting.work / rep / f"{self.style}-dockerfiles"
        self.dockerfiles = baselines.write_dockerfiles(out, self.images.docker, self.cache_id, root=self.checkout)

    def command(self, component: str, platform: str) -> tuple[list[str], dict[str, str]]:
        spec = self.setting.catalog[component]
        os_name, arch = platform.split("/")[:2]
        tag = f"{os_name}-{arch}-{self.versions[component]}"
        reference = f"{self.registry}/{spec.image}:{tag}"
        base = apply_override(spec.images[os_name].base, parse_overrides(self.setting.base_overrides))
        args = {"ARCH": arch, "OS": os_name, "PLATFORM": platform, "VERSION": tag, "BASE_IMAGE": base}
        args.update(spec.build_args)
        dockerfile = self.dockerfiles[(component, os_name, self.style)]
        if os_name == "windows":
            args.update(
                GO_IMAGE=self.images.buildah, BUILDPLATFORM=host_platform()
            )  # buildah 1.28 sets no BUILDPLATFORM
            command = ["buildah", *self.images.buildah_storage, "build", "--layers", "--tls-verify=false"]
            env = clean_env(BUILDAH_ISOLATION="chroot")
        else:
            args["GO_IMAGE"] = self.images.docker
            command = [enginestate.DOCKER, "build", "--progress=plain"]
            env = clean_env(DOCKER_BUILDKIT="1")
        command += ["--platform", platform, "--target", spec.images[os_name].target, "-f", str(dockerfile)]
        command += [
            "-t",
            reference,
            *itertools.chain.from_iterable(("--build-arg", f"{k}={v}") for k, v in args.items()),
        ]
        return [*command, str(self.checkout)], env

    def build(self, platform: str) -> float:
        jobs = [(c, *self.command(c, platform)) for c in self.setting.shipping(platform)]

        def one(job: tuple[str, list[str], dict[str, str]]) -> int:
            component, command, env = job
            log = self.setting.logs.path(f"{self.style}-{component}-{platform}")
            iidfile = log.with_suffix(".iid")
            run_logged([*command[:-1], "--iidfile", str(iidfile), command[-1]], cwd=self.checkout, env=env, log=log)
            if not platform.startswith("windows/") and iidfile.is_file():
                self.ledger.note_id(iidfile.read_text().strip())
            return executed_run_steps(log.read_text())

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.setting.jobs) as pool:
            self.last_executed = sum(pool.map(one, jobs))
        return time.perf_counter() - start

    def cleanup(self) -> None:
        self.ledger.remove_all()


_BUILDKIT_STEP = re.compile(r"^#(\d+) \[[^\]]*\] RUN ", re.MULTILINE)


def executed_run_steps(log: str) -> int:
    """RUN steps a build executed: BuildKit plain progress (``#N [...] RUN`` without ``#N CACHED``) or buildah
    (a ``STEP i/n: RUN`` not followed by ``--> Using cache``). A no-op that executes one was not served by the cache.
    """
    steps = set(_BUILDKIT_STEP.findall(log))
    if steps:
        return len(steps - set(re.findall(r"^#(\d+) CACHED", log, re.MULTILINE)))
    executed = 0
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if re.search(r"STEP \d+/\d+: RUN ", line):
            following = next((f for f in lines[i + 1 :] if f.startswith("-->")), "")
            executed += not following.startswith("--> Using cache")
    return executed


@dataclass
class EngineReset:
    """Before every cold run: the baselines' build cache gone, buildah's private storage holding only the builder.

    ``prune_all`` is ``docker builder prune -af``: the literal cold state, which also empties everyone else's cache.
    """

    images: BuilderImages
    storage_root: Path
    since: datetime
    prune_all: bool
    windows: bool

    def __call__(self) -> None:
        if self.prune_all:
            enginestate.prune_everything()
        else:
            enginestate.prune_build_cache(self.since)
        if self.windows:
            enginestate.remove_buildah_storage(self.images.buildah_storage, self.storage_root)
            baselines.copy_builder_to_buildah(self.images.docker, self.images.buildah_storage)


@contextmanager
def edited(checkouts: list[Path], token: str) -> Iterator[None]:
    """Append a comment to the cns main.go in every checkout; put the original bytes back afterwards."""
    originals = {c: (c / EDITED).read_bytes() for c in checkouts}
    try:
        for checkout, data in originals.items():
            (checkout / EDITED).write_bytes(data + f"\n// acnbench edit {token}\n".encode())
        yield
    finally:
        for checkout, data in originals.items():
            (checkout / EDITED).write_bytes(data)


def find_nox(explicit: str | None) -> str:
    """nox as a user runs it, minus a pyenv shim's own start-up (a bash script that costs ~0.2 s per call)."""
    found = explicit or shutil.which("nox")
    if found is None:
        raise SystemExit("error: nox is not on PATH (pip install nox), or pass --nox PATH")
    if "/.pyenv/shims/" in found:
        real = subprocess.run(["pyenv", "which", "nox"], capture_output=True, text=True, check=False).stdout.strip()
        found = real or found
    return found
