"""The baseline Dockerfiles bench/scenarios.py times: generated from BUILD.yaml, same final stages as ours."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))

import baselines
import systems

GO_IMAGE = "acnbench/go-builder:go1.26.6"


def generate(name: str, os_name: str, style: str) -> str:
    components = baselines.load_components(REPO_ROOT)
    return baselines.dockerfile(components, name, os_name, style, GO_IMAGE, "acnbench-test", REPO_ROOT)


def stages(text: str) -> list[str]:
    return [line.split()[-1] for line in text.splitlines() if line.startswith("FROM ")]


def test_components_and_installers_come_from_build_yaml() -> None:
    components = baselines.load_components(REPO_ROOT)
    assert sorted(components) == ["azure-ipam", "cni", "cns", "ipv6-hp-bpf", "npm"]
    assert components["cni"].installer_binaries == ("azure-vnet", "azure-ipam")
    assert components["cns"].binaries[0].package == "./components/cns/cmd/azure-cns"
    assert baselines.find_binary(components, "azure-ipam").component == "azure-ipam"
    assert "windows/amd64" not in components["ipv6-hp-bpf"].platforms


def test_upstream_style_copies_everything_and_rebuilds_with_a() -> None:
    text = generate("cns", "linux", "upstream")
    assert "COPY . .\n" in text
    assert " go build -a " in text
    assert "--mount=type=cache" not in text
    assert '-X main.version=${VERSION}"' in text
    assert "FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS azure-cns" in text


def test_well_written_copies_go_mod_first_then_only_its_sources_with_cache_mounts() -> None:
    text = generate("cns", "linux", "wellwritten")
    lines = text.splitlines()
    assert "COPY . ." not in text and " -a " not in text
    go_mod = lines.index("COPY go.mod ./")
    assert lines.index("COPY components/cns components/cns") > go_mod
    assert lines.index("COPY components/internal components/internal") > go_mod
    assert "--mount=type=cache,id=acnbench-test-gobuild,target=/root/.cache/go-build" in text
    assert "--mount=type=cache,id=acnbench-test-gomod,target=/go/pkg/mod" in text


def test_final_stage_is_our_dockerfiles_with_copies_from_the_builder_stages() -> None:
    text = generate("cns", "linux", "upstream")
    final = text[text.index("FROM ${BASE_IMAGE} AS linux") :]
    ours = (REPO_ROOT / "components" / "cns" / "linux.Dockerfile").read_text()
    ours_final = ours[ours.index("FROM ${BASE_IMAGE} AS linux") :]
    assert final == ours_final.replace("COPY bin/azure-cns", "COPY --from=azure-cns /out/azure-cns")


def test_dropgz_images_get_compressor_and_dropgz_stages_with_the_installer_payload() -> None:
    text = generate("cni", "linux", "wellwritten")
    assert stages(text) == ["azure-vnet", "azure-ipam", "compressor", "dropgz", "linux"]
    assert "COPY --from=azure-ipam /out/azure-ipam ./" in text
    assert "COPY components/cni/conflist/azure.conflist ./azure.conflist" in text
    assert "sha256sum * > /tmp/sum.txt" in text and "gzip -9 *" in text
    assert "COPY --from=dropgz /out/dropgz /dropgz" in text


def test_a_windows_stage_without_dropgz_builds_no_installer() -> None:
    text = generate("cni", "windows", "upstream")
    assert stages(text) == ["azure-vnet", "azure-ipam", "windows"]
    assert "-o /out/azure-vnet.exe" in text
    assert "COPY components/cni/conflist/azure.conflist /Windows/System32/azure.conflist" in text


def test_write_dockerfiles_covers_every_component_os_and_style(tmp_path: Path) -> None:
    written = baselines.write_dockerfiles(tmp_path, GO_IMAGE, root=REPO_ROOT)
    assert len(written) == 2 * (4 * 2 + 1)  # four components with linux+windows, ipv6-hp-bpf linux only
    assert all(path.read_text().startswith("# ") for path in written.values())


def test_base_overrides_follow_our_rule() -> None:
    overrides = systems.parse_overrides(
        "mcr.microsoft.com/windows/servercore:ltsc2022=127.0.0.1:5/servercore@sha256:" + "a" * 64
        + " mcr.microsoft.com/oss/hpc=127.0.0.1:5/hpc@sha256:" + "b" * 64
    )  # fmt: skip
    pinned = "@sha256:" + "c" * 64
    assert systems.apply_override("mcr.microsoft.com/windows/servercore:ltsc2022" + pinned, overrides).endswith(
        "a" * 64
    )
    assert systems.apply_override("mcr.microsoft.com/oss/hpc:v1.0.0" + pinned, overrides).endswith("b" * 64)
    assert systems.apply_override("scratch", overrides) == "scratch"
    assert systems.apply_override("other/base:1" + pinned, overrides) == "other/base:1" + pinned


BUILDKIT_NOOP = """#7 [azure-cns 3/4] COPY . .
#7 CACHED
#8 [azure-cns 4/4] RUN CGO_ENABLED=0 go build -a -o /out/azure-cns ./components/cns/cmd/azure-cns
#8 CACHED
#9 [linux 1/1] COPY --from=azure-cns /out/azure-cns /usr/local/bin/azure-cns
#9 CACHED
"""
BUILDAH_REBUILD = """[1/2] STEP 3/7: COPY . .
--> Using cache c2775cab87c6
[1/2] STEP 7/7: RUN CGO_ENABLED=0 go build -a -o /out/azure-cns.exe ./components/cns/cmd/azure-cns
--> 4872eee52ca2
[2/2] STEP 3/5: COPY --from=azure-cns /out/azure-cns.exe /azure-cns.exe
--> Using cache 63138e082de7
"""


def test_executed_run_steps_tells_a_cached_no_op_from_a_rebuild() -> None:
    assert systems.executed_run_steps(BUILDKIT_NOOP) == 0
    rebuilt = BUILDKIT_NOOP.replace("#8 CACHED", "#8 DONE 110.0s")
    assert systems.executed_run_steps(rebuilt) == 1
    assert systems.executed_run_steps(BUILDAH_REBUILD) == 1
    assert systems.executed_run_steps(BUILDAH_REBUILD.replace("--> 4872eee52ca2", "--> Using cache 4872eee52ca2")) == 0
