"""Running Windows Go binaries on Linux: a Wine prefix kept in the user cache, made once, shared by every run.

Go >= 1.22 loads ``bcryptprimitives.dll`` (``ProcessPrng``) at start-up; Wine 8.0 (Debian 12) has none. When the
new prefix lacks it, a tiny stand-in is assembled with the MinGW binutils (``wineshim/``: ProcessPrng fills the
buffer from advapi32's RtlGenRandom) and dropped into the prefix's system32. A later Wine that ships the DLL
needs no shim.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..paths import user_cache

WINE_CANDIDATES = ("/usr/lib/wine/wine64", "wine64", "wine")  # Debian keeps wine64 off PATH
MINGW = "x86_64-w64-mingw32-"
SHIM = "bcryptprimitives.dll"
_READY = ".acnbuild-ready"


@dataclass(frozen=True)
class Wine:
    executable: Path
    prefix: Path

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.prefix.parent),
            "WINEPREFIX": str(self.prefix),
            "WINEDEBUG": "-all",
            "WINEDLLOVERRIDES": "mscoree,mshtml=",  # no Mono/Gecko install prompts
        }

    def run(self, program: Path, args: list[str], *, timeout: float, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.executable), str(program), *args],
            env=self.env(), cwd=cwd, capture_output=True, text=True, errors="replace", timeout=timeout, check=False,
        )  # fmt: skip


def find() -> Path | None:
    for candidate in WINE_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return Path(found)
    return None


def missing() -> str | None:
    """Why Windows binaries cannot run here (None when they can)."""
    if find() is None:
        return "wine is not installed (Debian: apt-get install --no-install-recommends wine64)"
    return None


def prepare(directory: Path | None = None) -> Wine:
    """The shared prefix (``<cache>/wine/prefix``), made on first use under a file lock (~15 s, ~700 MB once)."""
    from filelock import FileLock

    executable = find()
    if executable is None:
        raise RuntimeError(missing())
    home = directory or user_cache() / "wine"
    home.mkdir(parents=True, exist_ok=True)
    wine = Wine(executable, home / "prefix")
    with FileLock(str(home / "prefix.lock")):
        if (wine.prefix / _READY).is_file():
            return wine
        if wine.prefix.exists():
            shutil.rmtree(wine.prefix)  # an interrupted creation
        subprocess.run([str(executable), "wineboot", "--init"], env=wine.env(), capture_output=True, timeout=600,
                       check=False)  # fmt: skip
        server = executable.with_name("wineserver")
        if server.exists() or shutil.which("wineserver"):  # wait until the new prefix is written out
            subprocess.run([str(server) if server.exists() else "wineserver", "-w"], env=wine.env(),
                           capture_output=True, timeout=120, check=False)  # fmt: skip
        system32 = wine.prefix / "drive_c" / "windows" / "system32"
        if not system32.is_dir():
            raise RuntimeError(f"wineboot made no prefix in {wine.prefix}")
        if not (system32 / SHIM).exists():
            shutil.copy2(build_shim(home / "shim"), system32 / SHIM)
        (wine.prefix / _READY).write_text("ready\n")
    return wine


def build_shim(out: Path) -> Path:
    """Assemble the stand-in bcryptprimitives.dll (Debian package binutils-mingw-w64-x86-64)."""
    if shutil.which(MINGW + "ld") is None:
        raise RuntimeError(
            f"this Wine has no {SHIM}, which Go programs need; install binutils-mingw-w64-x86-64 to assemble one"
        )
    out.mkdir(parents=True, exist_ok=True)
    sources = resources.files("acnbuild.image").joinpath("wineshim")
    for name in ("bcryptprimitives.s", "bcryptprimitives.def", "advapi32.def"):
        (out / name).write_bytes(sources.joinpath(name).read_bytes())

    def run(*args: str) -> None:
        subprocess.run(args, cwd=out, check=True, capture_output=True)

    run(MINGW + "as", "-o", "shim.o", "bcryptprimitives.s")
    run(MINGW + "dlltool", "-d", "advapi32.def", "-l", "libadvapi32.a")
    run(MINGW + "ld", "-shared", "-e", "DllMain", "--subsystem", "windows", "-o", SHIM, "shim.o",
        "bcryptprimitives.def", "libadvapi32.a")  # fmt: skip
    return out / SHIM
