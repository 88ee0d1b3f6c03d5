"""The two baselines bench/scenarios.py measures our build against, generated from components/*/BUILD.yaml.

1. ``upstream``: upstream's Dockerfile habits (acn-image-build.md §6-7): one builder stage per binary that does
   ``COPY . .`` and ``go build -a`` with upstream's flags, no cache mounts; the dropgz installers are a compressor
   stage (each payload file gzipped, plus sum.txt) and a dropgz build with that payload embedded.
2. ``wellwritten``: the same stages written the way BuildKit rewards: ``COPY go.mod`` first, then only the
   component's and the shared sources, ``RUN --mount=type=cache`` for GOCACHE and GOMODCACHE, no ``-a``.

Both end in the final stage of the component's own Dockerfile (``linux.Dockerfile``/``windows.Dockerfile``),
with ``COPY bin/X`` taken from the builder stages and ``COPY files/X`` from the component directory, so the
images have the same bases and layouts as ours. Builder stages run on the build platform and cross-compile
(``FROM --platform=$BUILDPLATFORM``), so linux/arm64 needs no emulation.

No registry can be reached, so the Go builder image is made here: Debian's static busybox at /bin and the SAME
pinned toolchain our build installs (``$ACNBUILD_CACHE/toolchains/go-*/go``) at /usr/local/go.

This module reads BUILD.yaml itself (PyYAML) and never imports acnbuild: the baselines must not depend on the
build they are compared with.

    .nox/_acnbuild/bin/python bench/baselines.py --out DIR    # write every Dockerfile (and the builder context)
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STYLES = ("upstream", "wellwritten")
BUSYBOX = Path("/bin/busybox")
BUILDER_REPOSITORY = "acnbench/go-builder"
DROPGZ = Path("tools") / "dropgz"
SHARED_SOURCES = Path("components") / "internal"
GO_FLAGS = {
    # upstream §7: CGO off, -a, -s -w and main.version; -buildvcs=false because the builder image has no git
    "upstream": "-a -buildvcs=false -gcflags=-dwarflocationlists=true",
    "wellwritten": "-trimpath -buildvcs=false",
}


@dataclass(frozen=True)
class Binary:
    name: str
    package: str  # relative to the repository root, e.g. ./components/cns/cmd/azure-cns
    component: str
    version_vars: tuple[str, ...] = ()
    x_vars: tuple[tuple[str, str], ...] = ()

    def file_name(self, os_name: str) -> str:
        return self.name + (".exe" if os_name == "windows" else "")


@dataclass(frozen=True)
class OsImage:
    dockerfile: Path
    target: str
    base: str


@dataclass(frozen=True)
class Component:
    name: str
    directory: Path  # relative to the repository root
    image: str
    binaries: tuple[Binary, ...]
    platforms: tuple[str, ...]
    images: dict[str, OsImage]
    build_args: dict[str, str] = field(default_factory=dict)
    installer_binaries: tuple[str, ...] = ()
    installer_files: tuple[str, ...] = ()


def load_components(root: Path = ROOT) -> dict[str, Component]:
    """Every ``components/*/BUILD.yaml``, keyed by component name (the directory name)."""
    components = {}
    for build_file in sorted(root.glob("components/*/BUILD.yaml")):
        data = yaml.safe_load(build_file.read_text())
        name = build_file.parent.name
        directory = build_file.parent.relative_to(root)
        binaries = tuple(
            Binary(
                name=b["name"],
                package="./" + (directory / b["package"]).as_posix(),
                component=name,
                version_vars=tuple(b.get("version_vars", ())),
                x_vars=tuple(sorted((b.get("x_vars") or {}).items())),
            )
            for b in data["binaries"]
        )
        images = {
            os_name: OsImage(directory / spec["dockerfile"], spec["target"], spec["base"])
            for os_name, spec in data["images"].items()
        }
        installer = data.get("installer") or {}
        components[name] = Component(
            name=name,
            directory=directory,
            image=data["image"],
            binaries=binaries,
            platforms=tuple(data["platforms"]),
            images=images,
            build_args={k: str(v) for k, v in (data.get("build_args") or {}).items()},
            installer_binaries=tuple(installer.get("binaries", ())),
            installer_files=tuple(installer.get("files", ())),
        )
    return components


