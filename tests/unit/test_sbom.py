"""Image SBOMs from the Go build info of real binaries compiled by the pinned toolchain (ELF and PE)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from acnbuild import discover
from acnbuild.errors import BuildFailed
from acnbuild.go import compile as gobuild
from acnbuild.go import toolchain
from acnbuild.go.buildinfo import GoBuildInfo, parse_version_json, parse_version_text, read_build_info
from acnbuild.go.toolchain import GoToolchain
from acnbuild.image.sbom import SbomBinary, image_sbom
from acnbuild.platforms import Platform
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonValidator

from tests.conftest import REPO_ROOT

VERSION = "v1.8.12"
CREATED = "2023-11-14T22:13:20Z"
WINDOWS_BASE = (
    "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0"
    "@sha256:b4c9637e032f667c52d1eccfa31ad8c63f1b035e8639f3f48a510536bf34032b"
)
IMAGE_PATHS = {"linux": "/usr/local/bin/azure-cns", "windows": "/azure-cns.exe"}


@pytest.fixture(scope="module")
def go() -> GoToolchain:
    return toolchain.ensure(REPO_ROOT)


@pytest.fixture(scope="module")
def cns_builds(go: GoToolchain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """azure-cns compiled exactly as the build does (BUILD.yaml, gobuild flags) for linux and windows amd64:
    the binary and the -ldflags it was built with."""
    component = discover.load_component(REPO_ROOT / "components" / "cns" / "BUILD.yaml", REPO_ROOT)
    out = tmp_path_factory.mktemp("cns-bin")
    builds = {}
    for os_ in ("linux", "windows"):
        build = gobuild.GoBuild(component.binaries[0], Platform(os_, "amd64"), VERSION)
        binary = out / build.binary.file_name(build.platform)
        gobuild.compile_binary(go, REPO_ROOT, build, binary, out / f"{os_}.log")
        builds[os_] = (binary, build.ldflags())
    return builds


def make_sbom(os_: str, binary: Path, ldflags: str, info: GoBuildInfo) -> bytes:
    return image_sbom(
        image="127.0.0.1:5000/azure-cns",
        version=VERSION,
        platform=f"{os_}/amd64",
        reference=f"127.0.0.1:5000/azure-cns:{os_}-amd64-{VERSION}",
        base=WINDOWS_BASE if os_ == "windows" else "scratch",
        created=CREATED,
        binaries=[SbomBinary.from_file(IMAGE_PATHS[os_], binary, info, ldflags=ldflags)],
    )


def component_named(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in document["components"] if c["name"] == name)


def properties(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def depends_on(document: dict[str, Any], ref: str) -> set[str]:
    return {d for entry in document["dependencies"] if entry["ref"] == ref for d in entry.get("dependsOn", [])}


@pytest.mark.parametrize("os_", ["linux", "windows"])
def test_cns_image_sbom(os_: str, go: GoToolchain, cns_builds: dict[str, tuple[Path, str]]) -> None:
    binary, ldflags = cns_builds[os_]
    info = read_build_info(go.go, binary, go.env())
    assert info.go_version == go.version
    assert (info.goos, info.goarch) == (os_, "amd64")
    assert info.main is not None and info.main.path == "github.com/acn-monorepo/acn"  # go.mod's module
    assert info.package == "github.com/acn-monorepo/acn/components/cns/cmd/azure-cns"
    assert info.setting("-trimpath") == "true" and info.setting("CGO_ENABLED") == "0"

    sbom = make_sbom(os_, binary, ldflags, info)
    assert sbom == make_sbom(os_, binary, ldflags, info)
    text = sbom.decode()
    assert JsonValidator(SchemaVersion.V1_6).validate_str(text) is None
    for local in (REPO_ROOT, binary.parent, Path.home(), go.goroot):
        assert str(local) not in text

    document = json.loads(text)
    assert document["specVersion"] == "1.6"
    assert document["metadata"]["timestamp"].startswith("2023-11-14T22:13:20")
    assert {t["name"] for t in document["metadata"]["tools"]["components"]} >= {"acnbuild", "cyclonedx-python-lib"}
    image = document["metadata"]["component"]
    assert (image["type"], image["name"], image["version"]) == ("container", "127.0.0.1:5000/azure-cns", VERSION)

    application = component_named(document, binary.name)
    assert application["type"] == "application"
    assert application["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(binary.read_bytes()).hexdigest()}]
    assert application["evidence"]["occurrences"] == [{"location": IMAGE_PATHS[os_]}]
    props = properties(application)
    assert props["cdx:gomod:build:env:GOOS"] == os_
    assert props["cdx:gomod:build:env:GOARCH"] == "amd64"
    assert props["acnbuild:go:toolchain"] == go.version
    assert props["acnbuild:go:ldflags"] == f"-s -w -buildid= -X=main.version={VERSION}"

    stdlib = component_named(document, "stdlib")
    assert stdlib["version"] == go.version
    assert stdlib["purl"] == f"pkg:golang/stdlib@{go.version.removeprefix('go')}"
    main_module = component_named(document, "github.com/acn-monorepo/acn")
    assert main_module["purl"] == "pkg:golang/github.com/acn-monorepo/acn"  # -buildvcs=false: "(devel)", no version
    assert "version" not in main_module
    assert depends_on(document, application["bom-ref"]) == {stdlib["bom-ref"], main_module["bom-ref"]}
    image_deps = depends_on(document, image["bom-ref"])
    if os_ == "windows":
        base = next(c for c in document["components"] if c["type"] == "container")
        assert base["purl"].startswith("pkg:oci/windows-host-process-containers-base-image@sha256:b4c9637e")
        assert base["hashes"][0]["content"] == WINDOWS_BASE.rpartition(":")[2]
        assert image_deps == {application["bom-ref"], base["bom-ref"]}
    else:
        assert image_deps == {application["bom-ref"]}  # scratch is not a component


def test_sbom_is_identical_in_another_process(go: GoToolchain, cns_builds: dict[str, tuple[Path, str]]) -> None:
    """No hash-seed, set-order or clock dependence: a fresh interpreter renders the same bytes."""
    binary, ldflags = cns_builds["windows"]
    here = make_sbom("windows", binary, ldflags, read_build_info(go.go, binary, go.env()))
    script = f"""
