"""Whether a path holds a store: the one answer for the reads and the writes."""

from __future__ import annotations

import os

from .. import lock


def is_store(path: str) -> bool:
    """Whether a store is at path: its state file, or its lock file alone (an emptied store).

    The path is resolved as AioKV resolves it (realpath), so a symlink to
    nothing is no store (a write there would make its target), and a store
    emptied by its last delete (its file removed, its lock file kept) is one.
    """
    if not path:  # realpath("") is the working directory, which is no store
        return False
    real = os.path.realpath(path)
    return os.path.lexists(real) or os.path.lexists(lock.lock_path(real))
