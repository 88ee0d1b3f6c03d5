"""The build as data: a DAG of actions, each with a fingerprint of everything that can change its output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .records import RecordStore

# (work directory for logs) -> result details recorded with the fingerprint
Runner = Callable[[Path], dict[str, Any]]
# recorded result -> True when the output it names still exists (and is made current)
Validator = Callable[[dict[str, Any]], bool]


@dataclass
class Action:
    id: str
    kind: str  # go-binary | image
    summary: str
    fingerprint: str
    resource: str  # actions of one resource class share a concurrency limit
    run: Runner = field(repr=False)
    still_valid: Validator = field(repr=False)
    deps: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def cache_status(self, records: RecordStore) -> tuple[bool, str]:
        """(up to date?, why): the reason a plan shows and the executor acts on."""
        record = records.get(self.id)
        if record is None:
            return False, "never built"
        if record.get("fingerprint") != self.fingerprint:
            return False, "inputs changed"
        if not self.still_valid(record.get("result", {})):
            return False, "output missing"
        return True, "unchanged"


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

    def to_json(self, records: RecordStore) -> dict[str, Any]:
        rows = []
        for action in self.actions:
            current, reason = action.cache_status(records)
            rows.append(
                {
                    "id": action.id,
                    "kind": action.kind,
                    "summary": action.summary,
                    "deps": list(action.deps),
                    "fingerprint": action.fingerprint,
                    "would_run": not current,
                    "reason": reason,
                    **action.details,
                }
            )
        matrix = [
            {k: row[k] for k in ("component", "platform", "sku", "reference") if k in row}
            for row in rows
            if row["kind"] == "image"
        ]
        return {"actions": rows, "matrix": matrix}