def find_binary(components: dict[str, Component], name: str) -> Binary:
    for component in components.values():
        for binary in component.binaries:
            if binary.name == name:
                return binary
    raise KeyError(f"no component declares a binary named {name}")


# --- the Go builder image --------------------------------------------------------------------------------------


def toolchain_goroot(cache: Path, root: Path = ROOT) -> Path:
    """The GOROOT our build installed for requirements/go-toolchain.txt (its directory is named by the lock's hash)."""
    digest = hashlib.sha256((root / "requirements" / "go-toolchain.txt").read_bytes()).hexdigest()[:16]
    goroot = cache / "toolchains" / f"go-{digest}" / "go"
    if not (goroot / "bin" / "go").is_file():
        raise FileNotFoundError(f"{goroot} has no Go toolchain: run `nox -s cns-image-name` once to install it")
    return goroot


def go_version(goroot: Path) -> str:
    """``go1.26.6``: the first line of ``$GOROOT/VERSION``."""
    return (goroot / "VERSION").read_text().splitlines()[0].strip()


def builder_image(goroot: Path) -> str:
    return f"{BUILDER_REPOSITORY}:{go_version(goroot)}"


BUILDER_ENV = {
    "PATH": "/go/bin:/usr/local/go/bin:/bin",
    "HOME": "/root",
    "GOPATH": "/go",
    "GOROOT": "/usr/local/go",
    "GOCACHE": "/root/.cache/go-build",
    "GOMODCACHE": "/go/pkg/mod",
    "GOTOOLCHAIN": "local",
    "GOPROXY": "off",
    "GOSUMDB": "off",
    "GOTELEMETRY": "off",
}


def write_builder_rootfs(goroot: Path, directory: Path) -> Path:
    """The builder's file system: busybox and its applet links in /bin, the Go root (hard-linked when the file
    system allows) at /usr/local/go, and the directories Go writes to."""
    if not BUSYBOX.is_file():
        raise FileNotFoundError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, directory / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and "/" not in applet:
            (directory / "bin" / applet).symlink_to("busybox")
    for sub in ("root/.cache", "go/bin", "go/pkg/mod", "out", "usr/local"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    (directory / "tmp").mkdir(mode=0o1777)
    (directory / "tmp").chmod(0o1777)
    target = directory / "usr" / "local" / "go"
    try:
        shutil.copytree(goroot, target, copy_function=os.link, ignore=shutil.ignore_patterns("__pycache__"))
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(goroot, target, ignore=shutil.ignore_patterns("__pycache__"))
    return directory


def build_builder_image(goroot: Path, directory: Path, docker: str = "/usr/bin/docker") -> str:
    """``acnbench/go-builder:<go version>`` in the Docker engine, by ``docker import`` of ``write_builder_rootfs``.

    An import, not a ``docker build``: the same image, without leaving a 200 MB build context in the engine's
    shared build cache.
    """
    rootfs = write_builder_rootfs(goroot, directory)
    tag = builder_image(goroot)
    changes = [f"ENV {k}={v}" for k, v in BUILDER_ENV.items()] + ["WORKDIR /go"]
    command = [docker, "import", *itertools.chain.from_iterable(("--change", c) for c in changes), "-", tag]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL) as importer:
        assert importer.stdin is not None
        with tarfile.open(fileobj=importer.stdin, mode="w|") as archive:
            for entry in sorted(rootfs.iterdir()):
                archive.add(entry, arcname=entry.name)
        importer.stdin.close()
    if importer.returncode != 0:
        raise RuntimeError(f"docker import of {tag} failed (exit {importer.returncode})")
    shutil.rmtree(rootfs)
    return tag


