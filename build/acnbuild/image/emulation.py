"""arm64 emulation on an amd64 host: Debian's qemu-user-static registered through binfmt_misc."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import UserError

BINFMT = Path("/proc/sys/fs/binfmt_misc")
ENTRY = BINFMT / "qemu-aarch64"


def enabled() -> bool:
    try:
        return ENTRY.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        return False


def register() -> str:
    """Idempotent: mount binfmt_misc if needed and enable qemu-aarch64; says what it did."""
    if enabled():
        return "arm64 emulation is already registered (qemu-aarch64 in binfmt_misc)"
    if os.geteuid() != 0:
        raise UserError(
            "registering arm64 emulation needs root (it writes to /proc/sys/fs/binfmt_misc)",
            hint="run `sudo nox -s qemu-user-static`, or as root: apt-get install qemu-user-static binfmt-support",
        )
    if shutil.which("update-binfmts") is None or not Path("/usr/bin/qemu-aarch64-static").exists():
        raise UserError(
            "qemu-user-static and binfmt-support are not installed",
            hint="apt-get install qemu-user-static binfmt-support",
        )
    if not (BINFMT / "register").exists():
        result = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], capture_output=True,
                                text=True, check=False)  # fmt: skip
        if result.returncode != 0:
            raise UserError(f"mounting binfmt_misc failed: {result.stderr.strip()}")
    result = subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True, text=True,
                            check=False)  # fmt: skip
    if result.returncode != 0 or not enabled():
        raise UserError(f"enabling qemu-aarch64 failed: {result.stderr.strip() or 'binfmt entry not enabled'}")
    return "registered arm64 emulation (qemu-aarch64 via binfmt_misc); linux/arm64 images now run here"
