"""Target platforms (``os/arch[/variant]``) as upstream spells them."""

from __future__ import annotations

import platform as _host
from dataclasses import dataclass

from .errors import UserError

KNOWN_OS = ("linux", "windows")
KNOWN_ARCH = ("amd64", "arm64")
# The variant a manifest entry carries when the platform string omits it.
DEFAULT_VARIANT = {"arm64": "v8"}


def host_arch() -> str:
    """This machine's architecture as Go and OCI spell it (amd64, arm64)."""
    machine = _host.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "amd64": "amd64"}.get(machine, machine)


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    arch: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UserError(
                f"platform {text!r} is not of the form os/arch[/variant]",
                hint="use e.g. linux/amd64, linux/arm64 or windows/amd64",
            )
        os_, arch = parts[0], parts[1]
        if os_ not in KNOWN_OS or arch not in KNOWN_ARCH:
            raise UserError(
                f"platform {text!r} is not one this build knows",
                hint="known: " + ", ".join(f"{o}/{a}" for o in KNOWN_OS for a in KNOWN_ARCH),
            )
        variant = parts[2] if len(parts) == 3 else None
        return cls(os_, arch, variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.arch, self.variant) if p)

    @property
    def tag_prefix(self) -> str:
        """Upstream's ``$(subst /,-,$(PLATFORM))``."""
        return str(self).replace("/", "-")

    @property
    def exe_suffix(self) -> str:
        return ".exe" if self.os == "windows" else ""

    @property
    def manifest_variant(self) -> str | None:
        return self.variant or DEFAULT_VARIANT.get(self.arch)

    def same_target(self, other: Platform) -> bool:
        """Equal for building purposes: arm64 and arm64/v8 are one target."""
        return (self.os, self.arch, self.manifest_variant) == (
            other.os,
            other.arch,
            other.manifest_variant,
        )
