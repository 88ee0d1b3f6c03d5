"""A throwaway Wine prefix that runs Go >= 1.22 Windows binaries on Debian 12's Wine 8.0.

Wine 8.0 has no bcryptprimitives.dll, which the Go runtime needs; we assemble a tiny one with the MinGW
binutils (Debian binutils-mingw-w64-x86-64) and drop it into the prefix's system32.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
WINE = Path("/usr/lib/wine/wine64")
TOOL_PREFIX = "x86_64-w64-mingw32-"


def available() -> bool:
    return WINE.exists() and shutil.which(TOOL_PREFIX + "ld") is not None


def build_shim(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    run = lambda *args: subprocess.run(args, cwd=out, check=True, capture_output=True)  # noqa: E731
    run(TOOL_PREFIX + "as", "-o", "shim.o", str(HERE / "bcryptprimitives.s"))
    run(TOOL_PREFIX + "dlltool", "-d", str(HERE / "advapi32.def"), "-l", "libadvapi32.a")
    run(TOOL_PREFIX + "ld", "-shared", "-e", "DllMain", "--subsystem", "windows", "-o", "bcryptprimitives.dll",
        "shim.o", str(HERE / "bcryptprimitives.def"), "libadvapi32.a")  # fmt: skip
    return out / "bcryptprimitives.dll"


def make_prefix(directory: Path) -> dict[str, str]:
    """Create the prefix and return the environment that runs programs in it."""
    env = {**os.environ, "WINEDEBUG": "-all", "WINEPREFIX": str(directory / "prefix")}
    subprocess.run([str(WINE), "wineboot", "--init"], env=env, capture_output=True, timeout=300, check=False)
    system32 = directory / "prefix" / "drive_c" / "windows" / "system32"
    shutil.copy2(build_shim(directory / "shim"), system32 / "bcryptprimitives.dll")
    return env
