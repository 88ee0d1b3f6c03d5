"""Stable content fingerprints: a sha256 over labelled parts (strings, file contents, other fingerprints)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_digest(root: Path, files: Iterable[Path]) -> dict[str, str]:
    """Content digests keyed by path relative to ``root``: renames and edits both change the result."""
    return {p.relative_to(root).as_posix(): file_digest(p) for p in sorted(set(files))}


def combine(parts: Mapping[str, Any]) -> str:
    """One digest over JSON-serialisable parts, in a canonical encoding."""
    encoded = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def combine_known(parts: Mapping[str, Any], inputs: Iterable[str | None]) -> str | None:
    """``combine(parts)``, or None when one of the fingerprints it builds on is not known here."""
    return None if any(i is None for i in inputs) else combine(parts)
