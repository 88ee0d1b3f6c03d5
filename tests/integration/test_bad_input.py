"""Bad input, tried as a user would: exit code 2, a message naming the file and line (or the variable or option)
and what would be valid, no traceback, and nothing built or pushed (a spy engine and a spy registry prove that no
engine or registry was even contacted). Each case runs ``image-push`` (the session that would build and publish)
in one copy of the repository, restored with git after every case.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, git
from tests.integration.conftest import acnbuild
from tests.support.spies import spy_engine, spy_registry

pytestmark = pytest.mark.integration

Edit = Callable[[Path], None]


@pytest.fixture(scope="module")
def mono(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("bad-input") / "mono"
    root.mkdir()
    for item in ("components", "go.mod", "requirements", "tools"):
        source = REPO_ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, root / item)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "import", date=1_700_000_000)
    git(root, "tag", "v1.8.12")
    yield root


def build_file(root: Path, component: str = "cns") -> Path:
    return root / "components" / component / "BUILD.yaml"


def replace(component: str, old: str, new: str, file: str = "BUILD.yaml") -> Edit:
    def edit(root: Path) -> None:
        path = root / "components" / component / file
        text = path.read_text()
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, 1))

    return edit


def append(component: str, text: str, file: str = "BUILD.yaml") -> Edit:
    def edit(root: Path) -> None:
        path = root / "components" / component / file
        path.write_text(path.read_text() + text)

    return edit


def replace_line(component: str, starts: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / "components" / component / "BUILD.yaml"
        lines = path.read_text().splitlines(keepends=True)
        index = next(i for i, line in enumerate(lines) if line.startswith(starts))
        path.write_text("".join([*lines[:index], new, *lines[index + 1 :]]))

    return edit


def write(component: str, data: str | bytes, file: str = "BUILD.yaml") -> Edit:
    def edit(root: Path) -> None:
        path = root / "components" / component / file
        path.write_bytes(data if isinstance(data, bytes) else data.encode())

    return edit


def symlink(component: str, name: str, target: str) -> Edit:
    def edit(root: Path) -> None:
        os.symlink(target, root / "components" / component / name)

    return edit


def both(*edits: Edit) -> Edit:
    def edit(root: Path) -> None:
        for one in edits:
            one(root)

    return edit


def line_of(root: Path, needle: str, component: str = "cns", file: str = "BUILD.yaml") -> int:
    lines = (root / "components" / component / file).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


# A billion laughs under a valid key: nine levels of nine aliases each (about 800 bytes, 387 million strings).
LEVELS = "abcdefghi"
BOMB = "description:\n" + "".join(
    f"  - &{name} [{', '.join(['lol'] * 9) if i == 0 else ', '.join([f'*{LEVELS[i - 1]}'] * 9)}]\n"
    for i, name in enumerate(LEVELS)
)


@dataclass(frozen=True)
class Case:
    edit: Edit | None = None
    args: tuple[str, ...] = ("image-push", "cns")
    env: dict[str, str] = field(default_factory=dict)
    expect: tuple[str, ...] = ()  # each must appear in stderr; "{line:<needle>}" is replaced by the needle's line


CNS = "components/cns/BUILD.yaml"
DOCKERFILE = "components/cns/linux.Dockerfile"
CASES: dict[str, Case] = {
    # --- BUILD.yaml: YAML itself
    "yaml-syntax": Case(append("cns", "  - : [unclosed\n"), expect=(f"{CNS}:", "not valid YAML")),
    "empty-build-file": Case(write("cns", ""), expect=(f"{CNS}:1: expected a mapping", "found nothing")),
    "top-level-list": Case(write("cns", "- image\n- version\n"), expect=(f"{CNS}:1: expected a mapping",)),
    "alias-bomb": Case(replace_line("cns", "description:", BOMB), expect=("YAML aliases (*a) are not allowed",)),
    "merge-key": Case(
        append("cns", "build_args: &args {A: b}\nx_more: {<<: *args}\n"), expect=("YAML aliases (*args)",)
    ),
    "too-deep": Case(
        replace_line("cns", "description:", "description: " + "[" * 40 + "]" * 40 + "\n"), expect=("nested more than",)
    ),
    "duplicate-key": Case(append("cns", "image: azure-cni\n"), expect=("key 'image' appears twice",)),
    "not-utf8": Case(
        write("cns", b"description: caf\xe9\n" + build_file(REPO_ROOT).read_bytes()),
        expect=(f"{CNS}:1: not UTF-8 text (byte 0xe9 at column 17)",),
    ),
    "too-large": Case(append("cns", "# " + "x" * 300_000 + "\n"), expect=(f"{CNS}: ", "too large")),
    # --- BUILD.yaml: the schema
    "wrong-type": Case(replace("cns", "image: azure-cns", "image: 42"), expect=(f"{CNS}:{{line:image:}}: image: 42",)),
    "unknown-key": Case(append("cns", "imgae: x\n"), expect=(f"{CNS}:{{line:imgae}}: imgae: unknown key 'imgae'",)),
    "missing-key": Case(replace("cns", "image: azure-cns\n", ""), expect=("'image' is a required property",)),
    "uppercase-image": Case(
        replace("cns", "image: azure-cns", "image: Azure-CNS"), expect=(f"{CNS}:{{line:image:}}: image:", "[a-z0-9]")
    ),
    "unknown-version-rule": Case(replace("cns", "rule: repo", "rule: newest"), expect=("version.rule",)),
    "reserved-build-arg": Case(append("cns", "build_args: {VERSION: x}\n"), expect=("build_args",)),
    "floating-base": Case(
        replace("cns", "    base: scratch", "    base: busybox:latest"),
        expect=(f"{CNS}:{{line:busybox}}: images.linux.base", "pinned by digest"),
    ),
    "files-dotdot": Case(append("cns", "files: [../npm/BUILD.yaml]\n"), expect=(f"{CNS}:{{line:files:}}: files.0",)),
    "files-absolute": Case(append("cns", "files: [/etc/passwd]\n"), expect=(f"{CNS}:{{line:files:}}: files.0",)),
    # --- BUILD.yaml: what the schema cannot see
    "files-symlink-out": Case(
        both(symlink("cns", "leak", "/etc/passwd"), append("cns", "files: [leak]\n")),
        expect=(f"{CNS}:{{line:files:}}: files[0]: leak: leak is a symbolic link that leads outside cns/",),
    ),
    "files-symlinked-directory-out": Case(
        both(symlink("cns", "etc", "/etc"), append("cns", "files: [etc/passwd]\n")),
        expect=("files[0]: etc/passwd: etc is a symbolic link that leads outside cns/ (to /etc)",),
    ),
    "files-directory": Case(append("cns", "files: [cmd]\n"), expect=("files[0]: cmd: is a directory",)),
    "files-missing": Case(append("cns", "files: [nope.txt]\n"), expect=("files[0]: nope.txt: does not exist in cns/",)),
    "package-missing": Case(
        replace("cns", "./cmd/azure-cns", "./cmd/missing"),
        expect=(f"{CNS}:{{line:package:}}: binaries[0].package: ./cmd/missing is not a directory",),
    ),
    "package-outside": Case(
        replace("cns", "./cmd/azure-cns", "./../npm/cmd/azure-npm"), expect=("leads outside components/cns/",)
    ),
    "package-without-go": Case(replace("cns", "./cmd/azure-cns", "./internal"), expect=("holds no Go source files",)),
    "duplicate-binary": Case(
        replace("npm", "- name: azure-npm", "- name: azure-cns"),
        expect=("components/npm/BUILD.yaml:{line:name:}: binary name 'azure-cns' is already declared at " + CNS,),
    ),
    "duplicate-image": Case(
        replace("npm", "image: azure-npm", "image: azure-cns"),
        expect=("components/npm/BUILD.yaml:2: image name 'azure-cns' is already declared at " + CNS + ":2",),
    ),
    "installer-unknown-binary": Case(
        replace("cni", "binaries: [azure-vnet, azure-ipam]", "binaries: [azure-vnet, nope]"),
        args=("image-push", "cni"),
        expect=("components/cni/BUILD.yaml:", "installer.binaries[1]: 'nope' is not a binary any component declares"),
    ),
    "skus-on-linux": Case(
        replace("cns", "    target: linux\n", "    target: linux\n    skus: {x: {os_version: 10.0.1}}\n"),
        expect=("images.linux.skus: only Windows images have OS SKUs",),
    ),
    "platform-without-image": Case(
        replace("ipv6-hp-bpf", "platforms: [linux/amd64, linux/arm64]", "platforms: [linux/amd64, windows/amd64]"),
        args=("image-push", "ipv6-hp-bpf"),
        expect=("platforms: windows/amd64 needs an `images.windows` entry",),
    ),
    # --- Dockerfiles
    "dockerfile-missing": Case(
        replace("cns", "dockerfile: linux.Dockerfile", "dockerfile: nope.Dockerfile"),
        expect=("images.linux.dockerfile: nope.Dockerfile does not exist",),
    ),
    "dockerfile-symlink-out": Case(
        both(
            symlink("cns", "evil.Dockerfile", "/etc/hostname"),
            replace("cns", "dockerfile: linux.Dockerfile", "dockerfile: evil.Dockerfile"),
        ),
        expect=("images.linux.dockerfile: evil.Dockerfile is a symbolic link that leads outside cns/",),
    ),
    "target-missing": Case(
        replace("cns", "    target: linux", "    target: nostage"),
        expect=(f"{CNS}:{{line:nostage}}: images.linux.target: {DOCKERFILE} has no stage named 'nostage'",),
    ),
    "floating-from": Case(
        replace("cns", "FROM ${BASE_IMAGE} AS linux", "FROM busybox:latest AS linux", "linux.Dockerfile"),
        expect=(f"{DOCKERFILE}:{{line:FROM:linux.Dockerfile}}: FROM busybox:latest is a floating reference",),
    ),
    "copy-from-floating": Case(
        append("cns", "COPY --from=busybox:latest /bin/sh /sh\n", "linux.Dockerfile"),
        expect=(f"{DOCKERFILE}:{{line:--from:linux.Dockerfile}}: COPY --from=busybox:latest is a floating reference",),
    ),
    "run-mount-from-floating": Case(
        append("cns", "RUN --mount=type=bind,from=alpine:3,target=/x true\n", "linux.Dockerfile"),
        expect=("RUN --mount=from=alpine:3 is a floating reference", "RUN is not allowed"),
    ),
    "run-refused": Case(
        append("cns", "RUN echo \\\n  hello\n", "linux.Dockerfile"),
        expect=(f"{DOCKERFILE}:{{line:RUN:linux.Dockerfile}}: RUN is not allowed",),
    ),
    "add-refused": Case(
        append("cns", "ADD https://example.invalid/tool /tool\n", "linux.Dockerfile"), expect=("ADD is not allowed",)
    ),
    # --- variables and options
    "platform-malformed": Case(
        env={"PLATFORM": "linux"}, expect=("platform 'linux' is not of the form", "(from PLATFORM)")
    ),
    "platform-unknown": Case(env={"PLATFORM": "linux/riscv64"}, expect=("platform 'linux/riscv64'", "(from PLATFORM)")),
    "goos-unknown": Case(env={"GOOS": "plan9"}, expect=("platform 'plan9/amd64'", "(from GOOS)")),
    "platform-not-shipped": Case(
        args=("image-push", "ipv6-hp-bpf", "--platform", "windows/amd64"),
        expect=("ipv6-hp-bpf does not support platform windows/amd64", "linux/amd64, linux/arm64"),
    ),
    "registry-scheme": Case(env={"IMAGE_REGISTRY": "https://registry.example.io"}, expect=("IMAGE_REGISTRY",)),
    "registry-port": Case(env={"IMAGE_REGISTRY": "localhost:99999"}, expect=("IMAGE_REGISTRY", "99999")),
    "version-not-a-tag": Case(
        env={"CNS_VERSION": "v1.0/rc 1"}, expect=("$CNS_VERSION", "cannot be used in an image tag")
    ),
    "unknown-builder": Case(
        env={"CONTAINER_BUILDER": "kaniko"}, expect=("CONTAINER_BUILDER", "docker, podman, buildah")
    ),
    "jobs-zero": Case(args=("image-push", "cns", "-j", "0"), expect=("-j 0",)),
    "unknown-option": Case(
        args=("image-push", "cns", "--frobnicate"), expect=("unrecognized arguments: --frobnicate",)
    ),
    "unknown-component": Case(args=("image-push", "cnz"), expect=("unknown component 'cnz'", "azure-ipam")),
    "source-date-epoch": Case(env={"SOURCE_DATE_EPOCH": "yesterday"}, expect=("SOURCE_DATE_EPOCH='yesterday'",)),
    "base-override-malformed": Case(env={"BASE_IMAGE_OVERRIDES": "nonsense"}, expect=("BASE_IMAGE_OVERRIDES",)),
    "base-override-floating": Case(
        env={"BASE_IMAGE_OVERRIDES": "scratch=busybox:latest"}, expect=("BASE_IMAGE_OVERRIDES", "not pinned by digest")
    ),
}


def expected(root: Path, text: str) -> str:
    """``{line:<needle>}`` or ``{line:<needle>:<file>}`` becomes the line of the needle in the edited file."""
    while "{line:" in text:
        start = text.index("{line:")
        end = text.index("}", start)
        needle, _, file = text[start + 6 : end].partition(":")
        if "." not in file:  # "image:" style needles keep their colon
            needle, file = (needle + ":" + file if file else needle), "BUILD.yaml"
        component = "npm" if text.startswith("components/npm/") else "cns"
        text = text[:start] + str(line_of(root, needle, component, file)) + text[end + 1 :]
    return text


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_names_where_and_builds_nothing(mono: Path, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    try:
        if case.edit is not None:
            case.edit(mono)
        with spy_registry() as (registry, registry_spy), spy_engine(tmp_path) as (engine, engine_spy):
            env = {"IMAGE_REGISTRY": registry, "DOCKER_HOST": engine, **case.env}
            result = acnbuild(*case.args, cwd=mono, env=env, timeout=60)
            assert registry_spy.connections == 0 and engine_spy.connections == 0, "an engine or registry was contacted"
        wanted = [expected(mono, e) for e in case.expect]
    finally:
        git(mono, "checkout", "-q", "--", ".")
        git(mono, "clean", "-fdxq")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for text in wanted:
        assert text in result.stderr, f"{text!r} not in:\n{result.stderr}"
    assert "fix:" in result.stderr, f"no fix offered:\n{result.stderr}"
    assert len(result.stderr) < 4000, "the message echoes more than it should"
    assert not (mono / "output").exists() and not (mono / ".acnbuild" / "records").exists()


def test_at_least_thirty_bad_inputs_are_tried() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("args", [("image", "cns", "--help"), ("image-push", "cns", "-h"), ("plan", "--help")])
def test_help_prints_the_options_and_exits_0(args: tuple[str, ...]) -> None:
    result = acnbuild(*args)
    assert result.returncode == 0, result.stderr
    assert "--platform" in result.stdout and "--registry" in result.stdout and "IMAGE_REGISTRY" in result.stdout
    assert "error" not in result.stderr.lower()
