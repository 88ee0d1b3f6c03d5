"""``python -m acnbuild <verb> [component] [options]``: what the nox sessions run (verbs in ``verbs.py``)."""

from __future__ import annotations

import importlib
import os
import sys
import threading

from . import interrupts
from .bytecode import refresh_bytecode
from .errors import AcnBuildError
from .verbs import BY_NAME


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BY_NAME:
        print(f"usage: python -m acnbuild {{{','.join(BY_NAME)}}} [component] [options]", file=sys.stderr)
        return 2
    verb, rest = BY_NAME[argv[0]], argv[1:]
    module_name, function_name = verb.handler.split(":")
    handler = getattr(importlib.import_module(f"acnbuild.{module_name}"), function_name)
    if verb.per_component:
        if not rest:
            print(f"usage: python -m acnbuild {verb.name} <component> [options]", file=sys.stderr)
            return 2
        return int(handler(rest[1:], rest[0]) or 0)
    return int(handler(rest) or 0)


def run(argv: list[str]) -> int:
    """``main`` with SIGINT/SIGTERM handled: an interrupted run exits 130/143 with one line, never a traceback."""
    interrupts.install()
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except AcnBuildError as error:  # interrupted outside a session body (while importing it, say)
        print(f"error: {error}", file=sys.stderr, flush=True)
        return int(error.exit_code)


def leave(code: int) -> None:
    """Exit; after an interrupt, without waiting for a thread still blocked where it cannot be stopped."""
    if interrupts.stopping.is_set() and any(
        t.is_alive() and not t.daemon and t is not threading.main_thread() for t in threading.enumerate()
    ):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    try:
        code = run(sys.argv[1:])
    finally:
        refresh_bytecode()
    leave(code)
