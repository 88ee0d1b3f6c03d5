"""Output for people (stderr: progress, tables) and for machines (JSON on stdout).

On a terminal, rich draws: a live display of running actions and tables. In logs (no terminal, or ``CI=true``),
output is plain text (timestamped lines, aligned columns) and rich, with its 46 modules, is never loaded: it would
cost a no-op build a quarter of its time.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .atomic import atomic_write
from .engine.executor import Outcome, Status
from .engine.plan import Action
from .engine.profile import chrome_trace
from .model import ActionKind

if TYPE_CHECKING:
    from rich.console import Console

    from .registry.lists import ListRequest

_MARKUP = re.compile(r"\[/?(?:bold red|bold|dim|green|cyan|magenta|yellow|red)?\]")


def is_terminal(stream: Any = None) -> bool:
    """Whether output goes to a person at a terminal (rich), rather than a log (plain text)."""
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("CI") == "true" or os.environ.get("TERM") == "dumb":
        return False
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


class Output:
    """``print`` for people: through rich on a terminal, plain lines (our markup removed) in logs."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream
        self.is_terminal = is_terminal(self.stream)

    @property
    def stream(self) -> Any:
        return self._stream if self._stream is not None else sys.stderr

    @cached_property
    def rich(self) -> Console:
        from rich.console import Console

        found = Console(file=self._stream, stderr=self._stream is None, highlight=False)
        if not found.is_terminal:
            found.width = 200  # logs: never truncate image references
        return found

    def print(self, *objects: Any, style: str | None = None, markup: bool = True, soft_wrap: bool = False) -> None:
        if self.is_terminal or not all(isinstance(o, str) for o in objects):
            self.rich.print(*objects, style=style, markup=markup, soft_wrap=soft_wrap)
            return
        text = " ".join(objects)
        print(_MARKUP.sub("", text) if markup else text, file=self.stream, flush=True)


def plain_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns for logs (what a rich table shows on a terminal)."""
    cells = [list(columns), *([_MARKUP.sub("", c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [title] + ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


console = Output()

_STATUS_STYLE = {Status.BUILT: "green", Status.CACHED: "cyan", Status.REMOTE_HIT: "magenta", Status.FAILED: "bold red",
                 Status.SKIPPED: "yellow"}  # fmt: skip
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


def _finished_line(outcome: Outcome) -> str:
    style = _STATUS_STYLE.get(outcome.status, "")
    return f"[{style}]{status_word(outcome):>10}[/] {outcome.action.summary} [dim]({outcome.seconds:.1f}s)[/]"


def _details(outcome: Outcome, out: Output | Console) -> None:
    """Under a finished action's line: its error, and a note its result carries."""
    if outcome.error and outcome.status is Status.FAILED:
        out.print(outcome.error, style="red", markup=False, soft_wrap=True)  # whole lines: greppable
    if outcome.result.get("note"):
        out.print(f"note: {outcome.result['note']}", style="yellow", markup=False)


class Progress:
    """One line per finished action (the executor's observer); the base of the live and plain displays."""

    def __init__(self, total: int = 0) -> None:
        self.total = total
        self.done = 0
        self.running: dict[str, tuple[Action, float]] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        return None

    def started(self, action: Action) -> None:
        with self._lock:
            self.running.setdefault(action.id, (action, time.monotonic()))

    def waiting(self, action: Action, lock: Path) -> None:
        self.say(f"[yellow]waiting[/] for another run in this checkout to finish: {action.summary} [dim]({lock})[/]")

    def say(self, text: str) -> None:
        console.print(text)

    def finished(self, outcome: Outcome) -> None:
        with self._lock:
            self.running.pop(outcome.action.id, None)
            self.done += 1
        if outcome.status is not Status.CACHED:  # unchanged actions are in the summary (and the report)
            self.show(outcome)

    def show(self, outcome: Outcome) -> None:
        console.print(_finished_line(outcome))
        _details(outcome, console)


