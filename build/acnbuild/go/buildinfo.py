"""What a Go binary records about its own build (``go version -m``): toolchain, modules, build settings.

The pinned toolchain reads it: ``debug/buildinfo`` already handles ELF, PE and Mach-O, and asking the same Go
that compiled the binary means the format always matches. ``-json`` (Go >= 1.24) is preferred; an older Go
gets its text output parsed.
"""

from __future__ import annotations

import ast
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BuildFailed


@dataclass(frozen=True)
class GoModule:
    path: str
    version: str
    sum: str = ""  # go.sum's h1: hash; empty for the main module and local replacements
    replace: GoModule | None = None  # what a replace directive put in its place

    @property
    def is_local_directory(self) -> bool:
        """A replacement by a directory (``=> ./x``) rather than by another module version."""
        return self.path.startswith(("./", "../", "/")) or (len(self.path) > 1 and self.path[1] == ":")


@dataclass(frozen=True)
class GoBuildInfo:
    go_version: str  # the toolchain that compiled it, e.g. go1.26.6
    package: str  # the main package, e.g. github.com/acn-monorepo/acn/components/cns/cmd/azure-cns
    main: GoModule | None  # None for a build outside any module (command-line-arguments)
    deps: tuple[GoModule, ...]
    settings: tuple[tuple[str, str], ...]  # in recorded order: -trimpath, CGO_ENABLED, GOOS, GOARCH, GOAMD64, ...

    def setting(self, key: str) -> str | None:
        return next((value for k, value in self.settings if k == key), None)

    @property
    def goos(self) -> str | None:
        return self.setting("GOOS")

    @property
    def goarch(self) -> str | None:
        return self.setting("GOARCH")


def read_build_info(go: Path, binary: Path, env: Mapping[str, str]) -> GoBuildInfo:
    """The build info of ``binary``, read by the toolchain ``go`` in the (scrubbed) environment ``env``."""
    result = _go_version(go, binary, env, "-json")
    if result.returncode != 0 and "-json" in result.stderr and "not defined" in result.stderr:
        result = _go_version(go, binary, env)
        if result.returncode == 0:
            return parse_version_text(result.stdout)
    if result.returncode != 0:
        reason = result.stderr.strip() or "go version -m found none (not an executable Go binary?)"
        if reason.startswith(str(binary)) and "\n" not in reason:
            reason = reason.rpartition(": ")[2]  # go repeats the path: "<file>: could not read ... <file>: <why>"
        raise BuildFailed(f"cannot read the Go build info of {binary}: {reason}")
    try:
        return parse_version_json(result.stdout)
    except (ValueError, KeyError, TypeError) as error:
        raise BuildFailed(
            f"cannot read the Go build info of {binary}: unexpected go version output ({error})"
        ) from None


def _go_version(go: Path, binary: Path, env: Mapping[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [str(go), "version", "-m", *flags, str(binary)],
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        raise BuildFailed(f"cannot read the Go build info of {binary}: running {go} failed: {error}") from None


def parse_version_json(text: str) -> GoBuildInfo:
    """``go version -m -json`` output: the ``debug.BuildInfo`` struct as JSON."""
    data = json.loads(text)
    return GoBuildInfo(
        go_version=data["GoVersion"],
        package=data.get("Path", ""),
        main=_module_from_json(data["Main"]) if data.get("Main", {}).get("Path") else None,
        deps=tuple(_module_from_json(d) for d in data.get("Deps") or ()),
        settings=tuple((s["Key"], s.get("Value", "")) for s in data.get("Settings") or ()),
    )


def _module_from_json(data: Mapping[str, Any]) -> GoModule:
    replace = data.get("Replace")
    return GoModule(
        path=data["Path"],
        version=data.get("Version", ""),
        sum=data.get("Sum", ""),
        replace=_module_from_json(replace) if replace else None,
    )


def parse_version_text(text: str) -> GoBuildInfo:
    """``go version -m`` output: ``<file>: <go version>``, then tab-separated lines (what an older Go prints)."""
    lines = text.splitlines()
    if not lines or ": " not in lines[0]:
        raise BuildFailed(f"unexpected go version -m output: {text[:200]!r}")
    go_version = lines[0].rpartition(": ")[2].strip()
    package = ""
    main: GoModule | None = None
    deps: list[GoModule] = []
    settings: list[tuple[str, str]] = []
    for line in lines[1:]:
        kind, _, rest = line.strip("\t").partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            package = rest
        elif kind in ("mod", "dep"):
            module = GoModule(fields[0], _field(fields, 1), _field(fields, 2))
            if kind == "mod":
                main = module
            else:
                deps.append(module)
        elif kind == "=>" and deps:
            replaced = deps[-1]
            replacement = GoModule(fields[0], _field(fields, 1), _field(fields, 2))
            deps[-1] = GoModule(replaced.path, replaced.version, replaced.sum, replacement)
        elif kind == "build":
            settings.append(_setting(rest))
    return GoBuildInfo(go_version, package, main, tuple(deps), tuple(settings))


def _field(fields: list[str], index: int) -> str:
    return fields[index] if index < len(fields) else ""


def _setting(text: str) -> tuple[str, str]:
    """``key=value``, either side Go-quoted (strconv.Quote) when it holds spaces, quotes or ``=``."""
    if text.startswith('"'):
        end = _quoted_end(text)
        key, value = _unquote(text[:end]), text[end + 1 :]
    else:
        key, _, value = text.partition("=")
    return key, _unquote(value) if value.startswith('"') else value


def _quoted_end(text: str) -> int:
    index = 1
    while index < len(text) and text[index] != '"':
        index += 2 if text[index] == "\\" else 1
    return index + 1


def _unquote(quoted: str) -> str:
    # Go's strconv.Quote escapes (\" \\ \t \n \xNN \uNNNN) read the same as a Python string literal.
    try:
        value = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        return quoted
    return value if isinstance(value, str) else quoted
