"""Ctrl-C: the command ends at once with nothing changed, unless it is committing."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any, NoReturn

from .codes import EXIT_INTERRUPTED
from .output import error_line

# Ctrl-C ends the command at once, with nothing changed: a write is made in
# memory and reaches the file only at the store's close, so leaving the process
# before it (past the exit hook that would save it) changes nothing. Only the
# commit itself (the one atomic write, or a copy's writing into Redis) is let
# finish, since it cannot be taken back halfway.


def on_interrupt(handler: Any) -> None:
    """Install handler for SIGINT, from the main thread only (another keeps the process's own)."""
    # Signal handlers belong to the main thread; main() run from another
    # thread keeps the process's own.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)


def interrupted(signum: int, frame: object) -> None:
    """The SIGINT handler before the commit: leave at once, nothing changed."""
    # SIGINT before the commit: whatever the store holds in memory is dropped.
    leave(EXIT_INTERRUPTED, "interrupted; nothing changed")


def committing() -> None:
    """From here the command completes: Ctrl-C is ignored while its one write is made."""
    # From here the command completes: its change is being written, and a
    # write cut short would leave it half made, or made and reported as not.
    on_interrupt(signal.SIG_IGN)


def leave(code: int, message: str) -> NoReturn:
    """End the process now with code, past the exit hooks, after one line on stderr."""
    # End the process now, past the exit hooks: AioKV's would write a store
    # left open. os.write, not print: this may run inside a print.
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed: say nothing
        os.write(sys.stderr.fileno(), error_line(message).encode(errors="backslashreplace"))
    os._exit(code)
