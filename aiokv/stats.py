"""Stats: a store's health at one instant, as kv.stats() returns it."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Stats:
    """A store's health at one instant, from kv.stats()."""

    state: str  # "new", "opening", "open", "closing" or "closed"
    keys: int  # stored keys (0 unless open or closing)
    dirty: bool  # whether some change is not on disk yet
    unsaved_for: float  # seconds the oldest change not on disk has waited (0.0 if none)
    flushes: int  # disk writes that succeeded since the store opened
    last_flush_at: float | None  # when the latest successful write ended (time.time())
    last_flush_seconds: float | None  # how long it took
    last_flush_bytes: int | None  # the file's size it wrote (0: it removed the empty file)
    last_error: BaseException | None  # why the latest write failed; None once one succeeds