def copy_builder_to_buildah(tag: str, storage: list[str]) -> str:
    """The same image in a buildah storage (``storage``: ``--root``/``--runroot`` flags), as ``localhost/<tag>``."""
    local = "localhost/" + tag
    subprocess.run(["buildah", *storage, "pull", "--quiet", f"docker-daemon:{tag}"], capture_output=True, check=True)
    subprocess.run(["buildah", *storage, "tag", f"docker.io/{tag}", local], capture_output=True, check=True)
    return local


# --- the Dockerfiles -------------------------------------------------------------------------------------------

_FINAL_FROM = re.compile(r"^FROM\s+\$\{?BASE_IMAGE\}?\s+AS\s+(\S+)\s*$", re.IGNORECASE)
_COPY = re.compile(r"^COPY\s+(bin|files)/(\S+)\s+(\S+)\s*$", re.IGNORECASE)


def final_stage(component: Component, os_name: str, root: Path = ROOT) -> tuple[list[str], list[str]]:
    """The component's own final stage, rewritten; and the binaries it copies (file names, ``.exe`` on Windows).

    ``COPY bin/X`` reads ``/out/X`` from the stage named after X (without ``.exe``); ``COPY files/X`` reads the file
    from the component directory in the context.
    """
    image = component.images[os_name]
    lines = (root / image.dockerfile).read_text().splitlines()
    start = next(
        (i for i, line in enumerate(lines) if (m := _FINAL_FROM.match(line)) and m.group(1) == image.target), None
    )
    if start is None:
        raise ValueError(f"{image.dockerfile} has no `FROM ${{BASE_IMAGE}} AS {image.target}` stage")
    stage, copied = [], []
    for line in lines[start:]:
        copy = _COPY.match(line)
        if copy is None:
            stage.append(line)
        elif copy.group(1) == "bin":
            name = copy.group(2)
            copied.append(name)
            stage.append(f"COPY --from={name.removesuffix('.exe')} /out/{name} {copy.group(3)}")
        else:
            stage.append(f"COPY {(component.directory / copy.group(2)).as_posix()} {copy.group(3)}")
    return stage, copied


def _ldflags(binary: Binary | None) -> str:
    flags = ["-s", "-w"]
    for var in binary.version_vars if binary else ("main.version",):
        flags.append(f"-X {var}=${{VERSION}}")
    for var, value in binary.x_vars if binary else ():
        flags.append(f"-X {var}={value}")
    return " ".join(flags)


def _go_build(style: str, output: str, package: str, binary: Binary | None, cache_id: str) -> str:
    mounts = _cache_mounts(cache_id) if style == "wellwritten" else ""
    return (
        f"RUN {mounts}CGO_ENABLED=0 GOOS=${{OS}} GOARCH=${{ARCH}} go build {GO_FLAGS[style]} "
        f'-ldflags "{_ldflags(binary)}" -o /out/{output} {package}'
    )


def _cache_mounts(cache_id: str) -> str:
    return (
        f"--mount=type=cache,id={cache_id}-gomod,target=/go/pkg/mod "
        f"--mount=type=cache,id={cache_id}-gobuild,target=/root/.cache/go-build "
    )


def _binary_stage(style: str, binary: Binary, os_name: str, root: Path, cache_id: str) -> list[str]:
    lines = [f"FROM --platform=$BUILDPLATFORM ${{GO_IMAGE}} AS {binary.name}", "WORKDIR /src"]
    if style == "upstream":
        lines += ["COPY . .", "ARG OS", "ARG ARCH", "ARG VERSION"]
    else:
        modules = ["go.mod"] + (["go.sum"] if (root / "go.sum").is_file() else [])
        lines += [f"COPY {' '.join(modules)} ./", f"RUN {_cache_mounts(cache_id)}go mod download"]
        for source in (SHARED_SOURCES, Path("components") / binary.component):
            lines.append(f"COPY {source.as_posix()} {source.as_posix()}")
        lines += ["ARG OS", "ARG ARCH", "ARG VERSION"]
    lines.append(_go_build(style, binary.file_name(os_name), binary.package, binary, cache_id))
    return lines


