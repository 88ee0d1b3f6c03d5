"""Base images: pinned references, and the explicit overrides that point a build at a mirror or stand-in.

An override maps a base (its repository, or ``repository:tag`` to tell SKUs apart) to another reference,
itself pinned by digest: ``mcr.microsoft.com/windows/servercore=127.0.0.1:5000/servercore@sha256:...``.
It is how a machine without access to the upstream registry builds against a local copy or stand-in.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import UserError

_PINNED = re.compile(r"^[a-z0-9.:-]+(/[a-z0-9._-]+)*(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$")


def repository(reference: str) -> str:
    """``host/path/name`` of a reference: tag and digest removed."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name.rsplit(":", 1)[0]
    return name


def registry_host(reference: str) -> str | None:
    first = reference.split("/", 1)[0]
    return first if "/" in reference and ("." in first or ":" in first or first == "localhost") else None


def is_loopback(reference: str) -> bool:
    """True for references served from this machine (127.0.0.0/8, ::1, localhost), which use plain HTTP."""
    host = registry_host(reference)
    if host is None:
        return False
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1 : host.index("]")]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


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
            if not _PINNED.match(replacement):
                raise UserError(
                    f"{source}: the override for {name} ({replacement}) is not pinned by digest",
                    hint="overrides must be name@sha256:<64 hex>, like the bases they replace",
                )
            mapping.append((name.split("@", 1)[0], replacement))
        return cls(tuple(mapping))

    def apply(self, declared: str) -> str:
        """The replacement for ``declared``: a key naming its tag (``name:tag``) wins over a bare repository."""
        if declared == "scratch":
            return declared
        table = dict(self.mapping)
        for key in (declared.split("@", 1)[0], repository(declared)):
            if key in table:
                return table[key]
        return declared
