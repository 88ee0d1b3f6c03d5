"""Run a plan: check what is current, fetch what a remote cache holds, run the rest on a bounded pool.

An action goes through two phases. Its *check* (on a small pool of its own) decides from the record, the output
and, when configured, the remote cache whether it must run at all. What must run is *dispatched* on the run pool,
within per-resource limits; actions sharing a ``Batch`` that must run at the same time are dispatched together,
as one run. Outputs of runs go to the remote cache in the background; the build never waits for an upload.

Runs in one checkout share its records: an action is checked and run under a lock of its own (``locks``), taken
at its check and let go once it is recorded, so two runs wanting the same action do it once (the second waits,
then finds it recorded), while different actions of concurrent runs still go in parallel. An action whose lock
another run holds is checked after that run lets go and then runs on its own, outside its batch (a batch waiting
for it could otherwise wait for a lock its own run holds). An interrupted run (``interrupts``) starts nothing
more, lets the actions in flight unwind (their tools are stopped; nothing is recorded for them) and raises
``Interrupted``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .. import interrupts
from ..errors import AcnBuildError, Interrupted
from ..paths import file_name
from .plan import Action, Freshness, Plan, Result, check
from .records import RecordStore
from .remote import Fetched, Miss, RemoteCache, RemoteMode

if TYPE_CHECKING:  # filelock is imported when a run uses locks
    import filelock


class Status(StrEnum):
    BUILT = "built"  # ran
    CACHED = "cached"  # recorded with the same inputs and still there (perhaps after a repair effect)
    REMOTE_HIT = "remote-hit"  # fetched from the remote cache by its fingerprint instead of running
    FAILED = "failed"
    SKIPPED = "skipped"  # not run because something it depends on failed, or the run was interrupted


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


@dataclass
class _MustRun:
    """A checked action that has to run, and why; it holds its lock until it is recorded."""

    action: Action
    reason: str
    notes: list[str]
    lock: filelock.BaseFileLock | None = None
    alone: bool = False  # waited for another run's lock: runs outside its batch


@dataclass
class _Contended:
    """An action whose lock another run holds: to be checked again once that run lets go."""

    action: Action


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
        locks: Path | None = None,
    ) -> None:
        self.records = records
        self.logs = logs
        self.jobs = max(1, jobs)
        self.observer = observer or SilentObserver()
        self.limits = dict(limits or {})
        self.remote = remote
        self.locks = locks
        self._uploads: list[tuple[Outcome, Future[str | None]]] = []
        self._lock = threading.Lock()

    def log_path(self, action_id: str) -> Path:
        return self.logs / f"{file_name(action_id)}.log"

    def run(self, plan: Plan) -> list[Outcome]:
        self.logs.mkdir(parents=True, exist_ok=True)
        self._uploads = []
        outcomes: dict[str, Outcome] = {}
        waiting: list[_MustRun] = []
        in_flight: dict[Future[Any], Any] = {}
        pools = (
            ThreadPoolExecutor(max_workers=max(4, self.jobs), thread_name_prefix="check"),
            ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="run"),
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload"),
        )
        try:
            self._schedule(plan, pools, outcomes, waiting, in_flight)
        except BaseException:
            for pool in pools:
                pool.shutdown(wait=False, cancel_futures=True)
            wait(in_flight, timeout=SETTLE_TIMEOUT)  # tools are being stopped; their actions unwind, unrecorded
            for must in waiting:
                _release(must.lock)
            raise
        for pool in pools:
            pool.shutdown(wait=True)
        self._collect_uploads()
        return [outcomes[a.id] for a in plan.actions]

    def _schedule(
        self,
        plan: Plan,
        pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor, ThreadPoolExecutor],
        outcomes: dict[str, Outcome],
        waiting: list[_MustRun],
        in_flight: dict[Future[Any], Any],
    ) -> None:
        checks, runs, uploads = pools
        pending = list(plan.actions)
        checking: dict[Future[Any], Action] = {}  # checks that hold (or are taking) their lock without waiting
        contended: dict[Future[Any], Action] = {}  # checks waiting for another run's lock
        running: dict[Future[Any], list[_MustRun]] = {}
        busy: dict[str, int] = {}
        failed = False

        def finish(outcome: Outcome) -> None:
            nonlocal failed
            outcomes[outcome.action.id] = outcome
            failed = failed or outcome.status is Status.FAILED
            self.observer.finished(outcome)

        def skip(action: Action) -> None:
            now = time.time()
            finish(Outcome(action, Status.SKIPPED, error="not run: an earlier action failed", started=now, ended=now))

        while pending or checking or contended or waiting or running:
            for action in list(pending):
                deps = [outcomes.get(d) for d in action.deps]
                if failed or any(o is not None and o.status in (Status.FAILED, Status.SKIPPED) for o in deps):
                    pending.remove(action)
                    skip(action)
                elif all(o is not None for o in deps):
                    pending.remove(action)
                    checked_later = checks.submit(self._check, action, False)
                    checking[checked_later] = in_flight[checked_later] = action
            if failed:
                for must in waiting:
                    _release(must.lock)
                    skip(must.action)
                waiting.clear()
            for group in self._dispatchable(waiting, list(checking.values()), busy):
                for must in group:
                    waiting.remove(must)
                resource = group[0].action.resource
                busy[resource] = busy.get(resource, 0) + 1
                ran_later = runs.submit(self._run, group, uploads)
                running[ran_later] = in_flight[ran_later] = group
            if not checking and not contended and not running:
                continue
            done, _ = wait([*checking, *contended, *running], return_when=FIRST_COMPLETED)
            interrupts.check()  # an interrupted run reports no failures of the work it stopped
            for future in done:
                in_flight.pop(future, None)
                if future in checking or future in contended:
                    action = checking.pop(future) if future in checking else contended.pop(future)
                    checked: Outcome | _MustRun | _Contended = future.result()
                    if isinstance(checked, Outcome):
                        finish(checked)
                    elif isinstance(checked, _Contended):
                        again = checks.submit(self._check, action, True)
                        contended[again] = in_flight[again] = action
                    else:
                        waiting.append(checked)
                else:
                    group = running.pop(future)
                    busy[group[0].action.resource] -= 1
                    ran: list[Outcome] = future.result()
                    for outcome in ran:
                        finish(outcome)

    def _collect_uploads(self) -> None:
        for outcome, upload in self._uploads:
            try:
                stored = upload.result()
                if stored is not None:
                    outcome.notes.append(f"stored in the remote cache: {stored}")
                    outcome.stored = True
            except Exception as exc:  # noqa: BLE001 - an upload that failed is a warning, never a failure
                outcome.notes.append(f"warning: not stored in the remote cache: {_describe(exc)}")

    def _dispatchable(
        self, waiting: Sequence[_MustRun], checking: Sequence[Action], busy: Mapping[str, int]
    ) -> list[list[_MustRun]]:
        """Groups ready to run now: a batch once none of its members is still being checked, within limits."""
        checking_keys = {a.batch.key for a in checking if a.batch is not None}
        groups: dict[str, list[_MustRun]] = {}
        for must in waiting:
            batch = None if must.alone else must.action.batch
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

    def _acquire(self, action: Action, patient: bool) -> tuple[filelock.BaseFileLock | None, bool]:
        """Take ``action``'s lock: (lock, True); held by another run and not ``patient``: (None, False)."""
        if self.locks is None:
            return None, True
        import filelock

        self.locks.mkdir(parents=True, exist_ok=True)
        path = self.locks / f"{file_name(action.id)}.lock"
        lock = filelock.FileLock(path, thread_local=False)  # taken by a check thread, let go by a run thread
        try:
            lock.acquire(timeout=0)
            return lock, True
        except filelock.Timeout:
            if not patient:
                return None, False
        self.observer.waiting(action, path)
        while True:
            interrupts.check()
            try:
                lock.acquire(timeout=0.5)
                return lock, True
            except filelock.Timeout:
                continue

    def _check(self, action: Action, patient: bool) -> Outcome | _MustRun | _Contended:
        """Is it current (or repairable)? Else, does the remote cache hold it? Else it must run."""
        started, wall = time.monotonic(), time.time()

        def outcome(status: Status, result: Result, *, reason: str, notes: list[str] | None = None,
                    error: str | None = None) -> Outcome:  # fmt: skip
            seconds = time.monotonic() - started
            return Outcome(action, status, seconds, result, error, reason, wall, time.time(), notes or [])

        lock = None
        try:
            interrupts.check()
            lock, taken = self._acquire(action, patient)
            if not taken:
                return _Contended(action)
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
                except Interrupted:
                    raise
                except Exception as exc:  # noqa: BLE001 - the cache is an optimisation: its failure is a miss
                    fetched = Miss(f"the remote cache failed: {_describe(exc)}")
                if isinstance(fetched, Fetched):
                    self.records.put(action.id, action.fingerprint, fetched.result)
                    note = [fetched.note] if fetched.note else []
                    return outcome(Status.REMOTE_HIT, fetched.result, reason=status.reason, notes=note)
                notes.append(f"remote cache miss: {fetched.reason}")
            must, lock = _MustRun(action, status.reason, notes, lock, alone=patient), None  # the lock goes with it
            return must
        except Interrupted as exc:
            return outcome(Status.SKIPPED, {}, reason="", error=str(exc))
        except AcnBuildError as exc:
            return outcome(Status.FAILED, {}, reason="", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - reported per action, never swallowed silently
            return outcome(Status.FAILED, {}, reason="", error=_describe(exc))
        finally:
            _release(lock)

    def _run(self, group: Sequence[_MustRun], uploads: ThreadPoolExecutor) -> list[Outcome]:
        """Run one action, or one batch of them; record each result and hand it to the remote cache."""
        try:
            return self._run_locked(group, uploads)
        finally:
            for must in group:
                _release(must.lock)

    def _run_locked(self, group: Sequence[_MustRun], uploads: ThreadPoolExecutor) -> list[Outcome]:
        started, wall = time.monotonic(), time.time()
        for must in group:
            self.observer.started(must.action)
        actions = [must.action for must in group]
        try:
            interrupts.check()
            batch = None if group[0].alone else actions[0].batch
            if batch is not None and len(actions) > 1:
                log = self.log_path(f"batch:{batch.key}")
                log.unlink(missing_ok=True)
                results = dict(batch.run(actions, log))
            else:
                results = {actions[0].id: actions[0].step.run(self.log_path(actions[0].id))}
            error, status = None, Status.FAILED
        except Interrupted as exc:
            results, error, status = {}, str(exc), Status.SKIPPED
        except AcnBuildError as exc:
            results, error, status = {}, str(exc), Status.FAILED
        except Exception as exc:  # noqa: BLE001 - reported per action, never swallowed silently
            results, error, status = {}, _describe(exc), Status.FAILED
        ended = time.time()
        seconds = time.monotonic() - started
        outcomes = []
        for must in group:
            action = must.action
            result = results.get(action.id)
            if result is None:
                problem = error or f"{action.id}: its batch returned no result"
                outcomes.append(Outcome(action, status, seconds, {}, problem, must.reason, wall, ended, must.notes))
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


def _release(lock: filelock.BaseFileLock | None) -> None:
    if lock is not None and lock.is_locked:
        lock.release()


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, AcnBuildError) else f"{type(exc).__name__}: {exc}"
