"""Run a plan: ready actions on a bounded pool, per-resource limits, skip what is recorded and unchanged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BuildFailed, UserError
from .plan import Action, Plan
from .records import RecordStore

# Go already uses every core; two compilers at once would only redo each other's stdlib work.
RESOURCE_LIMITS = {"go": 1}


@dataclass
class Outcome:
    action: Action
    status: str  # built | cached | failed | skipped
    seconds: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


Progress = Callable[[Outcome], None]


class Executor:
    def __init__(self, records: RecordStore, logs: Path, jobs: int, progress: Progress | None = None) -> None:
        self.records = records
        self.logs = logs
        self.jobs = max(1, jobs)
        self.progress = progress or (lambda outcome: None)
        self._limits = {name: threading.Semaphore(n) for name, n in RESOURCE_LIMITS.items()}

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
                    if any(o is not None and o.status in ("failed", "skipped") for o in deps) or failed:
                        pending.remove(action)
                        outcomes[action.id] = Outcome(action, "skipped", error="not run: an earlier action failed")
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
                    failed = failed or outcome.status == "failed"
                    self.progress(outcome)
        return [outcomes[a.id] for a in plan.actions]

    def _execute(self, action: Action) -> Outcome:
        started = time.monotonic()
        try:
            current, _ = action.cache_status(self.records)
            if current:
                record = self.records.get(action.id) or {}
                return Outcome(action, "cached", time.monotonic() - started, record.get("result", {}))
            limit = self._limits.get(action.resource)
            if limit:
                limit.acquire()
            try:
                result = action.run(self.logs)
            finally:
                if limit:
                    limit.release()
            self.records.put(action.id, action.fingerprint, result)
            return Outcome(action, "built", time.monotonic() - started, result)
        except (BuildFailed, UserError) as exc:
            return Outcome(action, "failed", time.monotonic() - started, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - reported per action, never swallowed silently
            return Outcome(action, "failed", time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
