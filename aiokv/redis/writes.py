"""The writes under way on one store: numbered as they begin, so flush() waits for those before it.

flush() and aclose() wait for the writes begun before them, not for those
begun meanwhile (a stream of writes cannot starve them); flush() learns
which of them failed.
"""

from __future__ import annotations

import asyncio


class Writes:
    """The writes of one store under way, and the flushes waiting for them."""

    def __init__(self) -> None:
        """No write under way yet."""
        self._under_way: set[int] = set()
        self._begun = 0
        self._progress: asyncio.Event | None = None  # set as writes end, for the waiters
        # The waits under way, each with the writes it waits for and the
        # errors those ended with.
        self._watching: list[tuple[set[int], list[Exception]]] = []

    def begin(self) -> int:
        """Note a write begun; return its number, for ended()."""
        self._begun += 1
        self._under_way.add(self._begun)
        return self._begun

    def ended(self, number: int, error: Exception | None = None) -> None:
        """Note that write number ended (with error, if it failed)."""
        if error is not None:
            for waited, errors in self._watching:
                if number in waited:
                    errors.append(error)
        self._under_way.discard(number)
        if self._progress is not None:
            self._progress.set()

    async def settled(self) -> list[Exception]:
        """Return once the writes under way now have ended, with the errors they failed with."""
        watch: tuple[set[int], list[Exception]] = (set(self._under_way), [])
        self._watching.append(watch)
        try:
            before = self._begun + 1
            while self._under_way and min(self._under_way) < before:
                if self._progress is None:
                    self._progress = asyncio.Event()
                progress = self._progress
                await progress.wait()
                if self._progress is progress:
                    self._progress = None
        finally:
            self._watching.remove(watch)
        return watch[1]
