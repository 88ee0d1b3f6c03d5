"""The executor's remote cache protocol, batches, resource limits; the JSON report, the profile and progress."""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from acnbuild import report
from acnbuild.engine.executor import Executor, Outcome, Status
from acnbuild.engine.plan import Action, Check, Freshness, Plan, Result
from acnbuild.engine.profile import chrome_trace, critical_path
from acnbuild.engine.records import RecordStore
from acnbuild.engine.remote import Fetched, Miss, RemoteMode
from acnbuild.errors import BuildFailed


@dataclass
class Step:
    """Runs by recording its id (optionally sleeping); its output is current once recorded."""

    action_id: str
    ran: list[str]
    seconds: float = 0.0
    fail: bool = False

    def run(self, log: Path) -> Result:
        self.ran.append(self.action_id)
        time.sleep(self.seconds)
        if self.fail:
            raise BuildFailed(f"{self.action_id} broke")
        return {"sha256": "0" * 64, "from": "run"}

    def check(self, result: Result, *, offline: bool) -> Check:
        return Check(Freshness.CURRENT, "unchanged")


@dataclass
class FakeCache:
    """A remote cache in memory: ``entries`` by fingerprint."""

    entries: dict[str, Result] = field(default_factory=dict)
    mode: RemoteMode = RemoteMode.READWRITE
    name: str = "memory"
    fetched: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    broken_store: bool = False
    broken_fetch: bool = False

    def handles(self, action: Action) -> bool:
        return action.kind != "push"

    def fetch(self, action: Action, log: Path) -> Fetched | Miss:
        self.fetched.append(action.id)
        if self.broken_fetch:
            raise OSError("the cache fell over")
        assert action.fingerprint is not None
        found = self.entries.get(action.fingerprint)
        return Fetched({**found, "from": "cache"}) if found else Miss("not in the cache")

    def store(self, action: Action, result: Result, log: Path) -> str:
        if self.broken_store:
            raise BuildFailed("the registry refused the upload")
        assert action.fingerprint is not None
        self.entries[action.fingerprint] = result
        self.stored.append(action.id)
        return f"memory:{action.fingerprint}"


def act(action_id: str, ran: list[str], deps: tuple[str, ...] = (), **options: object) -> Action:
    kind = str(options.pop("kind", "test"))
    resource = str(options.pop("resource", "cpu"))
    batch = options.pop("batch", None)
    step = Step(action_id, ran, **options)  # type: ignore[arg-type]
    return Action(action_id, kind, f"do {action_id}", f"fp-{action_id}", resource, step, deps, batch=batch)  # type: ignore[arg-type]


def execute(tmp_path: Path, plan: Plan, name: str = "r", **options: object) -> dict[str, Outcome]:
    executor = Executor(RecordStore(tmp_path / name), tmp_path / "logs", 4, **options)  # type: ignore[arg-type]
    return {o.action.id: o for o in executor.run(plan)}


def test_a_remote_hit_is_recorded_and_not_run(tmp_path: Path) -> None:
    ran: list[str] = []
    cache = FakeCache()
    plan = Plan([act("a", ran), act("b", ran, ("a",))])
    first = execute(tmp_path, plan, "first", remote=cache)
    assert {o.status for o in first.values()} == {Status.BUILT}
    assert sorted(cache.stored) == ["a", "b"] and all(o.stored for o in first.values())

    ran.clear()
    second = execute(tmp_path, plan, "second", remote=cache)  # another runner: no records, same cache
    assert ran == [] and {o.status for o in second.values()} == {Status.REMOTE_HIT}
    assert second["a"].result["from"] == "cache"
    third = execute(tmp_path, plan, "second", remote=cache)  # its records now say current: no cache lookups
    assert {o.status for o in third.values()} == {Status.CACHED}
    assert cache.fetched.count("a") == 2


def test_read_only_mode_fetches_but_never_stores(tmp_path: Path) -> None:
    ran: list[str] = []
    cache = FakeCache(mode=RemoteMode.READ)
    outcomes = execute(tmp_path, Plan([act("a", ran)]), remote=cache)
    assert outcomes["a"].status is Status.BUILT and cache.fetched == ["a"] and cache.stored == []


def test_a_failing_cache_is_a_miss_and_a_warning_never_a_failure(tmp_path: Path) -> None:
    ran: list[str] = []
    cache = FakeCache(broken_store=True, broken_fetch=True)
    outcomes = execute(tmp_path, Plan([act("a", ran)]), remote=cache)
    assert outcomes["a"].status is Status.BUILT and ran == ["a"]
    assert any("fell over" in n for n in outcomes["a"].notes)
    assert any(n.startswith("warning: not stored") and "refused" in n for n in outcomes["a"].notes)
    assert not outcomes["a"].stored


def test_pushes_are_not_cached(tmp_path: Path) -> None:
    cache = FakeCache()
    execute(tmp_path, Plan([act("p", [], kind="push")]), remote=cache)
    assert cache.fetched == [] and cache.stored == []


