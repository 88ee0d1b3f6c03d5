"""Run a plan: check what is current, fetch what a remote cache holds, run the rest on a bounded pool.

An action goes through two phases. Its *check* (on a small pool of its own) decides from the record, the output
and, when configured, the remote cache whether it must run at all. What must run is *dispatched* on the run pool,
within per-resource limits; actions sharing a ``Batch`` that must run at the same time are dispatched together,
as one run. Outputs of runs go to the remote cache in the background; the build never waits for an upload.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from ..errors import AcnBuildError
from ..paths import file_name
from .plan import Action, Freshness, Plan, Result, check
from .records import RecordStore
from .remote import Fetched, Miss, RemoteCache, RemoteMode


class Status(StrEnum):
    BUILT = "built"  # ran
    CACHED = "cached"  # recorded with the same inputs and still there (perhaps after a repair effect)
    REMOTE_HIT = "remote-hit"  # fetched from the remote cache by its fingerprint instead of running
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
    notes: list[str] = field(default_factory=list)  # remote cache misses and uploads, for people
    stored: bool = False  # its output was stored in the remote cache


class Observer(Protocol):
    def started(self, action: Action) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


class SilentObserver:
    def started(self, action: Action) -> None:
        return None

    def finished(self, outcome: Outcome) -> None:
        return None


@dataclass
class _MustRun:
    """A checked action that has to run, and why."""

    action: Action
    reason: str
    notes: list[str]


class Executor:
    def __init__(
        self,
        records: RecordStore,
        logs: Path,
        jobs: int,
        *,
        limits: Mapping[str, int] | None = None,
        observer: Observer | None = None,
        remote: RemoteCache | None = None,
    ) -> None:
        self.records = records
        self.logs = logs
        self.jobs = max(1, jobs)
        self.observer = observer or SilentObserver()
        self.limits = dict(limits or {})
        self.remote = remote
        self._uploads: list[tuple[Outcome, Future[str | None]]] = []
        self._lock = threading.Lock()

    def log_path(self, action_id: str) -> Path:
        return self.logs / f"{file_name(action_id)}.log"

    def run(self, plan: Plan) -> list[Outcome]:
        self.logs.mkdir(parents=True, exist_ok=True)
        self._uploads = []
        outcomes: dict[str, Outcome] = {}
        pending = list(plan.actions)
        checking: dict[Future[Any], Action] = {}
        waiting: list[_MustRun] = []
        running: dict[Future[Any], list[_MustRun]] = {}
        busy: dict[str, int] = {}
        failed = False

        def finish(outcome: Outcome) -> None:
            nonlocal failed
            outcomes[outcome.action.id] = outcome
            failed = failed or outcome.status is Status.FAILED
            self.observer.finished(outcome)

        with (
            ThreadPoolExecutor(max_workers=max(4, self.jobs), thread_name_prefix="check") as checks,
            ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="run") as runs,
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload") as uploads,
        ):
            while pending or checking or waiting or running:
                for action in list(pending):
                    deps = [outcomes.get(d) for d in action.deps]
                    if failed or any(o is not None and o.status in (Status.FAILED, Status.SKIPPED) for o in deps):
                        pending.remove(action)
                        now = time.time()
                        finish(Outcome(action, Status.SKIPPED, error="not run: an earlier action failed",
                                       started=now, ended=now))  # fmt: skip
                    elif all(o is not None for o in deps):
                        pending.remove(action)
                        checking[checks.submit(self._check, action)] = action
                if failed:
                    for must in waiting:
                        now = time.time()
                        finish(Outcome(must.action, Status.SKIPPED, error="not run: an earlier action failed",
                                       started=now, ended=now))  # fmt: skip
                    waiting.clear()
                for group in self._dispatchable(waiting, list(checking.values()), busy):
                    for must in group:
                        waiting.remove(must)
                    resource = group[0].action.resource
                    busy[resource] = busy.get(resource, 0) + 1
                    running[runs.submit(self._run, group, uploads)] = group
                if not checking and not running:
                    continue
                done, _ = wait([*checking, *running], return_when=FIRST_COMPLETED)
                for future in done:
                    if future in checking:
                        del checking[future]
                        checked: Outcome | _MustRun = future.result()
                        if isinstance(checked, Outcome):
                            finish(checked)
                        else:
                            waiting.append(checked)
                    else:
                        group = running.pop(future)
                        busy[group[0].action.resource] -= 1
                        ran: list[Outcome] = future.result()
                        for outcome in ran:
                            finish(outcome)
            for outcome, upload in self._uploads:
                try:
                    stored = upload.result()
                    if stored is not None:
                        outcome.notes.append(f"stored in the remote cache: {stored}")
                        outcome.stored = True
                except Exception as exc:  # noqa: BLE001 - an upload that failed is a warning, never a failure
                    outcome.notes.append(f"warning: not stored in the remote cache: {_describe(exc)}")
        return [outcomes[a.id] for a in plan.actions]

    def _dispatchable(
        self, waiting: Sequence[_MustRun], checking: Sequence[Action], busy: Mapping[str, int]
    ) -> list[list[_MustRun]]:
        """Groups ready to run now: a batch once none of its members is still being checked, within limits."""
        checking_keys = {a.batch.key for a in checking if a.batch is not None}
        groups: dict[str, list[_MustRun]] = {}
        for must in waiting:
            batch = must.action.batch
            key = f"batch:{batch.key}" if batch is not None else f"action:{must.action.id}"
            if batch is not None and batch.key in checking_keys:
                continue
            groups.setdefault(key, []).append(must)
        chosen = []
        taken = dict(busy)
        for group in groups.values():
            resource = group[0].action.resource
            limit = self.limits.get(resource)
            if limit is not None and taken.get(resource, 0) >= limit:
                continue
            taken[resource] = taken.get(resource, 0) + 1
            chosen.append(group)
        return chosen

    def _check(self, action: Action) -> Outcome | _MustRun:
        """Is it current (or repairable)? Else, does the remote cache hold it? Else it must run."""
        started, wall = time.monotonic(), time.time()

        def outcome(status: Status, result: Result, *, reason: str, notes: list[str] | None = None,
                    error: str | None = None) -> Outcome:  # fmt: skip
            seconds = time.monotonic() - started
            return Outcome(action, status, seconds, result, error, reason, wall, time.time(), notes or [])

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
            notes: list[str] = []
            if self.remote is not None and self.remote.handles(action):
                self.observer.started(action)
                try:
                    fetched = self.remote.fetch(action, self.log_path(action.id))
                except Exception as exc:  # noqa: BLE001 - the cache is an optimisation: its failure is a miss
                    fetched = Miss(f"the remote cache failed: {_describe(exc)}")
                if isinstance(fetched, Fetched):
                    self.records.put(action.id, action.fingerprint, fetched.result)
                    note = [fetched.note] if fetched.note else []
                    return outcome(Status.REMOTE_HIT, fetched.result, reason=status.reason, notes=note)
                notes.append(f"remote cache miss: {fetched.reason}")
            return _MustRun(action, status.reason, notes)
        except AcnBuildError as exc:
            return outcome(Status.FAILED, {}, reason="", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - reported per action, never swallowed silently
            return outcome(Status.FAILED, {}, reason="", error=_describe(exc))

    def _run(self, group: Sequence[_MustRun], uploads: ThreadPoolExecutor) -> list[Outcome]:
        """Run one action, or one batch of them; record each result and hand it to the remote cache."""
        started, wall = time.monotonic(), time.time()
        for must in group:
            self.observer.started(must.action)
        actions = [must.action for must in group]
        try:
            batch = actions[0].batch
            if batch is not None and len(actions) > 1:
                log = self.log_path(f"batch:{batch.key}")
                log.unlink(missing_ok=True)
                results = dict(batch.run(actions, log))
            else:
                results = {actions[0].id: actions[0].step.run(self.log_path(actions[0].id))}
            error = None
        except AcnBuildError as exc:
            results, error = {}, str(exc)
        except Exception as exc:  # noqa: BLE001 - reported per action, never swallowed silently
            results, error = {}, _describe(exc)
        ended = time.time()
        seconds = time.monotonic() - started
        outcomes = []
        for must in group:
            action = must.action
            result = results.get(action.id)
            if result is None:
                problem = error or f"{action.id}: its batch returned no result"
                outcomes.append(
                    Outcome(action, Status.FAILED, seconds, {}, problem, must.reason, wall, ended, must.notes)
                )
                continue
            assert action.fingerprint is not None
            self.records.put(action.id, action.fingerprint, result)
            outcome = Outcome(action, Status.BUILT, seconds, result, None, must.reason, wall, ended, must.notes)
            if self.remote is not None and self.remote.mode is RemoteMode.READWRITE and self.remote.handles(action):
                upload = uploads.submit(self.remote.store, action, result, self.log_path(f"store:{action.id}"))
                with self._lock:
                    self._uploads.append((outcome, upload))
            outcomes.append(outcome)
        return outcomes


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, AcnBuildError) else f"{type(exc).__name__}: {exc}"
