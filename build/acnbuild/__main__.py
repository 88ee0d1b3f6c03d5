"""``python -m acnbuild <verb> [component] [options]``: what the nox sessions run."""

from __future__ import annotations

import sys

from .sessions import COMPONENT_VERBS, VERBS


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in VERBS:
        print(f"usage: python -m acnbuild {{{','.join(VERBS)}}} [component] [options]", file=sys.stderr)
        return 2
    verb, rest = argv[0], argv[1:]
    if verb in COMPONENT_VERBS:
        if not rest:
            print(f"usage: python -m acnbuild {verb} <component> [options]", file=sys.stderr)
            return 2
        VERBS[verb](rest[1:], rest[0])
    else:
        VERBS[verb](rest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
