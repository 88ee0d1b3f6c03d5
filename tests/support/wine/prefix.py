"""The tests run Windows binaries with the build's own Wine support (``acnbuild.image.wine``): the shared prefix,
with the bcryptprimitives.dll stand-in Go needs on Debian 12's Wine 8.0."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from acnbuild.image import wine

WINE = wine.find() or Path(wine.WINE_CANDIDATES[0])


def available() -> bool:
    return wine.missing() is None and shutil.which(wine.MINGW + "ld") is not None


def make_prefix(directory: Path) -> dict[str, str]:
    """The environment that runs programs in the build's shared prefix (``directory`` is not needed any more)."""
    return {**os.environ, **wine.prepare().env()}
