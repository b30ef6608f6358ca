"""Stats: a store's health at one instant, as kv.stats() returns it."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Stats:
    """A store's health at one instant, from kv.stats()."""

    state: str
    """Where the store is in its life: "new", "opening", "open", "closing" or "closed"."""
    keys: int
    """Stored keys (0 unless open or closing)."""
    dirty: bool
    """Whether some change is not on disk yet."""
    unsaved_for: float
    """Seconds the oldest change not on disk has waited (0.0 if none)."""
    flushes: int
    """Disk writes that succeeded since the store opened."""
    last_flush_at: float | None
    """When the latest successful write ended, as `time.time()` gives it."""
    last_flush_seconds: float | None
    """How long the latest successful write took, in seconds."""
    last_flush_bytes: int | None
    """The size of the file it wrote, in bytes (0: it removed the empty file)."""
    last_error: BaseException | None
    """Why the latest write failed; None once one succeeds."""
