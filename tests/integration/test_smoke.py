"""Nothing unstarted is published: every image is started (BUILD.yaml `smoke`) between its build and its push."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from acnbuild import sessions
from acnbuild.engine.executor import Outcome
from acnbuild.errors import BuildFailed
from acnbuild.image import emulation, wine
from acnbuild.references import Reference
from acnbuild.registry.client import RegistryClient

from tests.integration.conftest import TEST_REGISTRY, acnbuild, build

pytestmark = pytest.mark.integration


def by_kind(outcomes: list[Outcome]) -> dict[str, Outcome]:
    return {o.action.kind: o for o in outcomes}


def in_registry(reference: str) -> bool:
    ref = Reference.parse(reference)
    return RegistryClient.for_reference(ref).get(ref) is not None


def test_an_image_whose_binary_exits_1_is_built_but_never_pushed(monorepo_copy: Path, registry, docker_client) -> None:
    main = monorepo_copy / "components/cns/cmd/azure-cns/main.go"
    main.write_text(main.read_text().replace("func main() {\n", "func main() {\n\tos.Exit(1)\n", 1))
    env = {"CNS_VERSION": "v1.8.12-exits-1"}  # a tag of its own in the session's registry
    result = acnbuild("image-push", "cns", "--registry", registry.host, "--json", cwd=monorepo_copy, env=env)
    assert result.returncode == 1, result.stderr
    assert "smoke test of" in result.stderr and "exit code 1, expected 0" in result.stderr
    assert "it will not be pushed" in result.stderr
    plan = acnbuild("plan", "--component", "cns", "--registry", registry.host, "--json", cwd=monorepo_copy, env=env)
    image = next(a for a in json.loads(plan.stdout)["actions"] if a["kind"] == "image")
    reference = image["reference"]
    assert reference.endswith(":linux-amd64-v1.8.12-exits-1")
    assert docker_client.images.get(reference)  # built ...
    assert not in_registry(reference)  # ... never pushed
    listed = acnbuild("manifest", "--component", "cns", "--platform", "linux/amd64", "--push", "--registry",
                      registry.host, cwd=monorepo_copy, env=env)  # fmt: skip
    assert listed.returncode == 2 and "is not in the registry" in listed.stderr
    assert not in_registry(f"{registry.host}/azure-cns:v1.8.12-exits-1")  # no list includes it


def test_a_wrong_version_line_fails_the_smoke_and_the_push(monorepo_copy: Path, registry) -> None:
    build_file = monorepo_copy / "components/cns/BUILD.yaml"
    text = build_file.read_text()
    build_file.write_text(text.replace('output: "Version {version}"}', 'output: "Version v0.0.0-not-this"}', 1))
    with pytest.raises(BuildFailed):
        sessions.build_images(["--registry", registry.host], ["cns"], prog="test", root=monorepo_copy,
                              push=True)  # fmt: skip
    result = acnbuild("image-push", "cns", "--registry", registry.host, cwd=monorepo_copy)
    assert result.returncode == 1
    assert "no output line 'Version v0.0.0-not-this'" in result.stderr


def test_push_waits_for_the_smoke_test(monorepo_copy: Path) -> None:
    args = ("--component", "cns", "--platform", "linux/amd64", "--builder", "docker", "--json")
    plan = json.loads(acnbuild("plan", *args, cwd=monorepo_copy).stdout)
    smoke = next(a for a in plan["actions"] if a["kind"] == "smoke")
    assert smoke["deps"] == [next(a["id"] for a in plan["actions"] if a["kind"] == "image")]
    result = acnbuild("image-push", "cns", "--dry-run", "--json", cwd=monorepo_copy)
    push = next(a for a in json.loads(result.stdout)["actions"] if a["kind"] == "push")
    assert smoke["id"] in push["deps"]


def test_linux_images_are_started_in_the_engine(docker_client) -> None:
    outcomes = by_kind(build(["npm"]))
    smoke = outcomes["smoke"]
    assert smoke.status in ("built", "cached") and smoke.result["ran"] is True
    assert smoke.result["image_id"] == outcomes["image"].result["image_id"]


def test_buildah_images_are_started_in_the_engine_under_their_own_id(tool, docker_client) -> None:
    tool("buildah")
    tool("skopeo")
    outcomes = by_kind(build(["azure-ipam"], "--builder", "buildah"))
    smoke = outcomes["smoke"]
    assert smoke.result["ran"] is True and smoke.result["image_id"] == outcomes["image"].result["image_id"]
    copy = f"acnbuild-smoke/azure-ipam:{smoke.result['image_id'].removeprefix('sha256:')[:12]}"
    assert copy not in [t for i in docker_client.images.list() for t in i.tags]  # the engine's copy was removed


def test_missing_means_give_a_visible_note_never_silence(monkeypatch, capsys, docker_client) -> None:
    monkeypatch.setattr(emulation, "enabled", lambda: False)
    outcomes = by_kind(build(["ipv6-hp-bpf"], "--platform", "linux/arm64"))
    smoke = outcomes["smoke"]
    assert smoke.result["ran"] is False
    assert "was not started: arm64 emulation is not registered" in smoke.result["note"]
    err = capsys.readouterr().err
    assert "not run" in err and "note: " in err and "arm64 emulation is not registered" in err


def test_windows_without_wine_is_a_visible_note(monkeypatch, capsys, windows_overrides) -> None:
    from tests.integration.conftest import override_args

    monkeypatch.setattr(wine, "WINE_CANDIDATES", ("/nonexistent/wine64",))
    outcomes = by_kind(build(["cns"], "--platform", "windows/amd64", "--builder", "buildah",
                             *override_args(windows_overrides)))  # fmt: skip
    smoke = outcomes["smoke"]
    assert smoke.result["ran"] is False and "wine is not installed" in smoke.result["note"]
    assert "wine is not installed" in capsys.readouterr().err


def test_windows_images_are_started_under_wine(windows_overrides) -> None:
    from tests.integration.conftest import override_args

    outcomes = by_kind(build(["cni"], "--platform", "windows/amd64", "--builder", "buildah",
                             *override_args(windows_overrides)))  # fmt: skip
    smoke = outcomes["smoke"]
    assert smoke.result["ran"] is True, smoke.result.get("note")
    assert smoke.result["how"] == "wine"
    assert TEST_REGISTRY in smoke.result["reference"]
