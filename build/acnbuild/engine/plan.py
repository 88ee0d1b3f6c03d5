"""The build as data: a DAG of actions, each with a fingerprint of everything that can change its output.

Checking whether an action is up to date only reads. What brings an output up to date without running the action
again (re-tagging an image under a new name) is a ``repair`` effect, run by the executor, never by a check;
so printing a plan touches no engine, registry or record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from .records import RecordStore

Result = dict[str, Any]


class Freshness(StrEnum):
    CURRENT = "current"  # recorded with these inputs, and the output is still there
    STALE = "stale"  # must run
    REPAIRABLE = "repairable"  # the output exists but needs an effect (e.g. a new tag) to be current
    UNKNOWN = "unknown"  # cannot tell without an engine, a registry or the toolchain


@dataclass(frozen=True)
class Check:
    freshness: Freshness
    reason: str
    repair: Callable[[], Result] | None = field(default=None, compare=False)

    @property
    def would_run(self) -> bool | None:
        if self.freshness is Freshness.UNKNOWN:
            return None
        return self.freshness is Freshness.STALE


class Step(Protocol):
    """What an action does: run it, or check (reading only) what a recorded run left behind."""

    def run(self, log: Path) -> Result: ...

    def check(self, result: Result, *, offline: bool) -> Check:
        """``offline``: answer without contacting an engine or registry (UNKNOWN where that is needed)."""
        ...


class Batch(Protocol):
    """Actions whose steps are cheaper run together, e.g. one ``go build`` over several packages of a platform.

    The executor runs the members that must run and are ready at the same time in one ``run``; a batch of one is
    just that action's step.
    """

    @property
    def key(self) -> str: ...

    def run(self, actions: Sequence[Action], log: Path) -> Mapping[str, Result]:
        """Run every member; their results by action id. Raising fails every member."""
        ...


@dataclass
class Action:
    id: str
    kind: str
    summary: str
    fingerprint: str | None  # None: not knowable here (e.g. a plan on a machine without the toolchain)
    resource: str  # actions of one resource class share a concurrency limit
    step: Step = field(repr=False)
    deps: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    batch: Batch | None = field(default=None, repr=False, compare=False)


def check(action: Action, records: RecordStore, *, offline: bool) -> Check:
    """Is ``action`` up to date? Reads the record and (through the step) the output; changes nothing."""
    if action.fingerprint is None:
        return Check(Freshness.UNKNOWN, "inputs cannot be fingerprinted here")
    record = records.get(action.id)
    if record is None:
        return Check(Freshness.STALE, "never built")
    if record.get("fingerprint") != action.fingerprint:
        return Check(Freshness.STALE, "inputs changed")
    return action.step.check(record.get("result") or {}, offline=offline)


@dataclass
class Plan:
    actions: list[Action]

    def __post_init__(self) -> None:
        ids = [a.id for a in self.actions]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate action ids in plan")
        position = {a: i for i, a in enumerate(ids)}
        for action in self.actions:
            for dep in action.deps:
                if position.get(dep, len(ids)) >= position[action.id]:
                    raise ValueError(f"{action.id} depends on {dep}, which does not come before it")

    def get(self, action_id: str) -> Action:
        return next(a for a in self.actions if a.id == action_id)

    def rows(self, records: RecordStore) -> list[dict[str, Any]]:
        """Every action, what it depends on, and whether (and why) it would run: offline, read-only."""
        rows = []
        for action in self.actions:
            status = check(action, records, offline=True)
            rows.append(
                {
                    "id": action.id,
                    "kind": action.kind,
                    "summary": action.summary,
                    "deps": list(action.deps),
                    "fingerprint": action.fingerprint,
                    "would_run": status.would_run,
                    "reason": status.reason,
                    **action.details,
                }
            )
        return rows


class PlanBuilder:
    """Collects actions in dependency order; an action added twice (same id) is kept once."""

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def add(self, action: Action) -> Action:
        return self._actions.setdefault(action.id, action)

    def get(self, action_id: str) -> Action | None:
        return self._actions.get(action_id)

    def plan(self) -> Plan:
        return Plan(list(self._actions.values()))
