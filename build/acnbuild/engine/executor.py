"""Run a plan: ready actions on a bounded pool, per-resource limits, skip what is recorded and unchanged."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from ..errors import AcnBuildError
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

    def finished(self, outcome: Outcome) -> None: ...


class SilentObserver:
    def started(self, action: Action) -> None:
        return None

    def finished(self, outcome: Outcome) -> None:
        return None


class Executor:
    def __init__(
        self,
        records: RecordStore,
        logs: Path,
        jobs: int,
        *,
        limits: Mapping[str, int] | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.records = records
        self.logs = logs
        self.jobs = max(1, jobs)
        self.observer = observer or SilentObserver()
        self._limits = {name: threading.Semaphore(n) for name, n in (limits or {}).items()}

    def run(self, plan: Plan) -> list[Outcome]:
        self.logs.mkdir(parents=True, exist_ok=True)
        outcomes: dict[str, Outcome] = {}
        pending = list(plan.actions)
        running: dict[Future[Outcome], Action] = {}
        failed = False
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
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
                for future in done:
                    action = running.pop(future)
                    outcome = future.result()
                    outcomes[action.id] = outcome
                    failed = failed or outcome.status is Status.FAILED
                    self.observer.finished(outcome)
        return [outcomes[a.id] for a in plan.actions]

    def _execute(self, action: Action) -> Outcome:
        started, wall = time.monotonic(), time.time()

        def outcome(
            status: Status, result: Result | None = None, *, error: str | None = None, reason: str = ""
        ) -> Outcome:
            seconds = time.monotonic() - started
            return Outcome(action, status, seconds, result or {}, error, reason, started=wall, ended=time.time())

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
                result = action.step.run(self.logs / f"{file_name(action.id)}.log")
            finally:
                if limit:
                    limit.release()
            self.records.put(action.id, action.fingerprint, result)
            return outcome(Status.BUILT, result, reason=status.reason)
        except AcnBuildError as exc:
            return outcome(Status.FAILED, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - reported per action, never swallowed silently
            return outcome(Status.FAILED, error=f"{type(exc).__name__}: {exc}")
