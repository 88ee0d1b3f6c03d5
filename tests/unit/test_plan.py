from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from acnbuild import discover
from acnbuild.engine.executor import Executor, Status
from acnbuild.engine.plan import Action, Check, Freshness, Plan, PlanBuilder, Result
from acnbuild.engine.records import RecordStore
from acnbuild.errors import BuildFailed
from acnbuild.go import toolchain
from acnbuild.go.actions import GoPlanner
from acnbuild.image.bases import BaseOverrides
from acnbuild.image.builders import Builder, BuilderMode, BuildRequest, BuiltImage, Capabilities
from acnbuild.image.planner import ImagePlanner
from acnbuild.platforms import Platform
from acnbuild.references import Reference, Registry
from acnbuild.targets import image_targets

AMD64 = Platform("linux", "amd64")


@dataclass
class RecordingBuilder:
    """Records build requests instead of building: the plan's shape is under test, not an engine."""

    name: str = "recording"
    mode: BuilderMode = BuilderMode.DAEMONLESS
    requests: list[BuildRequest] = field(default_factory=list)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(windows_images=True, store_os=frozenset({"linux", "windows"}), oci_archives=False,
                            buildkit=False, reproducible=True, engine_store=False)  # fmt: skip

    def describe(self) -> str:
        return "recording builder"

    def check_platform(self, platform: Platform) -> None:
        return None

    def build(self, request: BuildRequest, log: Path) -> BuiltImage:
        self.requests.append(request)
        return BuiltImage(request.reference, "sha256:" + "1" * 64)

    def image_id(self, reference: Reference | str) -> str | None:
        return None

    def tag(self, image_id: str, reference: Reference) -> None:
        return None

    def size(self, reference: Reference) -> int | None:
        return None

    def push(self, reference: Reference, log: Path) -> str | None:
        return None

    def pull(self, reference: Reference, platform: Platform, log: Path) -> None:
        return None

    def push_image(self, image_id: str, destination: Reference, log: Path) -> str | None:
        return None


def make_plan(root: Path, names: list[str], registry: str = "r.io", platform: Platform = AMD64) -> Plan:
    repo = discover.load_repository(root)
    graph = PlanBuilder()
    builder: Builder = RecordingBuilder()
    images = ImagePlanner(GoPlanner(repo, toolchain.ensure(root), graph), builder, "recording", BaseOverrides(), graph)
    for name in names:
        for target in image_targets(repo, repo.component(name), platform, Registry.parse(registry)):
            images.add(target)
    return graph.plan()


def fingerprints(plan: Plan) -> dict[str, str | None]:
    return {a.id: a.fingerprint for a in plan.actions}


def test_plan_compiles_before_building(monorepo_copy: Path) -> None:
    plan = make_plan(monorepo_copy, ["cns", "cni"])
    assert [a.id for a in plan.actions] == [
        "go:azure-cns:linux/amd64",
        "image:cns:linux/amd64:recording",
        "go:azure-vnet:linux/amd64",
        "go:azure-ipam:linux/amd64",
        "dropgz:cni:linux/amd64",
        "image:cni:linux/amd64:recording",
    ]
    assert plan.get("image:cns:linux/amd64:recording").deps == ("go:azure-cns:linux/amd64",)
    assert plan.get("dropgz:cni:linux/amd64").deps == ("go:azure-vnet:linux/amd64", "go:azure-ipam:linux/amd64")
    assert plan.get("image:cni:linux/amd64:recording").deps == (
        "go:azure-vnet:linux/amd64",
        "go:azure-ipam:linux/amd64",
        "dropgz:cni:linux/amd64",
    )
    details = plan.get("image:cns:linux/amd64:recording").details
    assert details["reference"] == "r.io/azure-cns:linux-amd64-v1.8.12"


def test_fingerprints_are_stable_and_follow_their_inputs(monorepo_copy: Path) -> None:
    before = fingerprints(make_plan(monorepo_copy, ["cns", "cni"]))
    assert before == fingerprints(make_plan(monorepo_copy, ["cns", "cni"]))
    main_go = monorepo_copy / "components/cns/cmd/azure-cns/main.go"
    main_go.write_text(main_go.read_text() + "\n// a change\n")
    after = fingerprints(make_plan(monorepo_copy, ["cns", "cni"]))
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"go:azure-cns:linux/amd64", "image:cns:linux/amd64:recording"}


