"""``python -m acnbuild <verb> [component] [options]``: what the nox sessions run (verbs in ``verbs.py``)."""

from __future__ import annotations

import importlib
import sys

from .bytecode import refresh_bytecode
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


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    finally:
        refresh_bytecode()
    raise SystemExit(code)
