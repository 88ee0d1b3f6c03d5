"""Hermeticity: only declared inputs reach an image, the environment reaches no binary, the checkout's path reaches
nothing, two clean builds agree byte for byte, and inputs that move under a build leave no wrong record."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from acnbuild import pipeline, reproducible
from acnbuild.engine.executor import Outcome
from acnbuild.errors import BuildFailed
from acnbuild.paths import Layout, user_cache
from acnbuild.platforms import Platform

from tests.integration.conftest import TEST_REGISTRY, acnbuild, build, override_args

pytestmark = pytest.mark.integration
AMD64 = Platform("linux", "amd64")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def by_kind(outcomes: list[Outcome]) -> dict[str, Outcome]:
    return {o.action.kind: o for o in outcomes}


def test_a_dockerfile_that_copies_an_undeclared_file_fails(monorepo_copy: Path, docker_client) -> None:
    assert (monorepo_copy / "components/cns/README.md").is_file()  # it exists, but BUILD.yaml does not list it
    dockerfile = monorepo_copy / "components/cns/linux.Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "COPY README.md /README.md\n")
    result = acnbuild("image", "cns", "--registry", TEST_REGISTRY, cwd=monorepo_copy)
    assert result.returncode == 1, result.stderr
    assert "README.md" in result.stderr and ".acnbuild/logs/image_cns_linux_amd64_docker.log" in result.stderr


def test_ambient_go_settings_change_no_binary(monorepo_copy: Path, tmp_path: Path, docker_client) -> None:
    goenv = tmp_path / "goenv"
    goenv.write_text("GOFLAGS=-race\nCGO_ENABLED=1\nGOAMD64=v3\n")
    hostile = {
        # each would change the binary if it reached the compiler
        "GOFLAGS": "-ldflags=-X=main.version=leaked -tags=leak",
        "CGO_ENABLED": "1",
        "GOPATH": str(tmp_path / "gopath"),
        "GOROOT": "/nonexistent/goroot",
        "HOME": str(tmp_path / "home"),
        "GOENV": str(goenv),
        "GOAMD64": "v3",
        "GOEXPERIMENT": "loopvar",
        "ACNBUILD_CACHE": str(user_cache()),  # the toolchain and build cache stay shared (HOME moved)
    }
    layout = Layout(monorepo_copy)
    binaries = {}
    for name, env in (("clean", {"ACNBUILD_CACHE": str(user_cache())}), ("hostile", hostile)):
        shutil.rmtree(layout.output, ignore_errors=True)
        shutil.rmtree(layout.state, ignore_errors=True)
        result = acnbuild("image", "azure-ipam", "--registry", TEST_REGISTRY, cwd=monorepo_copy, env=env)
        assert result.returncode == 0, result.stderr
        binaries[name] = {p.relative_to(layout.output).as_posix(): sha256(p)
                          for p in layout.platform_dir(AMD64).rglob("*") if p.is_file()}  # fmt: skip
    assert set(binaries["clean"]) == {"linux_amd64/azure-ipam/azure-ipam", "linux_amd64/dropgz-azure-ipam/dropgz"}
    assert binaries["hostile"] == binaries["clean"]


@pytest.mark.parametrize("builder", ["buildah", "podman"])
def test_two_clones_at_different_paths_give_identical_binaries_and_images(
    monorepo_copy: Path, tmp_path: Path, tool, builder: str
) -> None:
    tool(builder)
    other = reproducible.clone(monorepo_copy, tmp_path / "somewhere" / "much" / "deeper" / "clone")
    results = []
    for root in (monorepo_copy, other):
        outcomes = build(["cns", "azure-ipam"], "--builder", builder, root=root)
        results.append({o.action.id: o.result for o in outcomes if o.action.kind != "smoke"})
    assert results[0].keys() == results[1].keys()
    for action_id, result in results[0].items():
        for field in ("sha256", "image_id", "sbom_sha256"):
            if field in result:
                assert results[1][action_id][field] == result[field], f"{action_id} {field}"
    assert sum("image_id" in r for r in results[0].values()) == 2


def test_verify_reproducible_builds_twice_and_compares(windows_overrides, tool) -> None:
    tool("buildah")
    result = acnbuild(
        "verify-reproducible", "--builder", "buildah", "--registry", TEST_REGISTRY, "--platform", "linux/amd64",
        "--platform", "windows/amd64", "--component", "cns", "--component", "azure-ipam",
        *override_args(windows_overrides), timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reproducible: " in result.stderr and "results identical in both builds" in result.stderr
    for action in ("go:azure-cns:windows/amd64", "dropgz:azure-ipam:linux/amd64", "image:cns:windows/amd64:buildah"):
        assert action in result.stderr


def test_a_source_edited_during_the_run_leaves_no_wrong_record(monorepo_copy: Path, monkeypatch, docker_client) -> None:
    """The user saves B and starts a build (the plan fingerprints B), then saves C while it runs: the compiler would
    read C under B's fingerprint. The result is discarded and nothing recorded, so going back to B rebuilds."""
    layout = Layout(monorepo_copy)
    binary = layout.binary("azure-cns", AMD64, directory="cns")
    build(["cns"], root=monorepo_copy)
    good = sha256(binary)
    record = (layout.records / "go_azure-cns_linux_amd64.json").read_text()
    source = monorepo_copy / "components/cns/cmd/azure-cns/main.go"
    original = source.read_text()
    saved_b = original.replace("func main() {\n", 'func main() {\n\tprintln("b")\n', 1)
    saved_c = original.replace("func main() {\n", 'func main() {\n\tprintln("c")\n', 1)
    source.write_text(saved_b)
    real_execute = pipeline.execute

    def save_c_then_execute(*args, **kwargs):  # the plan saw B; the compile will see C
        source.write_text(saved_c)
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(pipeline, "execute", save_c_then_execute)
    with pytest.raises(BuildFailed, match="go:azure-cns:linux/amd64"):
        build(["cns"], root=monorepo_copy)
    monkeypatch.undo()
    assert sha256(binary) == good  # C's binary was discarded, the previous one stays
    assert (layout.records / "go_azure-cns_linux_amd64.json").read_text() == record  # nothing recorded for B
    source.write_text(saved_b)  # back to B: it must really be compiled now, not "cached" with C inside
    again = by_kind(build(["cns"], root=monorepo_copy))
    assert again["go-binary"].status == "built" and sha256(binary) != good
    with_b = sha256(binary)
    shutil.rmtree(layout.output)
    shutil.rmtree(layout.records)
    assert by_kind(build(["cns"], root=monorepo_copy))["go-binary"].status == "built"
    assert sha256(binary) == with_b  # what was recorded for B is B's binary