def test_payload_binary_change_rebuilds_installer_and_image(monorepo_copy: Path) -> None:
    before = fingerprints(make_plan(monorepo_copy, ["cni", "azure-ipam"]))
    main_go = monorepo_copy / "components/cni/cmd/azure-vnet/main.go"
    main_go.write_text(main_go.read_text() + "\n// a change\n")
    after = fingerprints(make_plan(monorepo_copy, ["cni", "azure-ipam"]))
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"go:azure-vnet:linux/amd64", "dropgz:cni:linux/amd64", "image:cni:linux/amd64:recording"}


def test_dockerfile_change_rebuilds_only_the_image(monorepo_copy: Path) -> None:
    before = fingerprints(make_plan(monorepo_copy, ["cns"]))
    dockerfile = monorepo_copy / "components/cns/linux.Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "LABEL extra=1\n")
    after = fingerprints(make_plan(monorepo_copy, ["cns"]))
    assert before["go:azure-cns:linux/amd64"] == after["go:azure-cns:linux/amd64"]
    assert before["image:cns:linux/amd64:recording"] != after["image:cns:linux/amd64:recording"]


def test_registry_is_not_an_input_but_platform_is(monorepo_copy: Path) -> None:
    base = fingerprints(make_plan(monorepo_copy, ["cns"], registry="r.io"))
    assert base == fingerprints(make_plan(monorepo_copy, ["cns"], registry="127.0.0.1:5000/x"))
    arm = fingerprints(make_plan(monorepo_copy, ["cns"], platform=Platform("linux", "arm64")))
    assert set(arm.values()).isdisjoint(base.values())


def test_plan_json_says_what_would_run_and_why(monorepo_copy: Path, tmp_path: Path) -> None:
    plan = make_plan(monorepo_copy, ["cns"])
    records = RecordStore(tmp_path / "records")
    rows = plan.rows(records)
    assert [(r["would_run"], r["reason"]) for r in rows] == [(True, "never built")] * 2
    records.put(rows[0]["id"], "stale", {})
    assert plan.rows(records)[0]["reason"] == "inputs changed"


@dataclass
class FakeStep:
    action_id: str
    fail: bool = False
    ran: list[str] | None = None

    def run(self, log: Path) -> Result:
        if self.ran is not None:
            self.ran.append(self.action_id)
        if self.fail:
            raise BuildFailed(f"{self.action_id} broke")
        return {"ok": self.action_id}

    def check(self, result: Result, *, offline: bool) -> Check:
        return Check(Freshness.CURRENT, "unchanged")


def action(action_id: str, deps: tuple[str, ...] = (), fail: bool = False, log: list[str] | None = None) -> Action:
    return Action(action_id, "test", action_id, f"fp-{action_id}", "go", FakeStep(action_id, fail, log), deps)


def test_executor_orders_by_dependencies_and_records(tmp_path: Path) -> None:
    ran: list[str] = []
    plan = Plan([action("a", log=ran), action("b", ("a",), log=ran), action("c", ("a", "b"), log=ran)])
    records = RecordStore(tmp_path / "r")
    outcomes = Executor(records, tmp_path / "logs", jobs=4).run(plan)
    assert ran == ["a", "b", "c"]
    assert [o.status for o in outcomes] == [Status.BUILT] * 3
    again = Executor(records, tmp_path / "logs", jobs=4).run(plan)
    assert [o.status for o in again] == [Status.CACHED] * 3
    assert ran == ["a", "b", "c"]


def test_executor_failure_skips_dependents(tmp_path: Path) -> None:
    plan = Plan([action("a", fail=True), action("b", ("a",)), action("c")])
    outcomes = {o.action.id: o for o in Executor(RecordStore(tmp_path / "r"), tmp_path / "l", jobs=1).run(plan)}
    assert outcomes["a"].status == "failed" and "a broke" in (outcomes["a"].error or "")
    assert outcomes["b"].status == "skipped"
    assert RecordStore(tmp_path / "r").get("a") is None


def test_plan_rejects_out_of_order_dependencies() -> None:
    with pytest.raises(ValueError, match="does not come before"):
        Plan([action("b", ("a",)), action("a")])


def test_an_output_file_of_an_earlier_layout_makes_room_for_a_directory(tmp_path: Path) -> None:
    from acnbuild.paths import Layout

    layout = Layout(tmp_path)
    stale = layout.output / "linux_amd64" / "azure-ipam"  # the binary before per-component directories
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old binary")
    made = layout.make_room(stale)
    assert made.is_dir()
    outside = tmp_path / "not-output"
    outside.write_text("kept")
    with pytest.raises(OSError):
        layout.make_room(outside / "x")  # only files under output/ are ever removed
    assert outside.read_text() == "kept"
