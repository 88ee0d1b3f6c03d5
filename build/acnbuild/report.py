"""The end of a run: one table for people (stderr), JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from .executor import Outcome
from .plan import Plan
from .records import RecordStore

console = Console(stderr=True, highlight=False)
if not console.is_terminal:
    console.width = 200  # CI logs: never truncate image references

_STATUS_STYLE = {"built": "green", "cached": "cyan", "failed": "bold red", "skipped": "yellow"}


# What a status means for a push: "built" is a fresh upload, "cached" an image the registry already holds.
_PUSH_WORDS = {"built": "pushed", "cached": "present"}


def status_word(outcome: Outcome) -> str:
    return _PUSH_WORDS.get(outcome.status, outcome.status) if outcome.action.kind == "push" else outcome.status


def progress(outcome: Outcome) -> None:
    style = _STATUS_STYLE.get(outcome.status, "")
    word = status_word(outcome)
    console.print(f"[{style}]{word:>7}[/] {outcome.action.summary} [dim]({outcome.seconds:.1f}s)[/]")
    if outcome.error and outcome.status == "failed":
        console.print(outcome.error, style="red", markup=False)


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return str(size)


def summary(outcomes: Sequence[Outcome]) -> None:
    table = Table(title="images", title_justify="left", show_lines=False)
    for column in ("image", "platform", "step", "status", "id / digest", "size", "time"):
        table.add_column(column)
    for outcome in outcomes:
        if outcome.action.kind not in ("image", "push"):
            continue
        details = outcome.action.details
        identity = outcome.result.get("image_id") or outcome.result.get("digest") or "-"
        table.add_row(
            details["reference"],
            details["platform"],
            "build" if outcome.action.kind == "image" else "push",
            f"[{_STATUS_STYLE.get(outcome.status, '')}]{status_word(outcome)}[/]",
            str(identity).removeprefix("sha256:")[:12],
            human_size(outcome.result.get("size")),
            f"{outcome.seconds:.1f}s",
        )
    console.print(table)
    for outcome in outcomes:
        archive = outcome.result.get("archive")
        if archive:
            where = outcome.action.details["builder"]
            console.print(f"{outcome.action.details['reference']}: in the {where} store; OCI archive {archive}")


def outcomes_json(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    return [
        {
            "id": o.action.id,
            "kind": o.action.kind,
            "status": o.status,
            "seconds": round(o.seconds, 3),
            "result": o.result,
            "error": o.error,
            **o.action.details,
        }
        for o in outcomes
    ]


def print_plan(plan: Plan, records: RecordStore, as_json: bool) -> None:
    data = plan.to_json(records)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table = Table(title="plan", title_justify="left")
    for column in ("action", "needs", "would", "why", "fingerprint"):
        table.add_column(column)
    for row in data["actions"]:
        table.add_row(
            row["summary"],
            ", ".join(row["deps"]) or "-",
            "run" if row["would_run"] else "skip",
            row["reason"],
            row["fingerprint"][:12],
        )
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = 200
    out.print(table)