class PlainProgress(Progress):
    """For logs (no terminal, or CI=true): timestamped start and finish lines, and a heartbeat naming what still runs,
    so a long action is never silent for more than ``heartbeat`` seconds."""

    def __init__(self, total: int, heartbeat: float = 5.0) -> None:
        super().__init__(total)
        self.heartbeat = heartbeat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self._last = time.monotonic()

    def __enter__(self) -> PlainProgress:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _stamp() -> str:
        now = time.time()
        return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"

    def say(self, text: str) -> None:
        self._last = time.monotonic()
        console.print(f"[dim]{self._stamp()}[/] {text}", soft_wrap=True)

    def started(self, action: Action) -> None:
        if action.id not in self.running:  # a remote cache miss starts again as a run: one line is enough
            self.say(f"{'start':>10} {action.summary}")
        super().started(action)

    def show(self, outcome: Outcome) -> None:
        self.say(f"{_finished_line(outcome)} [dim]{self.done}/{self.total}[/]")
        _details(outcome, console)

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self.heartbeat)):
            if time.monotonic() - self._last < self.heartbeat:
                continue
            with self._lock:
                running = sorted(self.running.values(), key=lambda item: item[1])
                done = self.done
            if not running:
                continue
            now = time.monotonic()
            names = ", ".join(f"{action.summary} ({now - since:.0f}s)" for action, since in running)
            self.say(f"{'running':>10} [dim]{done}/{self.total} done:[/] {names}")


class LiveProgress(Progress):
    """On a terminal: a rich display of the running actions with their elapsed time and the count done/total;
    finished actions scroll above it."""

    def __init__(self, total: int) -> None:
        super().__init__(total)
        from rich.progress import Progress as RichProgress
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        self._display = RichProgress(
            SpinnerColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            TextColumn("[dim]{task.fields[count]}[/]"),
            console=console.rich,
            transient=True,
        )
        self._overall = self._display.add_task("[bold]done[/]", total=total, count=f"0/{total}")
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> LiveProgress:
        self._display.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._display.stop()

    def started(self, action: Action) -> None:
        super().started(action)
        with self._lock:
            if action.id not in self._tasks:
                self._tasks[action.id] = self._display.add_task(action.summary, total=None, count="")

    def finished(self, outcome: Outcome) -> None:
        super().finished(outcome)
        self._display.update(self._overall, completed=self.done, count=f"{self.done}/{self.total}")

    def say(self, text: str) -> None:
        self._display.console.print(text)

    def show(self, outcome: Outcome) -> None:
        with self._lock:
            task = self._tasks.pop(outcome.action.id, None)
        if task is not None:
            self._display.remove_task(task)
        self._display.console.print(_finished_line(outcome))
        _details(outcome, self._display.console)


def progress(total: int) -> Progress:
    """The display for this output: live on a terminal, plain timestamped lines in logs and CI."""
    if console.is_terminal:
        return LiveProgress(total)
    return PlainProgress(total)


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return str(size)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], out: Output | None = None) -> None:
    out = out or console
    if not out.is_terminal:
        out.print(plain_table(title, columns, rows), markup=False)
        return
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def summary(outcomes: Sequence[Outcome]) -> None:
    rows = []
    steps = {ActionKind.IMAGE: "build", ActionKind.SMOKE: "start", ActionKind.PUSH: "push"}
    for outcome in outcomes:
        if outcome.action.kind not in steps:
            continue
        details = outcome.action.details
        identity = outcome.result.get("image_id") or outcome.result.get("digest") or "-"
        rows.append(
            (
                details["reference"],
                details["platform"],
                steps[ActionKind(outcome.action.kind)],
                f"[{_STATUS_STYLE.get(outcome.status, '')}]{status_word(outcome)}[/]",
                str(identity).removeprefix("sha256:")[:12],
                human_size(outcome.result.get("size")),
                f"{outcome.seconds:.1f}s",
            )
        )
    print_table("images", ("image", "platform", "step", "status", "id / digest", "size", "time"), rows)
    for outcome in outcomes:
        archive = outcome.result.get("archive")
        if archive:
            where = outcome.action.details["builder"]
            console.print(f"{outcome.action.details['reference']}: in the {where} store; OCI archive {archive}")


