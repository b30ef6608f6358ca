"""When to write: debounce, cap and retry backoff, as a pure policy.

No I/O, no asyncio, no clock of its own: the store feeds it the time and
what happened, and it answers how long to wait. That keeps the rules small
enough to read at once and to test as a table, without sleeping.
"""

from __future__ import annotations

import math

# A failing background write is retried after 0.1 s, 0.2 s, 0.4 s, ... up to 30 s.
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 30.0


class FlushPolicy:
    """Decides when the background flush runs, given flush_delay and max_flush_delay."""

    def __init__(self, delay: float, cap: float) -> None:
        """delay: seconds of quiet before a write; cap: the most a change may wait."""
        self.delay = delay
        self.cap = cap
        self.dirty_since = 0.0  # when the oldest change no write has taken began waiting
        self.unsaved_since = 0.0  # when the oldest change not on disk began waiting
        self.retry_at = 0.0  # no write before this, after a failure
        self.failures = 0  # failed writes in a row

    @classmethod
    def checked(cls, flush_delay: object, max_flush_delay: object) -> FlushPolicy:
        """The policy for a store's flush_delay and max_flush_delay, refused if they are bad."""
        delay = _seconds("flush_delay", flush_delay)
        cap = _seconds("max_flush_delay", max_flush_delay)
        if cap < delay:
            raise ValueError(
                f"max_flush_delay ({max_flush_delay}) must be >= flush_delay ({flush_delay})"
            )
        return cls(delay, cap)

    def first_change(self, now: float) -> float:
        """The store was saved and is changed at now: seconds until the timer fires."""
        self.dirty_since = self.unsaved_since = now
        return self.delay

    def timer_fired(self, now: float, quiet: bool) -> float | None:
        """None: write now; else seconds to wait before asking again.

        quiet says no change came since the timer was armed. The store arms
        the timer once and compares versions when it fires, so a write never
        reads the clock: the write starts one to two delays after the last
        change, and never later than the cap.
        """
        cap_left = self.dirty_since + self.cap - now
        if not quiet and cap_left > 0:
            return min(self.delay, cap_left)
        if now < self.retry_at:
            return self.retry_at - now
        return None

    def write_started(self, now: float) -> None:
        """A write took every change so far; changes from now on wait from now.

        Those it took are still unsaved, since unsaved_since, until it succeeds.
        """
        self.dirty_since = now

    def write_finished(self, now: float, ok: bool) -> float:
        """Record a write's outcome; return seconds until changes still unsaved are due."""
        if ok:
            self.unsaved_since = self.dirty_since  # only changes made since it began
            self.failures = 0
            self.retry_at = 0.0
        else:
            # Its changes wait on from when they first did: the cap counts from there.
            self.dirty_since = self.unsaved_since
            self.failures += 1
            self.retry_at = now + self.backoff
        cap_left = self.dirty_since + self.cap - now
        return max(self.retry_at - now, min(self.delay, cap_left), 0.0)

    @property
    def backoff(self) -> float:
        """The wait after the latest run of failures (0.0 after a success)."""
        if not self.failures:
            return 0.0
        return min(FIRST_BACKOFF * 2.0 ** (self.failures - 1), MAX_BACKOFF)


def _seconds(name: str, value: object) -> float:
    if type(value) is not int and type(value) is not float:
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value}")
    return float(value)
