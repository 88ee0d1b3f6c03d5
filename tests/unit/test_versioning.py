from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from acnbuild import versioning
from acnbuild.errors import UserError
from acnbuild.model import Component, VersionRule

from tests.conftest import git

REPO = VersionRule("repo", variable="CNS_VERSION")
IPAM = VersionRule("component-tag", "azure-ipam*", variable="AZURE_IPAM_VERSION")
BPF = VersionRule("component-tag", "ipv6-hp-bpf*", variable="IPV6_HP_BPF_VERSION")


def component(name: str, rule: VersionRule) -> Component:
    return Component(
        name=name, directory=Path("."), build_file=Path("BUILD.yaml"), image=name, description="",
        version_rule=rule, binaries=(), platforms=(), images={},
    )  # fmt: skip


UPSTREAM_LIKE = [
    ["v1.8.11"],
    ["azure-ipam/v0.4.1", "ipv6-hp-bpf/v0.0.3"],
    ["v1.8.12"],
    ["dropgz/v0.0.12", "zapai/v0.1.0", "azure-iptables-monitor/v1.0.0", "cilium-log-collector/v0.2"],
    ["azure-block-iptables/v0.0.1", "azure-ip-masq-merger/v0.0.2"],
    [],
]


def test_repo_version_skips_excluded_tag_families(make_git_repo) -> None:
    root = make_git_repo(UPSTREAM_LIKE)
    head = git(root, "rev-parse", "--short", "HEAD")
    assert versioning.component_version(component("cns", REPO), root, env={}) == f"v1.8.12-3-g{head}"


def test_component_tag_version_drops_prefix(make_git_repo) -> None:
    root = make_git_repo(UPSTREAM_LIKE)
    head = git(root, "rev-parse", "--short", "HEAD")
    assert versioning.component_version(component("azure-ipam", IPAM), root, env={}) == f"v0.4.1-4-g{head}"
    assert versioning.component_version(component("ipv6-hp-bpf", BPF), root, env={}) == f"v0.0.3-4-g{head}"


def test_exact_tag_gives_bare_version(make_git_repo) -> None:
    root = make_git_repo([["v1.8.12", "azure-ipam/v0.4.1"]])
    assert versioning.component_version(component("cni", REPO), root, env={}) == "v1.8.12"
    assert versioning.component_version(component("azure-ipam", IPAM), root, env={}) == "v0.4.1"


def test_no_matching_tag_falls_back_to_short_sha(make_git_repo) -> None:
    root = make_git_repo([["dropgz/v0.0.12"], []])
    head = git(root, "rev-parse", "--short", "HEAD")
    assert versioning.component_version(component("cns", REPO), root, env={}) == head
    assert versioning.component_version(component("azure-ipam", IPAM), root, env={}) == head


def test_shallow_clone_falls_back_to_short_sha(make_git_repo, tmp_path: Path) -> None:
    origin = make_git_repo(UPSTREAM_LIKE)
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth=1", "--no-tags", f"file://{origin}", str(clone))
    head = git(clone, "rev-parse", "--short", "HEAD")
    assert versioning.component_version(component("npm", REPO), clone, env={}) == head


def test_upstream_version_variables_and_their_precedence(make_git_repo) -> None:
    """CNS_VERSION ?= $(ACN_VERSION); AZURE_IPAM_VERSION and IPV6_HP_BPF_VERSION stand alone; VERSION pins nothing."""
    root = make_git_repo(UPSTREAM_LIKE)
    head = git(root, "rev-parse", "--short", "HEAD")
    cns, ipam, bpf = component("cns", REPO), component("azure-ipam", IPAM), component("ipv6-hp-bpf", BPF)
    assert versioning.component_version(cns, root, env={"ACN_VERSION": "v2.0.0"}) == "v2.0.0"
    both = {"ACN_VERSION": "v2.0.0", "CNS_VERSION": "v2.0.1"}
    assert versioning.component_version(cns, root, env=both) == "v2.0.1"
    assert versioning.component_version(ipam, root, env={"ACN_VERSION": "v2.0.0"}) == f"v0.4.1-4-g{head}"
    assert versioning.component_version(ipam, root, env={"AZURE_IPAM_VERSION": "v0.5.0"}) == "v0.5.0"
    assert versioning.component_version(bpf, root, env={"IPV6_HP_BPF_VERSION": "v0.1.0"}) == "v0.1.0"
    pinned = {"VERSION": "v9.9.9"}  # upstream's VERSION is only a build argument
    assert versioning.component_version(cns, root, env=pinned) == f"v1.8.12-3-g{head}"
    assert versioning.component_version(ipam, root, env=pinned) == f"v0.4.1-4-g{head}"
    assert versioning.component_version(cns, root, env={"CNS_VERSION": ""}) == f"v1.8.12-3-g{head}"


def test_version_and_revision_recipes(make_git_repo) -> None:
    root = make_git_repo(UPSTREAM_LIKE)
    head = git(root, "rev-parse", "--short", "HEAD")
    assert versioning.repo_version(root, env={}) == f"v1.8.12-3-g{head}"
    assert versioning.repo_version(root, env={"ACN_VERSION": "v7"}) == "v7"
    assert versioning.short_revision(root, env={}) == head
    assert versioning.short_revision(root, env={"REVISION": "abc"}) == "abc"


def test_platform_tag_variable(make_git_repo) -> None:
    cns = replace(component("cns", REPO), tag_variable="CNS_PLATFORM_TAG")
    assert versioning.tag_override(cns, env={}) is None
    assert versioning.tag_override(cns, env={"CNS_PLATFORM_TAG": "cyclonus"}) == "cyclonus"
    with pytest.raises(UserError, match="CNS_PLATFORM_TAG"):
        versioning.tag_override(cns, env={"CNS_PLATFORM_TAG": "a/b"})


def test_unexcluded_prefixed_tag_is_a_clear_error(make_git_repo) -> None:
    root = make_git_repo([["v1.8.12"], ["mq/v0.1.0"]])
    with pytest.raises(UserError, match="cannot be used in an image tag"):
        versioning.component_version(component("cns", REPO), root, env={})


def test_not_a_git_repository_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        versioning.component_version(component("cns", REPO), tmp_path, env={})
    assert "ACN_VERSION" in str(info.value)


def test_source_date_epoch_from_last_commit_or_env(make_git_repo) -> None:
    root = make_git_repo([["v1.0.0"], []])
    assert versioning.revision(root, env={}).source_date_epoch == 1_700_000_001
    assert versioning.revision(root, env={"SOURCE_DATE_EPOCH": "42"}).source_date_epoch == 42
    with pytest.raises(UserError):
        versioning.revision(root, env={"SOURCE_DATE_EPOCH": "yesterday"})