@dataclass
class RecordingBatch:
    key: str
    calls: list[list[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, actions: Sequence[Action], log: Path) -> Mapping[str, Result]:
        with self.lock:
            self.calls.append(sorted(a.id for a in actions))
        return {a.id: {"batched": True} for a in actions}


def test_actions_of_a_batch_that_must_run_run_together(tmp_path: Path) -> None:
    ran: list[str] = []
    linux, windows = RecordingBatch("go:linux"), RecordingBatch("go:windows")
    plan = Plan(
        [
            act("go-a", ran, batch=linux),
            act("go-b", ran, batch=linux),
            act("go-c", ran, batch=windows),
            act("image", ran, ("go-a", "go-b")),
        ]
    )
    outcomes = execute(tmp_path, plan)
    assert linux.calls == [["go-a", "go-b"]]
    assert ran == ["go-c", "image"]  # a batch of one is just its step
    assert outcomes["go-a"].result == {"batched": True} and outcomes["image"].status is Status.BUILT

    RecordStore(tmp_path / "r").path("go-b").unlink()
    linux.calls.clear()
    execute(tmp_path, plan)
    assert linux.calls == [] and ran[-1] == "go-b"  # only the member that must run, on its own


def test_resource_limits_bound_concurrency(tmp_path: Path) -> None:
    ran: list[str] = []
    plan = Plan([act(f"go-{i}", ran, resource="go", seconds=0.05) for i in range(4)])
    outcomes = execute(tmp_path, plan, limits={"go": 1})
    spans = sorted((o.started, o.ended) for o in outcomes.values())
    assert all(end <= next_start + 0.005 for (_, end), (next_start, _) in itertools.pairwise(spans))


def test_failure_skips_dependents_and_names_the_error(tmp_path: Path) -> None:
    ran: list[str] = []
    outcomes = execute(tmp_path, Plan([act("a", ran, fail=True), act("b", ran, ("a",))]))
    assert outcomes["a"].status is Status.FAILED and "a broke" in (outcomes["a"].error or "")
    assert outcomes["b"].status is Status.SKIPPED and ran == ["a"]


def outcome(action_id: str, start: float, end: float, deps: tuple[str, ...] = ()) -> Outcome:
    action = Action(action_id, "go-binary", f"do {action_id}", f"fp-{action_id}", "go", Step(action_id, []), deps)
    return Outcome(action, Status.BUILT, end - start, {"sha256": "ab" * 32}, started=start, ended=end)


def test_profile_is_a_chrome_trace_with_the_critical_path() -> None:
    outcomes = [
        outcome("compile", 100.0, 104.0),
        outcome("short", 100.0, 101.0),
        outcome("pack", 104.0, 105.0, ("compile", "short")),
        outcome("image", 105.0, 106.0, ("pack",)),
        outcome("other-image", 101.0, 102.0, ("short",)),
    ]
    assert [o.action.id for o in critical_path(outcomes)] == ["compile", "pack", "image"]
    trace = json.loads(json.dumps(chrome_trace(outcomes)))
    complete = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    compile_event = next(e for e in complete if e["args"]["id"] == "compile" and e["tid"] != 0)
    assert (compile_event["ts"], compile_event["dur"]) == (0, 4_000_000)
    assert [e["args"]["id"] for e in complete if e["tid"] == 0] == ["compile", "pack", "image"]
    lanes = {e["args"]["id"]: e["tid"] for e in complete if e["tid"] != 0}
    assert lanes["compile"] != lanes["short"]  # they overlap, so they are drawn apart
    assert trace["otherData"]["critical_path"] == ["compile", "pack", "image"]


def test_report_json_names_every_action() -> None:
    data = report.build_report([outcome("compile", 100.0, 104.0)], {"location": "r/c", "mode": "read"})
    (action,) = data["actions"]
    assert action["kind"] == "go-binary" and action["status"] == "built" and action["fingerprint"] == "fp-compile"
    assert (action["start"], action["end"], action["seconds"]) == (100.0, 104.0, 4.0)
    assert action["output_digest"] == "sha256:" + "ab" * 32
    assert data["counts"] == {"built": 1} and data["remote_cache"] == {"location": "r/c", "mode": "read"}


def test_plain_progress_prints_timestamps_and_a_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(report, "console", report.Output(stream))
    action = Action("a", "go-binary", "compile a", "fp", "go", Step("a", []))
    with report.PlainProgress(total=1, heartbeat=0.2) as progress:
        progress.started(action)
        time.sleep(0.7)
        progress.finished(Outcome(action, Status.BUILT, 0.7, started=1.0, ended=1.7))
    lines = stream.getvalue().splitlines()
    assert "start compile a" in " ".join(lines[0].split()[1:])
    assert any("running" in line and "compile a" in line for line in lines[1:-1])
    assert "built compile a" in " ".join(lines[-1].split()[1:]) and lines[-1].endswith("1/1")
    assert all(line[:2].isdigit() and line[2] == ":" for line in lines)  # HH:MM:SS.mmm first
