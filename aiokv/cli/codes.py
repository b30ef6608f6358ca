"""The command's exit codes (docs/cli.md) and Failure, the one-line error carrying one."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ABSENT = 1  # get, delete: the key is not in the file
EXIT_USAGE = 2  # a bad argument or value (argparse uses 2 as well); nothing changed
EXIT_OWNED = 3  # another process owns the file: a write was refused
EXIT_UNREADABLE = 4  # the file is corrupt, or of a schema version this aiokv cannot open
EXIT_OS = 5  # the file is missing (for a read), the OS refused, or a Redis server is unreachable
EXIT_SOFTWARE = 70  # an internal error: a bug in aiokv (sysexits' EX_SOFTWARE); nothing changed
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it); nothing changed

TRACEBACK_VARIABLE = "AIOKV_TRACEBACK"  # set to 1: an internal error prints its traceback

# Notes for stderr (who owns a file, what a copy leaves out): printed by main()
# once the command succeeds, so that a failure stays one line.
notes: list[str] = []


def note(message: str) -> None:
    """Say message on stderr once the command has succeeded (a failure says only itself)."""
    notes.append(f"note: {message}")


class Failure(Exception):
    """An expected error: printed on one line, exit with its code, no traceback."""

    def __init__(self, code: int, message: str) -> None:
        """code: the exit code; message: the line printed on stderr."""
        super().__init__(message)
        self.code = code
