"""Dockerfile checks: COPY-only stages whose every image reference is a stage, the BASE_IMAGE argument, scratch,
or pinned by digest.

The instructions come from ``dockerfile-parse`` (line continuations, comments, the ``escape`` directive); each
problem names the file and line. The Go binaries are compiled before the image build, so a stage needs nothing but
``FROM`` and ``COPY``: ``RUN`` would make Windows images unbuildable on Linux and reach the network, and ``ADD``
can fetch URLs; both are refused, as are references that float (``COPY --from=busybox:latest``,
``RUN --mount=from=alpine``) because they would be pulled at build time.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..errors import UserError

BASE_ARGUMENT = "BASE_IMAGE"
_PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")
_LEADING_FLAGS = re.compile(r"^\s*(?:--\S+\s+)*")
_BASE_FORMS = (f"${BASE_ARGUMENT}", f"${{{BASE_ARGUMENT}}}")
_PINNING_HINT = (
    f"use ${{{BASE_ARGUMENT}}} (pinned in BUILD.yaml `images.<os>.base`), scratch, an earlier stage, "
    "or name@sha256:<digest>"
)
# Instructions a COPY-only Dockerfile may hold (the rest are refused with a reason).
ALLOWED = frozenset(
    {"FROM", "ARG", "COPY", "ENV", "LABEL", "EXPOSE", "ENTRYPOINT", "CMD", "USER", "WORKDIR", "VOLUME",
     "STOPSIGNAL", "SHELL", "HEALTHCHECK", "MAINTAINER"}
)  # fmt: skip
_REFUSED = {
    "RUN": "RUN is not allowed: images are COPY-only (the binaries are compiled before the image build, and a RUN "
    "step cannot build a Windows image on Linux)",
    "ADD": "ADD is not allowed (it can fetch URLs and unpack archives): use COPY",
    "ONBUILD": "ONBUILD is not allowed: it runs instructions in someone else's build",
}


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    line: int  # 1-based line where it starts
    value: str  # the arguments, continuation lines joined

    @property
    def words(self) -> list[str]:
        return self.value.split()

    @property
    def flags(self) -> list[str]:
        flags = []
        for word in self.words:
            if not word.startswith("--"):
                break
            flags.append(word)
        return flags

    @property
    def arguments(self) -> list[str]:
        return self.words[len(self.flags) :]

    def flag(self, name: str) -> str | None:
        prefix = f"--{name}="
        return next((f[len(prefix) :] for f in self.flags if f.startswith(prefix)), None)


@dataclass(frozen=True)
class CopyStep:
    """A ``COPY`` from the build context (not from a stage or image): its sources and destination."""

    stage: str | None
    sources: tuple[str, ...]
    destination: str


@dataclass(frozen=True)
class Dockerfile:
    path: Path
    display: str  # how messages name it (relative to the checkout)
    text: str

    @classmethod
    def read(cls, path: Path, display: str, data: bytes | None = None) -> Dockerfile:
        raw = path.read_bytes() if data is None else data
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise UserError(
                f"{display}:{line}: not UTF-8 text (byte 0x{raw[error.start]:02x})",
                hint="save the Dockerfile as UTF-8",
            ) from None
        return cls(path, display, text)

    @cached_property
    def instructions(self) -> tuple[Instruction, ...]:
        from dockerfile_parse import DockerfileParser  # only when a Dockerfile is checked

        parser = DockerfileParser(fileobj=io.BytesIO(self.text.encode()), env_replace=False)
        return tuple(
            Instruction(item["instruction"].upper(), item["startline"] + 1, item["value"])
            for item in parser.structure
            if item["instruction"] != "COMMENT"
        )

    def stages(self) -> list[str]:
        return [s for s in self._stage_names() if s]

    def _stage_names(self) -> list[str | None]:
        names: list[str | None] = []
        for instruction in self.instructions:
            if instruction.keyword == "FROM":
                args = instruction.arguments
                names.append(args[2] if len(args) >= 3 and args[1].upper() == "AS" else None)
        return names

    def problems(self) -> list[str]:
        """Every line that breaks the rules, as ``file:line: what`` (empty when the Dockerfile is fine)."""
        found: list[str] = []
        known: set[str] = set()
        stage_count = 0

        def refuse(instruction: Instruction, message: str) -> None:
            found.append(f"{self.display}:{instruction.line}: {message}")

        def check_reference(instruction: Instruction, shown: str, image: str, *, stages_allowed: bool) -> None:
            if stages_allowed and (image.lower() in known or (image.isdigit() and int(image) < stage_count)):
                return
            if image in _BASE_FORMS or image == "scratch" or _PINNED.search(image):
                return
            refuse(instruction, f"{shown} is a floating reference (it would be pulled as it is at build time)")

        for instruction in self.instructions:
            keyword = instruction.keyword
            if keyword == "FROM":
                args = instruction.arguments
                if not args:
                    refuse(instruction, "FROM names no image")
                    continue
                check_reference(instruction, f"FROM {args[0]}", args[0], stages_allowed=True)
                if len(args) >= 3 and args[1].upper() == "AS":
                    known.add(args[2].lower())
                stage_count += 1
            elif keyword == "COPY":
                source = instruction.flag("from")
                if source is not None:
                    check_reference(instruction, f"COPY --from={source}", source, stages_allowed=True)
                if any(a.startswith("<<") for a in instruction.arguments):
                    refuse(instruction, "COPY with a here-document is not supported: copy a file from files/")
            elif keyword == "RUN":
                for mount in (f.removeprefix("--mount=") for f in instruction.flags if f.startswith("--mount=")):
                    options = dict(o.partition("=")[::2] for o in mount.split(","))
                    if options.get("from"):
                        shown = f"RUN --mount=from={options['from']}"
                        check_reference(instruction, shown, options["from"], stages_allowed=True)
                refuse(instruction, _REFUSED["RUN"])
            elif keyword in _REFUSED:
                refuse(instruction, _REFUSED[keyword])
            elif keyword not in ALLOWED:
                refuse(instruction, f"{keyword} is not a Dockerfile instruction this build allows")
        return found

    def check(self, target: str | None = None, where: str | None = None) -> None:
        """Raise one UserError listing every problem (and a missing ``target`` stage, cited at ``where``)."""
        problems = self.problems()
        if target is not None and target.lower() not in {s.lower() for s in self.stages()}:
            at = f"{where}: " if where else ""
            problems.append(
                f"{at}{self.display} has no stage named {target!r} (stages: {', '.join(self.stages()) or 'none'})"
            )
        if problems:
            raise UserError(
                "\n".join(problems),
                hint=f"{_PINNING_HINT}; a stage only COPYs from bin/ and files/ (and names the `target` stage)",
            )

    def context_copies(self) -> list[CopyStep]:
        """The COPY instructions that read the build context, per stage (``None`` before any named stage)."""
        copies = []
        stage: str | None = None
        for instruction in self.instructions:
            if instruction.keyword == "FROM":
                args = instruction.arguments
                stage = args[2] if len(args) >= 3 and args[1].upper() == "AS" else None
            elif instruction.keyword == "COPY" and instruction.flag("from") is None:
                args = _copy_arguments(instruction)
                if len(args) >= 2:
                    copies.append(CopyStep(stage, tuple(args[:-1]), args[-1]))
        return copies


def _copy_arguments(instruction: Instruction) -> list[str]:
    """COPY's sources and destination, in either the shell form or the JSON array form."""
    rest = _LEADING_FLAGS.sub("", instruction.value)
    if rest.startswith("["):
        import json

        try:
            parsed = json.loads(rest)
        except ValueError:
            return instruction.arguments
        return [str(p) for p in parsed] if isinstance(parsed, list) else instruction.arguments
    return instruction.arguments


# --- the functions the planner and tests call -----------------------------------------------------------------


def stages(dockerfile: Path) -> list[str]:
    return Dockerfile.read(dockerfile, str(dockerfile)).stages()


def check_pinned(dockerfile: Path, display: str) -> None:
    problems = Dockerfile.read(dockerfile, display).problems()
    if problems:
        raise UserError("\n".join(problems), hint=_PINNING_HINT)


def require_target(dockerfile: Path, target: str, display: str) -> None:
    parsed = Dockerfile.read(dockerfile, display)
    if target.lower() not in {s.lower() for s in parsed.stages()}:
        raise UserError(
            f"{display}: has no stage named {target!r} (stages: {', '.join(parsed.stages()) or 'none'})",
            hint=f"add `FROM ... AS {target}` or fix `target` in BUILD.yaml",
        )
