"""The one table of session verbs (standard library only: ``noxfile.py`` imports it before any install).

A component verb becomes one nox session per component (``cns-image``); a global verb one session (``images``).
``python -m acnbuild <verb> [component] [options]`` looks the handler up here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verb:
    name: str
    doc: str  # one line for `nox -l`; ``{c}`` is the component
    handler: str  # "module:function" inside acnbuild, imported only when the verb runs
    per_component: bool = False
    suffix: str | None = None  # the session name after ``<c>-`` when it differs from ``name`` (cns-version)

    def session_name(self, component: str | None = None) -> str:
        return f"{component}-{self.suffix or self.name}" if self.per_component else self.name


VERBS: tuple[Verb, ...] = (
    Verb("image", "Build the {c} image for PLATFORM (default linux/amd64).", "sessions:image", True),
    Verb("image-name", "Print the {c} image name (bare, as upstream's {c}-image-name).", "sessions:image_name", True),
    Verb("image-name-and-tag", "Print the {c} image reference for PLATFORM.", "sessions:image_name_and_tag", True),
    Verb(
        "image-push",
        "Build if needed, push the {c} image for PLATFORM, verify its digest in the registry.",
        "sessions:image_push",
        True,
    ),
    Verb("image-pull", "Pull the {c} image for PLATFORM.", "sessions:image_pull", True),
    Verb(
        "manifest-build",
        "Assemble the {c} manifest list from pushed platform images (output/manifests/).",
        "sessions:manifest_build",
        True,
    ),
    Verb(
        "manifest-push",
        "Assemble, push and verify the {c} manifest list <registry>/<image>:<version>.",
        "sessions:manifest_push",
        True,
    ),
    Verb(
        "manifest-archive",
        "Save the {c} manifest list with its images as <IMAGE_ARCHIVE_DIR>/<image>-<version>.tar.",
        "sessions:manifest_archive",
        True,
    ),
    Verb(
        "component-version",
        "Print the {c} version (upstream's {c}-version).",
        "sessions:component_version",
        True,
        suffix="version",
    ),
    Verb("binary", "Compile the {c} binaries for PLATFORM into output/<os>_<arch>/.", "sessions:binary", True),
    Verb(
        "binary-archive",
        "Archive the {c} binaries for PLATFORM (.tgz Linux, .zip Windows; upstream's {c}-archive).",
        "sessions:binary_archive",
        True,
    ),
    Verb("images", "Build every component's image for PLATFORM (those without it are left out).", "sessions:images"),
    Verb("binaries", "Compile every component's binaries for every platform it declares.", "sessions:binaries"),
    Verb(
        "binary-archives",
        "Archive every component's binaries for every platform it archives.",
        "sessions:binary_archives",
    ),
    Verb(
        "manifest-archives",
        "Save every component's list with its images (IMAGE_ARCHIVE_DIR).",
        "sessions:manifest_archives",
    ),
    Verb("version", "Print the repository version (ACN_VERSION; upstream's make version).", "sessions:version"),
    Verb("revision", "Print the short commit hash (REVISION; upstream's make revision).", "sessions:revision"),
    Verb(
        "manifest",
        "Build (with --push, publish) lists: -- [--component C] [--platform P] [--append] [--push].",
        "sessions:manifest",
    ),
    Verb("plan", "Show the actions a build would take and why (-- --json, or --matrix for CI).", "sessions:plan"),
    Verb("registry", "Start/stop a local registry on loopback (-- start|stop|status [--port N]).", "sessions:registry"),
    Verb(
        "windows-standin-bases",
        "Push stand-in Windows bases to a loopback registry; prints BASE_IMAGE_OVERRIDES.",
        "sessions:windows_standin_bases",
    ),
    Verb(
        "qemu-user-static",
        "Register arm64 emulation (Debian qemu-user-static + binfmt_misc); needs root.",
        "sessions:qemu_user_static",
    ),
    Verb(
        "verify-reproducible",
        "Build every target twice in fresh clones at different paths and compare the bytes (-- as for images).",
        "sessions:verify_reproducible",
    ),
    Verb(
        "base-lock",
        "Compare BUILD.yaml bases with requirements/base-images.lock (-- refresh: new digests via skopeo).",
        "sessions:base_lock",
    ),
    Verb(
        "tests",
        "Run unit and integration tests (real engine, registry, builders); pytest args after --.",
        "checks:tests",
    ),
    Verb("lint", "Check Python (ruff, mypy, import layers), the CI workflow and Go (gofmt, go vet).", "checks:lint"),
)
BY_NAME = {verb.name: verb for verb in VERBS}
