"""The `aiokv` command's entry point: main(), and the exit codes it returns (docs/cli.md)."""

from __future__ import annotations

import io
import logging
import os
import sys
import traceback
from importlib import metadata

from .codes import (
    EXIT_ABSENT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OS,
    EXIT_OWNED,
    EXIT_SOFTWARE,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    TRACEBACK_VARIABLE,
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
    "EXIT_SOFTWARE",
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
    notes.clear()
    try:
        args = build_parser().parse_args(argv)
        code = int(args.run(args))
    except Failure as e:
        print(f"aiokv: {e}", file=sys.stderr)
        return e.code
    except BrokenPipeError:  # `aiokv dump big.json | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    except Exception as e:  # a bug: its own exit code, since 1 means "key absent" to a script
        if os.environ.get(TRACEBACK_VARIABLE):
            traceback.print_exc()
        print(f"aiokv: internal error, a bug in aiokv ({e!r}); please report it with this "
              f"line and `aiokv --version`{_tracker()} ({TRACEBACK_VARIABLE}=1 shows the "
              "traceback)", file=sys.stderr)  # fmt: skip
        return EXIT_SOFTWARE
    for line in notes:
        print(line, file=sys.stderr)
    return code


def _tracker() -> str:
    # The installed package's issue tracker, where its metadata names one.
    try:
        urls = metadata.metadata("aiokv").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:  # run from a source tree
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower().replace(" ", "") in ("issues", "bugtracker", "bugs", "tracker"):
            return f" at {url.strip()}"
    return ""
