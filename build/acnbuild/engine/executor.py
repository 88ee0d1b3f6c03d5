"""Run a plan: ready actions on a bounded pool, per-resource limits, skip what is recorded and unchanged.

Runs in one checkout share its records: each action runs under a lock of its own (``locks``), so two runs
wanting the same action do it once (the second waits, then finds it recorded), while different actions of
concurrent runs still go in parallel. An interrupted run (``interrupts``) starts nothing more, lets the actions in
flight unwind (their tools are stopped; nothing is recorded for them) and raises ``Interrupted``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import filelock

from .. import interrupts
from ..errors import AcnBuildError, Interrupted
from ..paths import file_name
from .plan import Action, Freshness, Plan, Result, check
from .records import RecordStore


class Status(StrEnum):
    BUILT = "built"  # ran
    CACHED = "cached"  # recorded with the same inputs and still there (perhaps after a repair effect)
    FAILED = "failed"
    SKIPPED = "skipped"  # not run because something it depends on failed


@dataclass
class Outcome:
    action: Action
    status: Status
    seconds: float = 0.0
    result: Result = field(default_factory=dict)
    error: str | None = None
    reason: str = ""  # why it ran or was skipped
    started: float = 0.0  # wall-clock time.time()
    ended: float = 0.0


class Observer(Protocol):
    def started(self, action: Action) -> None: ...

    def waiting(self, action: Action, lock: Path) -> None:
        """Another run holds ``action``'s lock; this one waits for it."""
        ...

    def finished(self, outcome: Outcome) -> None: ...


class SilentObserver:
    def started(self, action: Action) -> None:
        return None

    def waiting(self, action: Action, lock: Path) -> None:
        return None

    def finished(self, outcome: Outcome) -> None:
        return None


# How long an interrupted run waits for its actions in flight to unwind (tools that are let finish, then stopped).
SETTLE_TIMEOUT = interrupts.DRAIN_GRACE + interrupts.SIGNAL_GRACE + 5.0


class _MakeOutcome(Protocol):
    def __call__(
        self, status: Status, result: Result | None = None, *, error: str | None = None, reason: str = ""
    ) -> Outcome: ...


class Executor:
    def __init__(
        self,
        records: RecordStore,
        logs: Path,
        jobs: int,
        *,
        limits: Mapping[str, int] | None = None,
        observer: Observer | None = None,
        locks: Path | None = None,
    ) -> None:
        self.records = records
        self.logs = logs
        self.jobs = max(1, jobs)
        self.observer = observer or SilentObserver()
        self.locks = locks
        self._limits = {name: threading.Semaphore(n) for name, n in (limits or {}).items()}

    def run(self, plan: Plan) -> list[Outcome]:
        self.logs.mkdir(parents=True, exist_ok=True)
        outcomes: dict[str, Outcome] = {}
        running: dict[Future[Outcome], Action] = {}
        pool = ThreadPoolExecutor(max_workers=self.jobs)
        try:
            self._run(plan, pool, outcomes, running)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            wait(running, timeout=SETTLE_TIMEOUT)  # tools are being stopped; their actions unwind, unrecorded
            raise
        pool.shutdown(wait=True)
        return [outcomes[a.id] for a in plan.actions]

    def _run(
        self,
        plan: Plan,
        pool: ThreadPoolExecutor,
        outcomes: dict[str, Outcome],
        running: dict[Future[Outcome], Action],
    ) -> None:
        pending = list(plan.actions)
        failed = False
        while pending or running:
            for action in list(pending):
                deps = [outcomes.get(d) for d in action.deps]
                blocked = any(o is not None and o.status in (Status.FAILED, Status.SKIPPED) for o in deps)
                if blocked or failed:
                    pending.remove(action)
                    now = time.time()
                    skipped = Outcome(action, Status.SKIPPED, error="not run: an earlier action failed",
                                      started=now, ended=now)  # fmt: skip
                    outcomes[action.id] = skipped
                    self.observer.finished(skipped)
                    continue
                if all(o is not None for o in deps):
                    pending.remove(action)
                    running[pool.submit(self._execute, action)] = action
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            interrupts.check()  # an interrupted run reports no failures of the work it stopped
            for future in done:
                action = running.pop(future)
                outcome = future.result()
                outcomes[action.id] = outcome
                failed = failed or outcome.status is Status.FAILED
                self.observer.finished(outcome)

    def _execute(self, action: Action) -> Outcome:
        started, wall = time.monotonic(), time.time()

        def outcome(
            status: Status, result: Result | None = None, *, error: str | None = None, reason: str = ""
        ) -> Outcome:
            seconds = time.monotonic() - started
            return Outcome(action, status, seconds, result or {}, error, reason, started=wall, ended=time.time())

        try:
            with self._exclusive(action):
                return self._execute_locked(action, outcome)
        except Interrupted as exc:
            return outcome(Status.SKIPPED, error=str(exc))

    @contextlib.contextmanager
    def _exclusive(self, action: Action) -> Iterator[None]:
        """Hold ``action``'s lock (shared by every run in this checkout), waiting for another run that holds it."""
        if self.locks is None:
            yield
            return
        self.locks.mkdir(parents=True, exist_ok=True)
        path = self.locks / f"{file_name(action.id)}.lock"
        lock = filelock.FileLock(path)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            self.observer.waiting(action, path)
            while True:
                interrupts.check()
                try:
                    lock.acquire(timeout=0.5)
                    break
                except filelock.Timeout:
                    continue
        try:
            yield
        finally:
            lock.release()

    def _execute_locked(self, action: Action, outcome: _MakeOutcome) -> Outcome:
        interrupts.check()
        try:
            status = check(action, self.records, offline=False)
            if status.freshness is Freshness.CURRENT:
                record = self.records.get(action.id) or {}
                return outcome(Status.CACHED, record.get("result", {}), reason=status.reason)
            if action.fingerprint is None:
                raise AcnBuildError(f"{action.id}: its inputs could not be fingerprinted")
            if status.freshness is Freshness.REPAIRABLE and status.repair is not None:
                result = status.repair()
                self.records.put(action.id, action.fingerprint, result)
                return outcome(Status.CACHED, result, reason=status.reason)
            self.observer.started(action)
            limit = self._limits.get(action.resource)
            if limit:
                limit.acquire()
            try:
                interrupts.check()  # waited for a limit while the run was being stopped
                result = action.step.run(self.logs / f"{file_name(action.id)}.log")
            finally:
                if limit:
                    limit.release()
            self.records.put(action.id, action.fingerprint, result)
            return outcome(Status.BUILT, result, reason=status.reason)
        except Interrupted:
            raise
        except AcnBuildError as exc:
            return outcome(Status.FAILED, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - reported per action, never swallowed silently
            return outcome(Status.FAILED, error=f"{type(exc).__name__}: {exc}")
