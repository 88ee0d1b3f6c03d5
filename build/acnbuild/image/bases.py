"""Base images: pinned references, and the explicit overrides that point a build at a mirror or stand-in.

An override maps a base (its repository, or ``repository:tag`` to tell SKUs apart) to another reference,
itself pinned by digest: ``mcr.microsoft.com/windows/servercore=127.0.0.1:5000/servercore@sha256:...``.
It is how a machine without access to the upstream registry builds against a local copy or stand-in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import UserError
from ..references import InvalidReference, Reference

SCRATCH = "scratch"


def is_pinned(reference: str) -> bool:
    try:
        return Reference.parse(reference).digest is not None
    except InvalidReference:
        return False


def is_loopback(reference: str) -> bool:
    """True for a base served from this machine (plain HTTP); ``scratch`` is no registry at all."""
    return reference != SCRATCH and Reference.parse(reference).is_loopback


def _keys(reference: str) -> tuple[str, ...]:
    """Override keys that select ``reference``: ``name:tag`` first (tells SKUs apart), then ``name``."""
    parsed = Reference.parse(reference)
    tagged = (f"{parsed.name}:{parsed.tag}",) if parsed.tag else ()
    return (*tagged, parsed.name)


@dataclass(frozen=True)
class BaseOverrides:
    mapping: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str], source: str) -> BaseOverrides:
        mapping = []
        for entry in entries:
            name, sep, replacement = entry.partition("=")
            if not sep or not name or not replacement:
                raise UserError(
                    f"{source}: {entry!r} is not REPOSITORY=REFERENCE",
                    hint="e.g. mcr.microsoft.com/windows/servercore=127.0.0.1:5000/servercore@sha256:<digest>",
                )
            try:
                key = _keys(name.split("@", 1)[0])[0]
                pinned = is_pinned(replacement)
            except InvalidReference as error:
                raise UserError(f"{source}: {entry!r}: {error.message}", hint=error.hint) from None
            if not pinned:
                raise UserError(
                    f"{source}: the override for {name} ({replacement}) is not pinned by digest",
                    hint="overrides must be name@sha256:<64 hex>, like the bases they replace",
                )
            mapping.append((key, replacement))
        return cls(tuple(mapping))

    def apply(self, declared: str) -> str:
        """The replacement for ``declared``: a key naming its tag (``name:tag``) wins over a bare repository."""
        if declared == SCRATCH:
            return declared
        table = dict(self.mapping)
        for key in _keys(declared):
            if key in table:
                return table[key]
        return declared
