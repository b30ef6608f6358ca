"""The prefix index: each namespace's keys, so that a namespace's listing costs its keys only.

For each depth (the number of SEPARATORs in a namespace's prefix) a listing
has asked for, every prefix of that depth with the keys under it, in the
order they were added. A depth is indexed by one pass over the keys at its
first listing, then kept by every write (add, discard). Pure: no I/O, no
asyncio; the store tells it of every key that arrives or leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .namespace import SEPARATOR


class PrefixIndex:
    """The keys under each namespace prefix of the depths listed so far."""

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        """No depth indexed yet: the first listing of a depth indexes it."""
        self._levels: dict[int, dict[str, dict[str, None]]] = {}

    def under(self, prefix: str, every_key: Callable[[], Iterable[str]]) -> Iterable[str]:
        """The keys starting with prefix (which ends with SEPARATOR), in the order they came.

        every_key() lists the whole state, for the first listing of a depth.
        """
        depth = prefix.count(SEPARATOR)
        level = self._levels.get(depth)
        if level is None:
            level = self._levels[depth] = {}
            for key in every_key():
                _insert(level, key, depth)
        return level.get(prefix, ())

    def add(self, key: str) -> None:
        """Index a key that arrives (one already there keeps its place)."""
        for depth, level in self._levels.items():
            _insert(level, key, depth)

    def discard(self, key: str) -> None:
        """Forget a key that leaves (absent is fine)."""
        for depth, level in self._levels.items():
            prefix = prefix_at(key, depth)
            keys = level.get(prefix) if prefix is not None else None
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del level[prefix]  # type: ignore[arg-type]

    def clear(self) -> None:
        """Forget every key; the depths stay indexed (an empty state has none to list)."""
        for level in self._levels.values():
            level.clear()


def prefix_at(key: str, depth: int) -> str | None:
    """key up to and including its depth-th SEPARATOR (None: it has fewer)."""
    end = 0
    for _ in range(depth):
        end = key.find(SEPARATOR, end) + len(SEPARATOR)
        if not end:
            return None
    return key[:end]


def _insert(level: dict[str, dict[str, None]], key: str, depth: int) -> None:
    prefix = prefix_at(key, depth)
    if prefix is not None:
        keys = level.get(prefix)
        if keys is None:
            level[prefix] = {key: None}
        else:
            keys[key] = None