import sys
from pathlib import Path
from acnbuild.go import toolchain
from acnbuild.go.buildinfo import read_build_info
from tests.unit.test_sbom import make_sbom

go = toolchain.ensure(Path({str(REPO_ROOT)!r}))
binary = Path({str(binary)!r})
sys.stdout.buffer.write(make_sbom("windows", binary, {ldflags!r}, read_build_info(go.go, binary, go.env())))
"""
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": f"{REPO_ROOT / 'build'}:{REPO_ROOT}"}
    there = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=True).stdout
    assert there == here


def test_validator_rejects_a_broken_document(go: GoToolchain, cns_builds: dict[str, tuple[Path, str]]) -> None:
    binary, ldflags = cns_builds["linux"]
    document = json.loads(make_sbom("linux", binary, ldflags, read_build_info(go.go, binary, go.env())))
    document["components"][0]["type"] = "no-such-type"
    assert JsonValidator(SchemaVersion.V1_6).validate_str(json.dumps(document)) is not None


def test_binary_for_another_platform_is_refused(go: GoToolchain, cns_builds: dict[str, tuple[Path, str]]) -> None:
    binary, ldflags = cns_builds["linux"]
    info = read_build_info(go.go, binary, go.env())
    with pytest.raises(BuildFailed, match=r"built for linux/amd64, the image is for windows/amd64"):
        make_sbom("windows", binary, ldflags, info)


def test_reading_a_file_that_is_not_a_go_binary_names_it(go: GoToolchain, tmp_path: Path) -> None:
    not_go = tmp_path / "not-go"
    not_go.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(BuildFailed, match=f"build info of {not_go}: .*not an executable Go binary"):
        read_build_info(go.go, not_go, go.env())
    not_go.chmod(0o755)
    with pytest.raises(BuildFailed, match=f"build info of {not_go}: unrecognized file format$"):
        read_build_info(go.go, not_go, go.env())
    with pytest.raises(BuildFailed, match=f"build info of {tmp_path / 'missing'}: .*no such file"):
        read_build_info(go.go, tmp_path / "missing", go.env())


def write_module(proxy: Path, path: str, version: str, declared: str, source: str) -> None:
    """One module version in a GOPROXY=file:// layout (.info, .mod, .zip), as the Go module proxy serves it."""
    versions = proxy / path / "@v"
    versions.mkdir(parents=True, exist_ok=True)
    go_mod = f"module {declared}\n\ngo 1.21\n"
    (versions / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2023-01-01T00:00:00Z"}))
    (versions / f"{version}.mod").write_text(go_mod)
    with zipfile.ZipFile(versions / f"{version}.zip", "w") as archive:
        archive.writestr(f"{path}@{version}/go.mod", go_mod)
        archive.writestr(f"{path}@{version}/lib.go", source)
    (versions / "list").write_text(f"{version}\n")


def test_module_dependencies_and_replacements(go: GoToolchain, tmp_path: Path) -> None:
    """A module from a (file) proxy, one replaced by another module version, one replaced by a directory."""
    proxy = tmp_path / "proxy"
    write_module(proxy, "example.com/greet", "v1.2.3", "example.com/greet", "package greet\n\nconst Hello = 1\n")
    write_module(proxy, "example.com/polite", "v0.2.0", "example.com/rude", "package rude\n\nconst Please = 2\n")
    app = tmp_path / "app"
    (app / "local").mkdir(parents=True)
    (app / "local" / "go.mod").write_text("module example.com/local\n\ngo 1.21\n")
    (app / "local" / "local.go").write_text("package local\n\nconst Here = 3\n")
    (app / "go.mod").write_text(
        "module example.com/app\n\ngo 1.21\n\n"
        "require (\n\texample.com/greet v1.2.3\n\texample.com/local v0.0.0\n\texample.com/rude v0.1.0\n)\n\n"
        "replace example.com/rude => example.com/polite v0.2.0\n\nreplace example.com/local => ./local\n"
    )
    (app / "main.go").write_text(
        'package main\n\nimport (\n\t"os"\n\n\t"example.com/greet"\n\t"example.com/local"\n\t"example.com/rude"\n)\n\n'
        "func main() { os.Exit(greet.Hello + local.Here + rude.Please) }\n"
    )
    env = {
        **go.env(Platform("linux", "amd64")),
        "GOPROXY": proxy.as_uri(),
        "GOMODCACHE": str(tmp_path / "modcache"),
        "GOFLAGS": "-modcacherw",
    }
    subprocess.run([str(go.go), "mod", "tidy"], cwd=app, env=env, check=True, capture_output=True)
    binary = tmp_path / "app-bin"
    subprocess.run(
        [str(go.go), "build", *gobuild.BUILD_FLAGS, "-gcflags=-N -l", "-o", str(binary), "."],
        cwd=app, env={**env, "GOFLAGS": "-mod=readonly -modcacherw"}, check=True, capture_output=True,
    )  # fmt: skip

    info = read_build_info(go.go, binary, go.env())
    deps = {d.path: d for d in info.deps}
    assert deps["example.com/greet"].version == "v1.2.3" and deps["example.com/greet"].sum.startswith("h1:")
    rude = deps["example.com/rude"].replace
    assert rude is not None and (rude.path, rude.version) == ("example.com/polite", "v0.2.0")
    local = deps["example.com/local"].replace
    assert local is not None and local.path == "./local" and local.is_local_directory
    assert info.setting("-gcflags") == "-N -l"
    # The text form (what a Go without -json prints) parses to the same thing, quoted -gcflags included.
    text = subprocess.run([str(go.go), "version", "-m", str(binary)], env=go.env(), capture_output=True, text=True)
    as_json = subprocess.run([str(go.go), "version", "-m", "-json", str(binary)], env=go.env(), capture_output=True)
    assert parse_version_text(text.stdout) == parse_version_json(as_json.stdout.decode()) == info

    sbom = image_sbom(
        image="127.0.0.1:5000/app",
        version="v0.0.1",
        platform="linux/amd64",
        reference="127.0.0.1:5000/app:linux-amd64-v0.0.1",
        base="127.0.0.1:5000/base:1@sha256:" + "a" * 64,
        created=CREATED,
        binaries=[SbomBinary.from_file("/app", binary, info)],
    )
    text_sbom = sbom.decode()
    assert JsonValidator(SchemaVersion.V1_6).validate_str(text_sbom) is None
    assert str(tmp_path) not in text_sbom
    document = json.loads(text_sbom)
    by_purl = {c.get("purl"): c for c in document["components"]}
    greet = by_purl["pkg:golang/example.com/greet@v1.2.3"]
    assert properties(greet)["acnbuild:go:module:sum"] == deps["example.com/greet"].sum
    polite = by_purl["pkg:golang/example.com/polite@v0.2.0"]
    assert properties(polite)["acnbuild:go:module:replaces"] == "example.com/rude@v0.1.0"
    local_component = by_purl["pkg:golang/example.com/local"]
    assert properties(local_component)["acnbuild:go:module:replaced-by-directory"] == "./local"
    assert by_purl["pkg:oci/base@sha256:" + "a" * 64 + "?repository_url=127.0.0.1:5000/base&tag=1"]["version"] == "1"
    application = component_named(document, "app")
    assert "acnbuild:go:ldflags" not in properties(application)  # neither passed nor recorded (-trimpath)
    assert depends_on(document, application["bom-ref"]) == {
        f"pkg:golang/stdlib@{go.version.removeprefix('go')}",
        "pkg:golang/example.com/app",
        greet["bom-ref"],
        polite["bom-ref"],
        local_component["bom-ref"],
    }


def test_a_go_without_json_output_is_read_from_its_text(
    go: GoToolchain, cns_builds: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    """Go before 1.24 has no ``go version -m -json``: a stand-in go that rejects the flag as such a Go does."""
    old_go = tmp_path / "go"
    old_go.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do [ "$a" = -json ] && { echo "flag provided but not defined: -json" >&2; exit 2; }; done\n'
        f'exec {go.go} "$@"\n'
    )
    old_go.chmod(0o755)
    binary, _ = cns_builds["windows"]
    assert read_build_info(old_go, binary, go.env()) == read_build_info(go.go, binary, go.env())
