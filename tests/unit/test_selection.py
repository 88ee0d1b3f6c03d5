"""Which (component, platform) pairs a session works on: components that do not ship a platform are left out of
global sessions with a note, and are an error only when named or when nothing is left (pipeline.select*)."""

from __future__ import annotations

import pytest
from acnbuild import discover, pipeline, settings
from acnbuild.errors import UserError
from acnbuild.model import Repository

from tests.conftest import REPO_ROOT

WINDOWS = ["--platform", "windows/amd64"]
WINDOWS_SHIPPERS = ["azure-ipam", "cni", "cns", "npm"]


@pytest.fixture(scope="module")
def repo() -> Repository:
    return discover.load_repository(REPO_ROOT)


def config(*posargs: str, **env: str) -> settings.Settings:
    return settings.resolve(list(posargs), env=env)


def test_images_leave_out_a_component_without_the_platform(repo: Repository) -> None:
    selection = pipeline.select(repo, config(*WINDOWS))
    assert sorted(t.component.name for t in selection.targets) == WINDOWS_SHIPPERS
    assert selection.notes == ["note: ipv6-hp-bpf does not ship windows/amd64; left out"]


@pytest.mark.parametrize(
    ("posargs", "names"),
    [([*WINDOWS, "--component", "ipv6-hp-bpf"], []), (WINDOWS, ["ipv6-hp-bpf"]), ([*WINDOWS, "--component", "cns",
      "--component", "ipv6-hp-bpf"], [])],
)  # fmt: skip
def test_a_named_component_must_ship_the_platform(repo: Repository, posargs: list[str], names: list[str]) -> None:
    with pytest.raises(UserError, match="ipv6-hp-bpf does not support platform windows/amd64"):
        pipeline.select(repo, config(*posargs), names)
    with pytest.raises(UserError, match="ipv6-hp-bpf does not support platform windows/amd64"):
        pipeline.list_requests(repo, config(*posargs), names, None)


def test_nothing_to_do_is_an_error(repo: Repository) -> None:
    with pytest.raises(UserError, match="nothing to build for windows/arm64"):
        pipeline.select(repo, config("--platform", "windows/arm64"))
    with pytest.raises(UserError, match="no component ships windows/arm64"):
        pipeline.list_requests(repo, config("--platform", "windows/arm64"), [], None)


def test_global_manifest_for_windows_lists_every_component_that_ships_it(repo: Repository) -> None:
    """`nox -s manifest -- --platform windows/amd64`: one list per Windows component, one child each."""
    selection = pipeline.list_requests(repo, config(*WINDOWS), [], None)
    assert sorted(r.component for r in selection.targets) == WINDOWS_SHIPPERS
    assert all([str(c.platform) for c in r.children] == ["windows/amd64"] for r in selection.targets)
    assert selection.notes == ["note: ipv6-hp-bpf does not ship windows/amd64; left out"]


def test_platforms_variable_gives_partial_lists_with_a_note(repo: Repository) -> None:
    selection = pipeline.list_requests(repo, config(), [], "linux/amd64 windows/amd64")
    children = {r.component: [str(c.platform) for c in r.children] for r in selection.targets}
    assert children["ipv6-hp-bpf"] == ["linux/amd64"] and children["cns"] == ["linux/amd64", "windows/amd64"]
    assert selection.notes == ["note: ipv6-hp-bpf does not ship windows/amd64; left out"]


def test_lists_by_default_cover_every_declared_platform(repo: Repository) -> None:
    selection = pipeline.list_requests(repo, config(), [], None)
    children = {r.component: [str(c.platform) for c in r.children] for r in selection.targets}
    assert children["ipv6-hp-bpf"] == ["linux/amd64", "linux/arm64"]
    assert children["npm"] == ["linux/amd64", "linux/arm64", "windows/amd64"]
    assert selection.notes == []


def test_list_children_ignore_platform_tag_variables(repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    """Upstream's manifest-add always names <os>-<arch>-<version>, whatever CNS_PLATFORM_TAG says."""
    monkeypatch.setenv("CNS_PLATFORM_TAG", "ci-tag")
    (request,) = pipeline.list_requests(repo, config(), ["cns"], None).targets
    assert all(c.tag.startswith(f"{c.platform.tag_prefix}-") for c in request.children)
    (image,) = pipeline.select(repo, config(), ["cns"]).targets
    assert image.tag == "ci-tag"
    with pytest.raises(UserError, match="CNS_PLATFORM_TAG"):
        pipeline.select(repo, config("--platform", "linux/amd64", "--platform", "linux/arm64"), ["cns"])


def test_binaries_cover_every_declared_platform(repo: Repository) -> None:
    selection = pipeline.select_binaries(repo, config(), every_platform=True)
    pairs = {(t.component.name, str(t.platform)) for t in selection.targets}
    assert pairs == {(c.name, str(p)) for c in repo.components.values() for p in c.platforms}
    assert len(pairs) == 14 and selection.notes == []


def test_archives_follow_upstream_linux_only_components(repo: Repository) -> None:
    selection = pipeline.select_archives(repo, config(*WINDOWS), every_platform=True)
    assert sorted(t.component.name for t in selection.targets) == ["cni", "cns", "npm"]
    assert selection.notes == [
        "note: azure-ipam has no archive for windows/amd64; left out",
        "note: ipv6-hp-bpf has no archive for windows/amd64; left out",
    ]
    with pytest.raises(UserError, match="azure-ipam has no binary archive for windows/amd64"):
        pipeline.select_archives(repo, config(*WINDOWS), ["azure-ipam"])
    everything = pipeline.select_archives(repo, config(), every_platform=True)
    assert len(everything.targets) == 13  # 3 platforms x (cns, cni, npm) + 2 Linux x (azure-ipam, ipv6-hp-bpf)
