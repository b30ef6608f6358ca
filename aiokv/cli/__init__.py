"""The `aiokv` command's entry point: main(), and the exit codes it returns (docs/cli.md)."""

from __future__ import annotations

import io
import logging
import os
import sys

from .codes import (
    EXIT_ABSENT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OS,
    EXIT_OWNED,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    Failure,
    notes,
)
from .interrupt import interrupted, on_interrupt
from .parser import build_parser

# The rooms: parser.py (the arguments), reads.py (get, keys, dump, check:
# without the owner's lock), writes.py (set, delete, load: through AioKV, as
# the file's one owner), copy.py (copy, to and from Redis too), locations.py
# (Redis URLs), interrupt.py (Ctrl-C), codes.py (the exit codes).

# The command reports every failure itself, on one line; the library's log
# (a failed write's retries) would add lines of its own.
_QUIET = logging.NullHandler()

__all__ = [
    "EXIT_ABSENT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OS",
    "EXIT_OWNED",
    "EXIT_UNREADABLE",
    "EXIT_USAGE",
    "Failure",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (Ctrl-C: exit 130 at once)."""
    on_interrupt(interrupted)
    logging.getLogger("aiokv").addHandler(_QUIET)
    if isinstance(sys.stdout, io.TextIOWrapper):  # a path from argv prints as its bytes
        sys.stdout.reconfigure(errors="surrogateescape")
    args = build_parser().parse_args(argv)
    notes.clear()
    try:
        code = int(args.run(args))
    except Failure as e:
        print(f"aiokv: {e}", file=sys.stderr)
        return e.code
    except BrokenPipeError:  # `aiokv dump big.json | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    for line in notes:
        print(line, file=sys.stderr)
    return code
