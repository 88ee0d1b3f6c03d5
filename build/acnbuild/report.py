"""Output for people (stderr: progress, tables) and for machines (JSON on stdout)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from .engine.executor import Outcome, Status
from .engine.plan import Action
from .model import ActionKind

if TYPE_CHECKING:
    from .registry.lists import ListRequest

console = Console(stderr=True, highlight=False)
if not console.is_terminal:
    console.width = 200  # CI logs: never truncate image references

_STATUS_STYLE = {Status.BUILT: "green", Status.CACHED: "cyan", Status.FAILED: "bold red", Status.SKIPPED: "yellow"}
# What a status means for a push: "built" is a fresh upload, "cached" an image the registry already holds.
_PUSH_WORDS = {Status.BUILT: "pushed", Status.CACHED: "present"}


# A smoke test that ran says "passed" (now or before); one that could not run says so.
_SMOKE_WORDS = {Status.BUILT: "passed", Status.CACHED: "passed"}


def status_word(outcome: Outcome) -> str:
    if outcome.action.kind == ActionKind.PUSH:
        return _PUSH_WORDS.get(outcome.status, outcome.status.value)
    if outcome.action.kind == ActionKind.SMOKE:
        if outcome.result.get("ran") is False and outcome.status in _SMOKE_WORDS:
            return "not run"
        return _SMOKE_WORDS.get(outcome.status, outcome.status.value)
    return outcome.status.value


class Progress:
    """One line per finished action (the executor's observer)."""

    def started(self, action: Action) -> None:
        return None

    def waiting(self, action: Action, lock: Path) -> None:
        console.print(
            f"[yellow]waiting[/] for another run in this checkout to finish: {action.summary} [dim]({lock})[/]"
        )

    def finished(self, outcome: Outcome) -> None:
        style = _STATUS_STYLE.get(outcome.status, "")
        word = status_word(outcome)
        console.print(f"[{style}]{word:>7}[/] {outcome.action.summary} [dim]({outcome.seconds:.1f}s)[/]")
        if outcome.error and outcome.status is Status.FAILED:
            console.print(outcome.error, style="red", markup=False, soft_wrap=True)  # whole lines: greppable
        if outcome.result.get("note"):
            console.print(f"note: {outcome.result['note']}", style="yellow", markup=False)


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
    steps = {ActionKind.IMAGE: "build", ActionKind.SMOKE: "start", ActionKind.PUSH: "push"}
    for outcome in outcomes:
        if outcome.action.kind not in steps:
            continue
        details = outcome.action.details
        identity = outcome.result.get("image_id") or outcome.result.get("digest") or "-"
        table.add_row(
            details["reference"],
            details["platform"],
            steps[ActionKind(outcome.action.kind)],
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


# The products of the binary sessions (upstream's *-binary and *-archive), in the order they were planned.
FILE_KINDS = (ActionKind.GO_BINARY, ActionKind.INSTALLER, ActionKind.ARCHIVE)


def files_summary(outcomes: Sequence[Outcome]) -> None:
    """A table of the binaries and archives a session made or found unchanged (path, sha256, size, time)."""
    table = Table(title="binaries", title_justify="left", show_lines=False)
    for column in ("file", "platform", "status", "sha256", "size", "time"):
        table.add_column(column)
    for outcome in outcomes:
        if outcome.action.kind not in FILE_KINDS:
            continue
        details = outcome.action.details
        table.add_row(
            details["output"],
            details["platform"],
            f"[{_STATUS_STYLE.get(outcome.status, '')}]{outcome.status.value}[/]",
            str(outcome.result.get("sha256") or "-")[:12],
            human_size(outcome.result.get("size")),
            f"{outcome.seconds:.1f}s",
        )
    console.print(table)


def outcomes_json(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    return [
        {
            "id": o.action.id,
            "kind": o.action.kind,
            "status": o.status.value,
            "seconds": round(o.seconds, 3),
            "result": o.result,
            "error": o.error,
            **o.action.details,
        }
        for o in outcomes
    ]


def _stdout() -> Console:
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = 200
    return out


def print_plan(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table = Table(title="plan", title_justify="left")
    for column in ("action", "needs", "would", "why", "fingerprint"):
        table.add_column(column)
    words = {True: "run", False: "skip", None: "unknown"}
    for row in data["actions"]:
        table.add_row(
            row["summary"],
            ", ".join(row["deps"]) or "-",
            words[row["would_run"]],
            row["reason"],
            (row["fingerprint"] or "unknown")[:12],
        )
    _stdout().print(table)


def print_list_plan(requests: Sequence[ListRequest], *, push: bool) -> None:
    """What a manifest session would do; nothing was read from or written to a registry."""
    verb = "assemble and push" if push else "assemble"
    for request in requests:
        console.print(f"would {verb} {request.reference} from:")
        for child in request.children:
            console.print(f"    {child.reference}", style="dim")


def print_lists(results: dict[str, dict[str, Any]]) -> None:
    for result in results.values():
        action = "pushed" if result["pushed"] else "built"
        entries = result["entries"]
        console.print(f"{action} {result['reference']} ({len(entries)} entries) -> {result['file']}")
        for entry in entries:
            p = entry["platform"]
            extra = "/" + p["variant"] if p.get("variant") else ""
            extra += f" os.version={p['os.version']}" if p.get("os.version") else ""
            console.print(f"    {p['os']}/{p['architecture']}{extra}  {entry['digest']}", style="dim")


def print_reproducibility(rows: Sequence[tuple[str, str, str, str, bool]]) -> None:
    """verify-reproducible: each compared result of the two builds."""
    table = Table(title="reproducibility", title_justify="left")
    for column in ("action", "result", "first build", "second build", "same"):
        table.add_column(column)
    for action, what, first, second, same in rows:
        mark = "[green]yes[/]" if same else "[bold red]NO[/]"
        table.add_row(action, what, first.removeprefix("sha256:")[:16], second.removeprefix("sha256:")[:16], mark)
    console.print(table)
