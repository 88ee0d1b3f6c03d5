"""Where the build keeps shared state: the toolchain and Go caches (per user) and records (per checkout)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache() -> Path:
    """Shared across checkouts and sessions: toolchains and GOCACHE. ``ACNBUILD_CACHE`` overrides."""
    if os.environ.get("ACNBUILD_CACHE"):
        return Path(os.environ["ACNBUILD_CACHE"]).resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "acnbuild"


def state_dir(root: Path) -> Path:
    """Per checkout: action records, logs and staged contexts (git-ignored)."""
    return root / ".acnbuild"


def output_dir(root: Path) -> Path:
    """Build products, laid out as upstream's ``output/<goos>_<goarch>/``."""
    return root / "output"
