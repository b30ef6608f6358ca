"""The key map: which piece (pieces.py) holds each key, as a number.

A million keys in one dict would hold the GIL for tens of milliseconds each
time it resizes, in the thread that writes the file while the event loop
waits for it; so the map is split into SHARDS dicts by the key's hash, each
small enough to resize in microseconds. A dict of str to int is invisible to
the garbage collector, whose passes would otherwise walk every key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

SHARDS = 1024  # a power of two
SHARD = SHARDS - 1  # hash(key) & SHARD: the key's dict


class KeyMap:
    """Each key's piece number, in shards; the pieces' hot loops read shards directly."""

    __slots__ = ("_emptied", "shards")

    def __init__(self) -> None:
        """An empty map."""
        self.shards: list[dict[str, int]] = [{} for _ in range(SHARDS)]
        self._emptied: set[int] = set()  # the shards keys were deleted from since refit()

    def get(self, key: str) -> int | None:
        """The number of key's piece, None if the map lacks key."""
        return self.shards[hash(key) & SHARD].get(key)

    def put(self, keys: Iterable[str], number: int) -> None:
        """keys are in piece number."""
        shards = self.shards
        for key in keys:
            shards[hash(key) & SHARD][key] = number

    def drop(self, key: str) -> None:
        """key is in no piece any more."""
        shard = hash(key) & SHARD
        del self.shards[shard][key]
        self._emptied.add(shard)

    def discard(self, key: str) -> None:
        """key is in no piece, whether the map held it or not."""
        shard = hash(key) & SHARD
        if self.shards[shard].pop(key, None) is not None:
            self._emptied.add(shard)

    def refit(self, pause: Callable[[], None]) -> None:
        """Size each shard that lost keys for the keys it holds; pause() after each."""
        # A dict never gives back the table its deleted keys took, and under
        # deletions and insertions it settles at two to three times the
        # table its keys need. copy() keeps a dense table as it is; a dict
        # built from the items is sized for them.
        shards = self.shards
        for shard in self._emptied:
            shards[shard] = dict(shards[shard].items())
            pause()
        self._emptied.clear()

    def __len__(self) -> int:
        """How many keys the map holds."""
        return sum(map(len, self.shards))
