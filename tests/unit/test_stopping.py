"""Stopping on SIGINT/SIGTERM: tools stopped (or let finish), retries cut short, nothing recorded or left partial."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import filelock
import pytest
from acnbuild import interrupts, process, retry
from acnbuild.engine.executor import Executor, SilentObserver, Status
from acnbuild.engine.plan import Action, Check, Freshness, Plan, Result
from acnbuild.engine.records import RecordStore
from acnbuild.errors import Interrupted
from acnbuild.go import toolchain

from tests.conftest import REPO_ROOT


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    interrupts.reset()
    yield
    interrupts.reset()


def stop_soon(delay: float = 0.3) -> threading.Timer:
    timer = threading.Timer(delay, interrupts.request_stop)
    timer.start()
    return timer


def test_a_running_tool_is_stopped_and_the_call_raises_interrupted(tmp_path: Path) -> None:
    stop_soon()
    started = time.monotonic()
    with pytest.raises(Interrupted, match="interrupted by SIGINT"):
        process.run(["sh", "-c", "echo started; exec sleep 30"], tmp_path / "log", what="sleep")
    assert time.monotonic() - started < 5
    assert "started" in (tmp_path / "log").read_text()


def test_a_tool_that_must_not_be_cut_short_is_let_finish(tmp_path: Path) -> None:
    stop_soon()
    output = process.run(["sh", "-c", "sleep 1; echo finished"], tmp_path / "log", what="build",
                         stop=process.Stop.DRAIN)  # fmt: skip
    assert output.strip() == "finished"


def test_no_tool_starts_once_the_run_is_stopping(tmp_path: Path) -> None:
    interrupts.request_stop(signal.SIGTERM)
    with pytest.raises(Interrupted, match="SIGTERM") as info:
        process.run(["true"], tmp_path / "log", what="true")
    assert info.value.exit_code == 143
    assert not (tmp_path / "log").exists()


def test_retries_stop_waiting_when_interrupted() -> None:
    attempts: list[float] = []

    def flaky() -> None:
        attempts.append(time.monotonic())
        raise ConnectionResetError("reset")

    stop_soon(0.2)
    started = time.monotonic()
    with pytest.raises(Interrupted):  # not "gave up": the run was stopped
        retry.call("GET x", "r", flaky, is_transient=retry.exception_is_transient, describe=str,
                   policy=retry.RetryPolicy(attempts=5, initial=10.0), notify=lambda message: None)  # fmt: skip
    assert len(attempts) == 1 and time.monotonic() - started < 3


SCRIPT = """
import sys, time
from pathlib import Path
from acnbuild import interrupts, process
from acnbuild.atomic import atomic_path
interrupts.install()
target = Path(sys.argv[1])
try:
    with atomic_path(target) as partial:
        process.run(["sh", "-c", f"echo partial > {partial}; echo $$ > {target}.pid; exec sleep 60"],
                    target.with_suffix(".log"), what="writer")
except interrupts.Interrupted as error:
    print(error, file=sys.stderr)
    raise SystemExit(int(error.exit_code))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_main_thread_stops_the_tool_before_the_partial_file_is_removed(
    tmp_path: Path, signum: int
) -> None:
    target = tmp_path / "out.tar"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "build")}
    child = subprocess.Popen([sys.executable, "-c", SCRIPT, str(target)], env=env, stderr=subprocess.PIPE, text=True)
    pid_file = Path(f"{target}.pid")
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    tool = int(pid_file.read_text())
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=30)
    assert child.returncode == 128 + signum
    assert stderr.strip() == f"interrupted by {signal.Signals(signum).name}: unfinished work was discarded; " \
        "rerun to continue"  # fmt: skip
    assert not Path(f"/proc/{tool}").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.log", "out.tar.pid"]