def output_digest(outcome: Outcome) -> str | None:
    """What an action produced, as a digest: a file's sha256, an image's id (its config digest), a push's manifest."""
    result = outcome.result
    if result.get("sha256"):
        return f"sha256:{result['sha256']}"
    if outcome.action.kind == ActionKind.PUSH:
        return result.get("digest")
    return result.get("image_id")


def build_report(outcomes: Sequence[Outcome], remote: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON report (``-- --report FILE``): every action with its kind, fingerprint, status and timing."""
    started = min((o.started for o in outcomes if o.started), default=0.0)
    ended = max((o.ended for o in outcomes), default=started)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
    return {
        "version": 1,
        "start": round(started, 3),
        "end": round(ended, 3),
        "seconds": round(ended - started, 3),
        "remote_cache": remote,
        "counts": counts,
        "actions": [
            {
                "id": o.action.id,
                "kind": str(o.action.kind),
                "summary": o.action.summary,
                "fingerprint": o.action.fingerprint,
                "status": o.status.value,
                "reason": o.reason,
                "start": round(o.started, 3),
                "end": round(o.ended, 3),
                "seconds": round(o.seconds, 3),
                "output_digest": output_digest(o),
                "deps": list(o.action.deps),
                "error": o.error,
                "notes": o.notes,
                "stored": o.stored,
                "details": o.action.details,
            }
            for o in outcomes
        ],
    }


def write_report(path: Path, outcomes: Sequence[Outcome], remote: dict[str, str] | None = None) -> None:
    atomic_write(path, json.dumps(build_report(outcomes, remote), indent=1) + "\n")


def write_profile(path: Path, outcomes: Sequence[Outcome]) -> None:
    atomic_write(path, json.dumps(chrome_trace(outcomes)) + "\n")


def notes(outcomes: Sequence[Outcome]) -> None:
    """Remote cache warnings (uploads that failed) after the summary, each once; misses are in the report."""
    warnings: dict[str, list[str]] = {}
    for outcome in outcomes:
        for note in outcome.notes:
            if note.startswith("warning:"):
                warnings.setdefault(note, []).append(outcome.action.id)
    for note, ids in warnings.items():
        who = ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more"
        console.print(f"{who}: {note}", style="yellow", markup=False)


# The products of the binary sessions (upstream's *-binary and *-archive), in the order they were planned.
FILE_KINDS = (ActionKind.GO_BINARY, ActionKind.INSTALLER, ActionKind.ARCHIVE)


def files_summary(outcomes: Sequence[Outcome]) -> None:
    """A table of the binaries and archives a session made or found unchanged (path, sha256, size, time)."""
    rows = []
    for outcome in outcomes:
        if outcome.action.kind not in FILE_KINDS:
            continue
        details = outcome.action.details
        rows.append(
            (
                details["output"],
                details["platform"],
                f"[{_STATUS_STYLE.get(outcome.status, '')}]{outcome.status.value}[/]",
                str(outcome.result.get("sha256") or "-")[:12],
                human_size(outcome.result.get("size")),
                f"{outcome.seconds:.1f}s",
            )
        )
    print_table("binaries", ("file", "platform", "status", "sha256", "size", "time"), rows)


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


def print_plan(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
        return
    words = {True: "run", False: "skip", None: "unknown"}
    rows = [
        (
            row["summary"],
            ", ".join(row["deps"]) or "-",
            words[row["would_run"]],
            row["reason"],
            (row["fingerprint"] or "unknown")[:12],
        )
        for row in data["actions"]
    ]
    print_table("plan", ("action", "needs", "would", "why", "fingerprint"), rows, Output(sys.stdout))


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
    cells = [
        (action, what, first.removeprefix("sha256:")[:16], second.removeprefix("sha256:")[:16],
         "[green]yes[/]" if same else "[bold red]NO[/]")
        for action, what, first, second, same in rows
    ]  # fmt: skip
    print_table("reproducibility", ("action", "result", "first build", "second build", "same"), cells)
