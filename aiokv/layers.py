"""The state in memory, in two layers: a top layer over the snapshot a disk write holds.

While no write runs, the top layer holds the whole state. When a write
starts, that dict is frozen as the snapshot and handed to a worker thread,
and a fresh top layer collects the changes made meanwhile (deletions as GONE
markers). Reads look in the top layer, then in the snapshot. When the write
ends, the top layer is folded into the snapshot, which becomes the whole
state again. So the snapshot is free, and a write never blocks the loop.

The layers also keep the prefix index (index.py) up to date, once a
namespace listing has made one: they see every key arrive and leave.

The exit hook may copy the layers from another thread than the loop's (a
loop in a daemon thread): every swap is bracketed by a counter that is odd
meanwhile, so copy() can tell a consistent read from a torn one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from . import codec
from .changelog import ChangeLog
from .index import PrefixIndex
from .namespace import SEPARATOR

GONE: Any = object()  # a key deleted while a write has the snapshot frozen
_COPY_RETRY = 0.001  # seconds the exit hook waits for a swap under way to end


class Layers:
    """The top layer, the frozen snapshot (None unless a write runs) and the change log."""

    __slots__ = ("_swaps", "index", "log", "snapshot", "top")

    def __init__(self) -> None:
        """No state: top is None until open() (the store's get() relies on that)."""
        self.top: dict[str, Any] | None = None
        self.snapshot: dict[str, Any] | None = None
        self.log = ChangeLog()
        # None until the first namespace listing, so that until then no write pays for it.
        self.index: PrefixIndex | None = None
        self._swaps = 0  # odd while a swap is under way

    def open(self, state: dict[str, Any]) -> None:
        """Hold state, read from the file, as the whole state."""
        self.top = state

    def close(self) -> None:
        """Let the state go (the store is closed, or handed to its parent process)."""
        self.top = self.snapshot = self.index = None

    def lookup(self, key: str) -> Any:
        """The current value at key, or codec.MISSING: the top layer, then the snapshot.

        From any thread (get() reads from any): a read that a swap on the
        loop's thread overlapped is made again, as copy()'s is. On the loop's
        own thread no swap can overlap it, so it reads once.
        """
        while True:
            swaps = self._swaps
            top, snapshot = self.top, self.snapshot
            assert top is not None
            value = top.get(key, codec.MISSING)
            if value is codec.MISSING and snapshot is not None:
                value = snapshot.get(key, codec.MISSING)
            if swaps % 2 == 0 and self._swaps == swaps:
                return codec.MISSING if value is GONE else value

    def count(self) -> int:
        """len(view()) without building it."""
        assert self.top is not None
        if self.snapshot is None:
            return len(self.top)
        snapshot = self.snapshot
        count = len(snapshot)
        for key, value in self.top.items():
            if value is GONE:
                count -= key in snapshot
            else:
                count += key not in snapshot
        return count

    def view(self) -> dict[str, Any]:
        """The whole current state as one dict (a new one while a write runs)."""
        assert self.top is not None
        if self.snapshot is None:
            return self.top
        view = dict(self.snapshot)
        fold(self.top, view, self.log.dropped)
        return view

    def keys_under(self, prefix: str) -> Iterable[str]:
        """The keys starting with prefix: a namespace's (ending with SEPARATOR) from the index."""
        if not prefix:
            return self.view()
        if not prefix.endswith(SEPARATOR):
            return [key for key in self.view() if key.startswith(prefix)]
        if self.index is None:
            self.index = PrefixIndex()
        return self.index.under(prefix, self.view)

    def new_in_top(self, key: str) -> None:
        """A write is about to store key, which the top layer lacks or holds as GONE.

        The store calls it only while an index or a snapshot needs to know.

        Deleted while a write holds the snapshot, the key leaves its place
        there for the dict's end, as it would with no write under way: every
        listing and the file then have one order, whenever the writes run.
        """
        top = self.top
        assert top is not None
        if top.get(key) is GONE:
            self._swaps += 1  # the exit hook reads the layers and the log together
            self.log.dropped.add(key)
            del top[key]
            self._swaps += 1
            self.log.changed.pop(key, None)  # stored next, it goes to the end
        if self.index is not None:
            self.index.add(key)

    def remove(self, key: str) -> bool:
        """Delete key; False if it was absent."""
        if self.lookup(key) is codec.MISSING:
            return False
        assert self.top is not None
        if self.snapshot is None:
            del self.top[key]
            self.log.left_dict([key])
        else:
            # Folded in, the layer keeps the key where the snapshot has it.
            self.top[key] = GONE
            self.log.changed[key] = None
        if self.index is not None:
            self.index.discard(key)
        return True

    def empty(self) -> None:
        """Hold an empty state. A write under way keeps its snapshot, never folded back in."""
        self._swaps += 1
        self.top, self.snapshot = {}, None
        self.log.clear()
        self._swaps += 1
        if self.index is not None:
            self.index.clear()

    def freeze(self) -> tuple[dict[str, Any], dict[str, None], set[str]]:
        """Freeze the state for a write: (the snapshot, the log it takes); a new top layer."""
        assert self.top is not None and self.snapshot is None
        self._swaps += 1
        self.snapshot, self.top = self.top, {}
        changed, dropped = self.log.take()
        self._swaps += 1
        return self.snapshot, changed, dropped

    def unfreeze(self) -> None:
        """The write is over: the snapshot, with the top layer folded in, is the whole state."""
        if self.snapshot is not None and self.top is not None:
            self._swaps += 1
            # Keys deleted meanwhile leave the dict only now.
            self.log.left_dict(fold(self.top, self.snapshot, self.log.dropped))
            self.top, self.snapshot = self.snapshot, None
            self._swaps += 1

    def copy(self) -> dict[str, Any]:
        """A consistent copy of the whole state, from any thread (the exit hook's)."""
        while True:
            swaps = self._swaps
            if swaps % 2 == 0:
                top, snapshot, dropped = self.top, self.snapshot, self.log.dropped
                # dict() copies a str-keyed dict in one step under the GIL.
                state = dict(snapshot or {})
                fold(dict(top or {}), state, set(dropped))
                if self._swaps == swaps:
                    return state
            time.sleep(_COPY_RETRY)


def fold(top: dict[str, Any], into: dict[str, Any], dropped: Iterable[str]) -> list[str]:
    """Apply a top layer's changes to into; return the keys it deleted (GONE).

    Dropped keys (deleted and stored again) are taken out first, to go to the end.
    """
    for key in dropped:
        into.pop(key, None)
    into.update(top)
    gone = [k for k, v in top.items() if v is GONE]
    for key in gone:
        del into[key]
    return gone