class Sleeper:
    """A step that takes a while; counts its runs."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.runs = 0

    def run(self, log: Path) -> Result:
        self.runs += 1
        interrupts.sleep(self.seconds)
        return {"ran": True}

    def check(self, result: Result, *, offline: bool) -> Check:
        return Check(Freshness.CURRENT, "unchanged")


def plan_of(step: Sleeper) -> Plan:
    return Plan([Action("slow:one", "test", "sleep a while", "f1", "test", step)])


class Watching(SilentObserver):
    def __init__(self) -> None:
        self.waited: list[str] = []

    def waiting(self, action: Action, lock: Path) -> None:
        self.waited.append(action.id)


def test_two_executors_sharing_locks_run_an_action_once(tmp_path: Path) -> None:
    step = Sleeper(0.5)
    observers = [Watching(), Watching()]
    results: list[Status] = []

    def execute(observer: Watching) -> None:
        executor = Executor(RecordStore(tmp_path / "records"), tmp_path / "logs", 1, observer=observer,
                            locks=tmp_path / "locks")  # fmt: skip
        results.extend(o.status for o in executor.run(plan_of(step)))

    threads = [threading.Thread(target=execute, args=(o,)) for o in observers]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    assert step.runs == 1
    assert sorted(results) == [Status.BUILT, Status.CACHED]
    assert observers[1].waited == ["slow:one"]


def test_an_interrupted_executor_records_nothing_for_unfinished_work(tmp_path: Path) -> None:
    records = RecordStore(tmp_path / "records")
    stop_soon(0.3)
    with pytest.raises(Interrupted):
        Executor(records, tmp_path / "logs", 1, locks=tmp_path / "locks").run(plan_of(Sleeper(30)))
    assert records.get("slow:one") is None


def test_waiting_for_another_toolchain_install_says_so(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / ".install.lock"
    held = filelock.FileLock(path, thread_local=False)  # released by the timer thread
    held.acquire()
    threading.Timer(0.5, held.release).start()
    with toolchain._install_lock(path, tmp_path / "go-x"):
        pass
    assert f"waiting for another build installing the Go toolchain into {tmp_path / 'go-x'}" in capfd.readouterr().err


def test_stale_temporary_directories_are_reclaimed(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    now = time.time()
    for name in (f"build-{dead.pid}-a", f"build-{os.getpid()}-b", "go-build111", "go-build222", "other"):
        (tmp_path / name).mkdir()
    os.utime(tmp_path / "go-build111", (now - 7200, now - 7200))
    removed = toolchain.reclaim_scratch(tmp_path, now=now)
    assert sorted(p.name for p in removed) == [f"build-{dead.pid}-a", "go-build111"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"build-{os.getpid()}-b", "go-build222", "other"]


class CountingBatch:
    """A batch whose members sleep a while when run together; counts how often each member ran."""

    key = "pair"

    def __init__(self) -> None:
        self.runs: dict[str, int] = {}
        self.groups: list[list[str]] = []
        self._lock = threading.Lock()

    def run(self, actions: Sequence[Action], log: Path) -> dict[str, Result]:
        with self._lock:
            self.groups.append(sorted(a.id for a in actions))
            for action in actions:
                self.runs[action.id] = self.runs.get(action.id, 0) + 1
        interrupts.sleep(0.3)
        return {a.id: {"ran": True} for a in actions}


class Alone(Sleeper):
    """A member's own step (what runs when it runs outside its batch); counts its runs in the batch's tally."""

    def __init__(self, batch: CountingBatch, action_id: str) -> None:
        super().__init__(0.3)
        self.batch, self.action_id = batch, action_id

    def run(self, log: Path) -> Result:
        with self.batch._lock:
            self.batch.groups.append([self.action_id])
            self.batch.runs[self.action_id] = self.batch.runs.get(self.action_id, 0) + 1
        return super().run(log)


def batch_plan(batch: CountingBatch, order: Sequence[str]) -> Plan:
    return Plan([Action(f"pair:{name}", "test", name, "f1", "test", Alone(batch, f"pair:{name}"), batch=batch)
                 for name in order])  # fmt: skip


def test_a_batch_member_locked_by_another_run_runs_on_its_own_after_it(tmp_path: Path) -> None:
    held = filelock.FileLock(tmp_path / "locks" / "pair_b.lock", thread_local=False)
    (tmp_path / "locks").mkdir()
    held.acquire()  # another run is doing pair:b
    threading.Timer(0.6, held.release).start()
    batch, observer = CountingBatch(), Watching()
    executor = Executor(RecordStore(tmp_path / "records"), tmp_path / "logs", 2, observer=observer,
                        locks=tmp_path / "locks")  # fmt: skip
    outcomes = executor.run(batch_plan(batch, ["a", "b"]))
    assert [o.status for o in outcomes] == [Status.BUILT, Status.BUILT]
    assert observer.waited == ["pair:b"]
    assert batch.runs == {"pair:a": 1, "pair:b": 1}
    assert batch.groups == [["pair:a"], ["pair:b"]]  # pair:a did not wait for pair:b's lock: it ran first, alone


def test_two_runs_with_one_batch_in_opposite_orders_finish_and_run_each_member_once(tmp_path: Path) -> None:
    batch = CountingBatch()
    statuses: list[Status] = []

    def execute(order: Sequence[str]) -> None:
        executor = Executor(RecordStore(tmp_path / "records"), tmp_path / "logs", 2, locks=tmp_path / "locks")
        statuses.extend(o.status for o in executor.run(batch_plan(batch, order)))

    for _ in range(5):  # the two runs race for the members' locks differently each time
        for path in (tmp_path / "records", tmp_path / "locks"):
            shutil.rmtree(path, ignore_errors=True)
        batch.runs.clear()
        batch.groups.clear()
        statuses.clear()
        threads = [threading.Thread(target=execute, args=(o,), daemon=True) for o in (["a", "b"], ["b", "a"])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
            assert not thread.is_alive(), "the two runs wait for each other"
        assert batch.runs == {"pair:a": 1, "pair:b": 1}
        assert sorted(statuses) == [Status.BUILT, Status.BUILT, Status.CACHED, Status.CACHED]
