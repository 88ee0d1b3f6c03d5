from __future__ import annotations

import pytest
from acnbuild import naming, settings
from acnbuild.errors import UserError
from acnbuild.platforms import Platform
from acnbuild.references import Registry


@pytest.mark.parametrize(
    ("platform", "version", "tag"),
    [
        ("linux/amd64", "v1.8.12-15-gcbd7560", "linux-amd64-v1.8.12-15-gcbd7560"),
        ("linux/arm64", "v0.4.1", "linux-arm64-v0.4.1"),
        ("windows/amd64", "v1.8.12", "windows-amd64-v1.8.12"),
        ("linux/arm64/v8", "v1", "linux-arm64-v8-v1"),
    ],
)
def test_platform_tag_is_upstreams_subst(platform: str, version: str, tag: str) -> None:
    assert naming.platform_tag(Platform.parse(platform), version) == tag


def test_reference() -> None:
    reference = naming.image_reference(Registry.parse("acnpublic.azurecr.io"), "azure-cns", "linux-amd64-v1")
    assert str(reference) == "acnpublic.azurecr.io/azure-cns:linux-amd64-v1"


@pytest.mark.parametrize("registry", ["acnpublic.azurecr.io", "127.0.0.1:5000", "localhost:5000/acn/dev"])
def test_valid_registries(registry: str) -> None:
    assert str(settings.resolve(["--registry", registry], env={}).registry) == registry


@pytest.mark.parametrize("registry", ["https://x.io", "a b", "localhost:99999", "r.io/UPPER"])
def test_invalid_registries(registry: str) -> None:
    with pytest.raises(UserError, match="--registry"):
        settings.resolve(["--registry", registry], env={})


@pytest.mark.parametrize("text", ["linux", "linux/s390x", "darwin/amd64", "linux//", "linux/amd64/v8/x"])
def test_unknown_platforms_list_known_ones(text: str) -> None:
    with pytest.raises(UserError) as info:
        Platform.parse(text)
    assert "linux/amd64" in str(info.value)


def test_defaults() -> None:
    config = settings.resolve([], env={})
    assert config.platform == Platform("linux", settings.host_arch())
    assert str(config.registry) == "acnpublic.azurecr.io"
    assert config.builder == "docker"


def test_environment() -> None:
    env = {"PLATFORM": "linux/arm64", "IMAGE_REGISTRY": "r.io/", "CONTAINER_BUILDER": "buildah"}
    config = settings.resolve([], env=env)
    assert (str(config.platform), str(config.registry), config.builder) == ("linux/arm64", "r.io", "buildah")


HOST = settings.host_arch()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, f"linux/{HOST}"),
        ({"GOOS": "windows"}, f"windows/{HOST}"),  # GOARCH ?= $(go env GOARCH): the host's
        ({"GOOS": "windows", "GOARCH": "amd64"}, "windows/amd64"),
        ({"OS": "windows", "GOOS": "linux", "GOARCH": "arm64"}, "windows/arm64"),  # OS ?= $(GOOS): OS wins
        ({"ARCH": "arm64", "GOARCH": "amd64"}, "linux/arm64"),
        ({"OS": "windows", "ARCH": "amd64"}, "windows/amd64"),  # upstream's pipelines: make X OS=windows ARCH=amd64
        ({"OS": "windows", "ARCH": "amd64", "PLATFORM": "linux/arm64"}, "linux/arm64"),  # PLATFORM wins
    ],
)
def test_platform_precedence_is_upstreams(env: dict[str, str], expected: str) -> None:
    """PLATFORM > OS/ARCH > GOOS/GOARCH > host, from PLATFORM ?= $(OS)/$(ARCH), OS ?= $(GOOS), ARCH ?= $(GOARCH)."""
    assert str(settings.resolve([], env=env).platform) == expected


def test_bad_platform_names_the_variable_it_came_from() -> None:
    with pytest.raises(UserError, match=r"from OS/ARCH"):
        settings.resolve([], env={"OS": "Windows_NT", "ARCH": "amd64"})
    with pytest.raises(UserError, match=r"from PLATFORM"):
        settings.resolve([], env={"PLATFORM": "linux/s390x"})


def test_archive_dir_and_builder_choice() -> None:
    assert settings.resolve([], env={}).image_archive_dir is None
    assert str(settings.resolve([], env={"IMAGE_ARCHIVE_DIR": "/tmp/a"}).image_archive_dir) == "/tmp/a"
    assert not settings.resolve([], env={}).builder_explicit
    assert settings.resolve([], env={"CONTAINER_BUILDER": "docker"}).builder_explicit
    assert settings.resolve(["--builder", "podman"], env={}).builder_explicit


def test_archive_names_are_upstreams() -> None:
    pattern = "azure-vnet-cni-{os}-{arch}-{version}"
    assert naming.archive_file_name(pattern, Platform.parse("linux/arm64"), "v1") == "azure-vnet-cni-linux-arm64-v1.tgz"
    assert naming.archive_file_name(pattern, Platform.parse("windows/amd64"), "v1") == (
        "azure-vnet-cni-windows-amd64-v1.zip"
    )


def test_goos_picks_the_platform_like_upstream() -> None:
    assert str(settings.resolve([], env={"GOOS": "windows", "GOARCH": "amd64"}).platform) == "windows/amd64"
    # PLATFORM wins over GOOS, as PLATFORM ?= $(OS)/$(ARCH) does.
    env = {"GOOS": "windows", "PLATFORM": "linux/arm64"}
    assert str(settings.resolve([], env=env).platform) == "linux/arm64"


def test_posargs_win_over_environment() -> None:
    env = {"PLATFORM": "linux/arm64", "IMAGE_REGISTRY": "r.io", "CONTAINER_BUILDER": "buildah"}
    posargs = ["--platform", "windows/amd64", "--registry", "127.0.0.1:5000", "--builder", "podman", "--dry-run"]
    config = settings.resolve(posargs, env=env)
    assert (str(config.platform), str(config.registry), config.builder, config.dry_run) == (
        "windows/amd64",
        "127.0.0.1:5000",
        "podman",
        True,
    )


def test_bad_builder_and_unknown_option() -> None:
    with pytest.raises(UserError, match="docker, podman, buildah"):
        settings.resolve([], env={"CONTAINER_BUILDER": "kaniko"})
    with pytest.raises(UserError, match="unrecognized arguments"):
        settings.resolve(["--platfrom", "linux/amd64"], env={})
