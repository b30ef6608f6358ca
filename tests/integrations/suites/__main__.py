"""python -m tests.integrations.suites [aiogram] [ptb]: their own tests on aiokv."""

from __future__ import annotations

import sys

from tests.integrations.suites.frameworks import FRAMEWORKS
from tests.integrations.suites.runner import run


def main(argv: list[str]) -> int:
    """Run the named frameworks' suites (both by default), print the problems; 1 if any."""
    names = argv or list(FRAMEWORKS)
    if unknown := sorted(set(names) - set(FRAMEWORKS)):
        print(f"unknown framework {unknown}: {', '.join(FRAMEWORKS)}", file=sys.stderr)
        return 2
    found = [problem for name in names for problem in run(FRAMEWORKS[name])]
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