def _installer_stages(style: str, component: Component, os_name: str, cache_id: str) -> list[str]:
    """compressor (each payload file gzipped, sum.txt of the plain files) and dropgz with that payload embedded."""
    lines = ["FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS compressor", "WORKDIR /payload"]
    for name in component.installer_binaries:
        file_name = name + (".exe" if os_name == "windows" else "")
        lines.append(f"COPY --from={name} /out/{file_name} ./")
    for file in component.installer_files:
        lines.append(f"COPY {(component.directory / file).as_posix()} ./{Path(file).name}")
    lines += ["RUN sha256sum * > /tmp/sum.txt && mv /tmp/sum.txt sum.txt && gzip -9 *", ""]
    dropgz = "dropgz" + (".exe" if os_name == "windows" else "")
    lines += [
        "FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS dropgz",
        "WORKDIR /dropgz",
        f"COPY {DROPGZ.as_posix()} ./",
        "COPY --from=compressor /payload/ payload/",
        "ARG OS",
        "ARG ARCH",
        "ARG VERSION",
    ]
    lines.append(_go_build(style, dropgz, ".", None, cache_id))
    return lines


def dockerfile(
    components: dict[str, Component],
    name: str,
    os_name: str,
    style: str,
    go_image: str,
    cache_id: str = "acnbench",
    root: Path = ROOT,
) -> str:
    """The ``style`` baseline Dockerfile for one component and OS; ``cache_id`` names its cache mounts."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; one of {', '.join(STYLES)}")
    component = components[name]
    final, copied = final_stage(component, os_name, root)
    with_installer = any(name.removesuffix(".exe") == "dropgz" for name in copied)
    needed: list[Binary] = []
    wanted = [n.removesuffix(".exe") for n in copied if n.removesuffix(".exe") != "dropgz"]
    if with_installer:
        wanted += component.installer_binaries
    for binary_name in wanted:
        binary = find_binary(components, binary_name)
        if binary not in needed:
            needed.append(binary)
    lines = [
        f"# {style} baseline for {name} ({os_name}), generated by bench/baselines.py from "
        f"{component.directory.as_posix()}/BUILD.yaml",
        f"ARG GO_IMAGE={go_image}",
        f"ARG BASE_IMAGE={component.images[os_name].base}",
        "ARG ARCH",
        "ARG OS",
        "ARG PLATFORM",
        "ARG VERSION",
        "",
    ]
    for binary in needed:
        lines += [*_binary_stage(style, binary, os_name, root, cache_id), ""]
    if with_installer:
        lines += [*_installer_stages(style, component, os_name, cache_id), ""]
    lines += final
    return "\n".join(lines) + "\n"


def write_dockerfiles(
    out: Path, go_image: str, cache_id: str = "acnbench", root: Path = ROOT
) -> dict[tuple[str, str, str], Path]:
    """Every (component, os, style) Dockerfile under ``out/<style>/<component>/<os>.Dockerfile``."""
    components = load_components(root)
    written = {}
    for name, component in components.items():
        for os_name in component.images:
            for style in STYLES:
                path = out / style / name / f"{os_name}.Dockerfile"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(dockerfile(components, name, os_name, style, go_image, cache_id, root))
                written[(name, os_name, style)] = path
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the Dockerfiles")
    parser.add_argument("--cache", type=Path, help="ACNBUILD_CACHE holding the toolchain (default ~/.cache/acnbuild)")
    parser.add_argument("--build-builder", action="store_true", help="also import the Go builder image into docker")
    args = parser.parse_args()
    cache = args.cache or Path(os.environ.get("ACNBUILD_CACHE") or Path.home() / ".cache" / "acnbuild")
    goroot = toolchain_goroot(cache)
    go_image = builder_image(goroot)
    for (name, os_name, style), path in sorted(write_dockerfiles(args.out, go_image).items()):
        print(f"{style:12} {name:12} {os_name:8} {path}")
    if args.build_builder:
        with tempfile.TemporaryDirectory(dir=args.out) as scratch:
            print("imported", build_builder_image(goroot, Path(scratch) / "rootfs"))
    else:
        print(f"builder image {go_image}: busybox in /bin, {goroot} at /usr/local/go; env {BUILDER_ENV}")


if __name__ == "__main__":
    main()