def test_an_edit_undone_during_the_compile_is_still_noticed(monorepo_copy: Path, monkeypatch) -> None:
    """A-B-A: the content matches the plan again when the compile ends, but the compiler may have read B."""
    from acnbuild.go import actions, compile

    layout = Layout(monorepo_copy)
    source = monorepo_copy / "components/cns/cmd/azure-cns/main.go"
    real = compile.compile_binary

    def compile_while_editing(toolchain, root, job, output, log, verify=None):
        def edit_and_undo_then_verify() -> None:
            text = source.read_text()
            source.write_text(text + "\n// saved by an editor mid-compile\n")
            source.write_text(text)
            assert verify is not None
            verify()

        real(toolchain, root, job, output, log, edit_and_undo_then_verify)

    monkeypatch.setattr(actions, "compile_binary", compile_while_editing)
    repo_plan = pipeline_plan(monorepo_copy)
    outcome = next(o for o in pipeline_execute(monorepo_copy, repo_plan) if o.action.kind == "go-binary")
    assert outcome.status == "failed"
    assert "changed while it was being built (components/cns/cmd/azure-cns/main.go)" in (outcome.error or "")
    assert not (layout.records / "go_azure-cns_linux_amd64.json").exists()
    assert not layout.binary("azure-cns", AMD64, directory="cns").exists()


def pipeline_plan(root: Path):
    from acnbuild import discover, settings

    repo = discover.load_repository(root)
    config = settings.resolve(["--registry", TEST_REGISTRY, "--builder", "buildah"])
    targets = pipeline.select(repo, config, ["cns"]).targets
    return repo, config, pipeline.plan(repo, config, targets)


def pipeline_execute(root: Path, planned) -> list[Outcome]:
    repo, config, built = planned
    return pipeline.execute(repo, config, built)


def test_a_symlink_swapped_in_after_planning_is_not_followed(monorepo_copy: Path, monkeypatch, docker_client) -> None:
    """Discovery saw a regular file; a link to /etc/passwd put in its place before staging must fail the image."""
    conflist = monorepo_copy / "components/azure-ipam/conflist/azilium.conflist"
    build_file = monorepo_copy / "components/azure-ipam/BUILD.yaml"
    assert "conflist/azilium.conflist" in build_file.read_text()
    real_execute = pipeline.execute

    def swap_then_execute(*args, **kwargs):
        conflist.unlink()
        os.symlink("/etc/passwd", conflist)
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(pipeline, "execute", swap_then_execute)
    with pytest.raises(BuildFailed, match="dropgz:azure-ipam:linux/amd64"):
        build(["azure-ipam"], root=monorepo_copy)
    layout = Layout(monorepo_copy)
    failed = [json.loads(p.read_text()) for p in layout.records.glob("*.json")]
    assert not any(r["action"].startswith(("image:", "dropgz:")) for r in failed)
    staged = list((layout.installer_stages).rglob("azilium.conflist.gz")) + list(layout.contexts.rglob("azilium*"))
    assert staged == []


def test_a_go_compile_error_exits_1_names_its_log_and_keeps_the_previous_results(
    monorepo_copy: Path, docker_client
) -> None:
    layout = Layout(monorepo_copy)
    first = by_kind(build(["cns"], root=monorepo_copy))
    binary = layout.binary("azure-cns", AMD64, directory="cns")
    good, image_id = sha256(binary), first["image"].result["image_id"]
    reference = first["image"].action.details["reference"]
    source = monorepo_copy / "components/cns/cmd/azure-cns/main.go"
    source.write_text(source.read_text() + "\nfunc broken() { return 1 }\n")
    result = acnbuild("image", "cns", "--registry", TEST_REGISTRY, cwd=monorepo_copy)
    assert result.returncode == 1
    assert "go build of azure-cns for linux/amd64 failed" in result.stderr
    assert ".acnbuild/logs/go_azure-cns_linux_amd64.log" in result.stderr
    assert "too many return values" in result.stderr
    assert "Traceback" not in result.stderr
    assert sha256(binary) == good
    assert docker_client.images.get(reference).id == image_id
