"""What the executor asks of a remote cache: outputs kept elsewhere, keyed by the actions' fingerprints.

Before running an action the executor asks ``fetch``; a hit brings the output here (verified) and is recorded like
a build. After a successful run it hands the output to ``store``, unless the cache is read-only. The cache decides
which actions it can keep (``handles``); everything else runs as if there were no cache. How outputs are kept (an
OCI registry, a directory) is the implementation's business: the engine knows only this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from .plan import Action, Result


class RemoteMode(StrEnum):
    READ = "read"  # fetch only: for untrusted runs (pull requests), which must not write what others trust
    READWRITE = "readwrite"  # fetch, and store what ran


@dataclass(frozen=True)
class Fetched:
    """A hit: the action's result (as a run would have recorded it), and what was fetched, for people."""

    result: Result
    note: str = ""


@dataclass(frozen=True)
class Miss:
    """Not in the cache, or unusable (corrupt, wrong platform, unreachable): the action runs."""

    reason: str


class RemoteCache(Protocol):
    @property
    def name(self) -> str:
        """Where the cache is, for messages (never with credentials)."""
        ...

    @property
    def mode(self) -> RemoteMode: ...

    def handles(self, action: Action) -> bool:
        """Whether outputs of this action can be kept (pushes, for one, cannot)."""
        ...

    def fetch(self, action: Action, log: Path) -> Fetched | Miss:
        """Bring the output of ``action`` (by its fingerprint) here, verified; never raises for a bad entry."""
        ...

    def store(self, action: Action, result: Result, log: Path) -> str | None:
        """Keep the output of a run that just succeeded; returns what was stored, for people (None: nothing was,
        because this result is not worth keeping). Raising is allowed: the executor reports it as a warning, never
        as a failed action.
        """
        ...
