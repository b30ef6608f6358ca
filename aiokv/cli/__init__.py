"""The `aiokv` command's entry point: main(), and the exit codes it returns (docs/cli.md)."""

from __future__ import annotations

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
from .output import flush_stdout, guarded_stdout, say
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
    notes.clear()
    with guarded_stdout():
        return _run(argv)


def _run(argv: list[str] | None) -> int:
    # The command, its failures each one line with its exit code.
    try:
        args = build_parser().parse_args(argv)
        code = int(args.run(args))
        flush_stdout()  # its OS errors here, not in the interpreter's last flush
    except Failure as e:
        say(str(e))
        return e.code
    except BrokenPipeError:
        # `aiokv keys big.json | head -1`: the reader has what it wanted and
        # stopped reading; the command stops too, quietly, as a success.
        code = EXIT_OK
    except Exception as e:  # a bug: its own exit code, since 1 means "key absent" to a script
        if os.environ.get(TRACEBACK_VARIABLE) and sys.stderr is not None:
            traceback.print_exc()
        say(
            f"internal error, a bug in aiokv ({e!r}); please report it with this line and "
            f"`aiokv --version`{_tracker()} ({TRACEBACK_VARIABLE}=1 shows the traceback)"
        )
        return EXIT_SOFTWARE
    for line in notes:
        say(line)
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
