"""The base image lock: one file, ``requirements/base-images.lock``, holding the digest of every base image.

BUILD.yaml names a base as ``name:tag``; the lock pins it, one ``name:tag@sha256:<digest>`` per line (``#``
comments allowed), the way ``go-toolchain.txt`` pins Go. A base may also be pinned in BUILD.yaml itself; then the
lock, when it lists that ``name:tag``, must say the same digest. ``refresh`` asks the registries for the current
digests (``skopeo inspect``), all or nothing; ``check`` says where BUILD.yaml and the lock disagree.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import process
from .atomic import atomic_write
from .errors import BuildFailed, UserError
from .references import InvalidReference, Reference

LOCK_FILE = Path("requirements") / "base-images.lock"
HEADER = (
    "# Base images, pinned: name:tag@sha256:<digest>, one per line. BUILD.yaml names them as name:tag.\n"
    "# Refresh with `nox -s base-lock -- refresh` (needs the registries); `nox -s base-lock -- check` compares.\n"
)
SCRATCH = "scratch"


@dataclass(frozen=True)
class LockEntry:
    key: str  # name:tag
    digest: str
    line: int


@dataclass(frozen=True)
class BaseLock:
    path: Path
    display: str
    entries: dict[str, LockEntry]
    strict: bool = True  # False (refresh): a base the lock does not pin yet stays as written

    def lenient(self) -> BaseLock:
        return BaseLock(self.path, self.display, self.entries, strict=False)

    @classmethod
    def read(cls, root: Path) -> BaseLock:
        path = root / LOCK_FILE
        display = LOCK_FILE.as_posix()
        entries: dict[str, LockEntry] = {}
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, display, {})
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"{display}: cannot be read ({error})", hint="restore it from git") from None
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                parsed = Reference.parse(line)
            except InvalidReference as error:
                raise UserError(f"{display}:{number}: {error.message}", hint=error.hint) from None
            if not parsed.tag or not parsed.digest:
                raise UserError(f"{display}:{number}: {line} is not name:tag@sha256:<digest>",
                                hint="each line pins one base by its tag and digest")  # fmt: skip
            key = f"{parsed.name}:{parsed.tag}"
            if key in entries:
                raise UserError(f"{display}:{number}: {key} is already pinned on line {entries[key].line}",
                                hint="keep one line per base")  # fmt: skip
            entries[key] = LockEntry(key, parsed.digest, number)
        return cls(path, display, entries)

    def where(self, key: str) -> str:
        entry = self.entries.get(key)
        return f"{self.display}:{entry.line}" if entry else self.display

    def resolve(self, base: str, at: Callable[[], str]) -> str:
        """``base`` pinned: ``name:tag`` gets the lock's digest; a pinned base must agree with the lock. ``at``
        says where BUILD.yaml declares it (asked only for a message)."""
        if base == SCRATCH:
            return base
        parsed = Reference.parse(base)
        key = f"{parsed.name}:{parsed.tag}" if parsed.tag else None
        entry = self.entries.get(key) if key else None
        if parsed.digest is None:
            if entry is None and not self.strict:
                return base
            if entry is None:
                raise UserError(
                    f"{at()}: {base} is not pinned by digest here or in {self.display}",
                    hint=f"add `{key or base}@sha256:<digest>` to {self.display} (`nox -s base-lock -- refresh` "
                    "fills it in where the registry is reachable), or write name:tag@sha256:<digest> here",
                )
            return f"{key}@{entry.digest}"
        if entry is not None and entry.digest != parsed.digest:
            raise UserError(
                f"{at()}: {base} disagrees with {self.where(entry.key)}, which pins {entry.digest}",
                hint=f"drop the digest here to use the lock's, or update {self.display} (nox -s base-lock -- refresh)",
            )
        return base

    def write(self, digests: dict[str, str]) -> None:
        lines = [f"{key}@{digest}\n" for key, digest in sorted(digests.items())]
        atomic_write(self.path, HEADER + "".join(lines))


def inspect_digest(key: str, platform: str) -> str:
    """The registry's current digest of ``key`` (``skopeo inspect``, as upstream pins its bases)."""
    reference = Reference.parse(key)
    os_name, _, arch = platform.partition("/")
    command = ["skopeo", "inspect", "--format", "{{.Digest}}", "--override-os", os_name, "--override-arch",
               arch.split("/")[0]]  # fmt: skip
    if reference.is_loopback:
        command.append("--tls-verify=false")
    if shutil.which("skopeo") is None:
        raise UserError("refreshing the base lock needs skopeo", hint="apt-get install skopeo")
    with tempfile.TemporaryDirectory() as scratch:  # retried like every registry operation (process, retry)
        try:
            output = process.run_with_retries([*command, f"docker://{key}"], Path(scratch) / "inspect.log",
                                              what=f"skopeo inspect docker://{key}", target=reference.registry,
                                              scrub=(reference.registry,))  # fmt: skip
        except BuildFailed as failed:
            last = failed.message if not isinstance(failed, process.ToolFailed) else failed.output
            raise UserError(f"cannot read the digest of {key}: {last.strip().splitlines()[-1][-300:]}",
                            hint="refresh where the registry is reachable") from None  # fmt: skip
    digest = next((line for line in reversed(output.split()) if line.startswith("sha256:")), "")
    if not digest:
        raise UserError(f"cannot read the digest of {key}: no digest", hint="refresh where the registry is reachable")
    return digest


def refresh(lock: BaseLock, wanted: Iterable[tuple[str, str]]) -> dict[str, tuple[str | None, str]]:
    """Ask for every ``(name:tag, platform)``; write the lock only if all answered. Returns key -> (old, new)."""
    changes: dict[str, tuple[str | None, str]] = {}
    digests = {key: entry.digest for key, entry in lock.entries.items()}
    for key, platform in sorted(set(wanted)):
        if key in changes:
            continue
        new = inspect_digest(key, platform)
        changes[key] = (digests.get(key), new)
        digests[key] = new
    lock.write(digests)
    return changes
