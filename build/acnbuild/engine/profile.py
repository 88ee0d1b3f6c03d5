"""A build profile in Chrome's trace event format (as Bazel's ``--profile``): open it in chrome://tracing or Perfetto.

Every action is a complete event (``ph: X``) on a lane of its own while it overlaps others; a separate lane
repeats the critical path: the chain of actions, each waiting for the previous one, that ended last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .executor import Outcome, Status

PID = 1
CRITICAL_LANE = 0


def critical_path(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """From the action that ended last, back through the dependency each one waited for longest (ended last)."""
    by_id = {o.action.id: o for o in outcomes}
    timed = [o for o in outcomes if o.status is not Status.SKIPPED]
    if not timed:
        return []
    current: Outcome | None = max(timed, key=lambda o: o.ended)
    path = []
    while current is not None:
        path.append(current)
        deps = [by_id[d] for d in current.action.deps if d in by_id and by_id[d].status is not Status.SKIPPED]
        current = max(deps, key=lambda o: o.ended) if deps else None
    return list(reversed(path))


def _lanes(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """Greedy interval colouring: an action takes the first lane free when it starts (lanes start at 1)."""
    lanes: list[float] = []  # when each lane becomes free
    assigned = {}
    for outcome in sorted(outcomes, key=lambda o: (o.started, o.ended)):
        for index, free_at in enumerate(lanes):
            if free_at <= outcome.started:
                lanes[index] = outcome.ended
                assigned[outcome.action.id] = index + 1
                break
        else:
            lanes.append(outcome.ended)
            assigned[outcome.action.id] = len(lanes)
    return assigned


def chrome_trace(outcomes: Sequence[Outcome], *, process: str = "acnbuild") -> dict[str, Any]:
    timed = [o for o in outcomes if o.started > 0]
    origin = min((o.started for o in timed), default=0.0)

    def micros(seconds: float) -> int:
        return round((seconds - origin) * 1_000_000)

    lanes = _lanes(timed)
    critical = critical_path(timed)
    critical_ids = {o.action.id for o in critical}
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": PID, "tid": 0, "args": {"name": process}},
        {"name": "thread_name", "ph": "M", "pid": PID, "tid": CRITICAL_LANE, "args": {"name": "critical path"}},
        {"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": CRITICAL_LANE, "args": {"sort_index": -1}},
    ]
    for lane in sorted(set(lanes.values())):
        events.append({"name": "thread_name", "ph": "M", "pid": PID, "tid": lane, "args": {"name": f"lane {lane}"}})

    def event(outcome: Outcome, tid: int) -> dict[str, Any]:
        return {
            "name": outcome.action.summary,
            "cat": str(outcome.action.kind),
            "ph": "X",
            "pid": PID,
            "tid": tid,
            "ts": micros(outcome.started),
            "dur": max(1, micros(outcome.ended) - micros(outcome.started)),
            "args": {
                "id": outcome.action.id,
                "status": outcome.status.value,
                "fingerprint": outcome.action.fingerprint,
                "reason": outcome.reason,
                "critical": outcome.action.id in critical_ids,
                "deps": list(outcome.action.deps),
            },
        }

    for outcome in timed:
        events.append(event(outcome, lanes[outcome.action.id]))
    for outcome in critical:
        events.append(event(outcome, CRITICAL_LANE))
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"critical_path": [o.action.id for o in critical]},
    }
