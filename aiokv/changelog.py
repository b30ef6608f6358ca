"""The change log: which keys changed since the last disk write began, for the pieces.

A write re-encodes only the pieces holding a changed key (pieces.py). The
log keeps, in the order the store's dict added them, every key stored or
deleted since the last write began (changed), and the keys deleted from the
dict outright meanwhile (dropped): stored again, such a key goes to the
dict's end, so the next write moves it to the file's end too. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable


class ChangeLog:
    """The keys changed, and the keys dropped, since the log was last taken."""

    __slots__ = ("changed", "dropped")

    def __init__(self) -> None:
        """An empty log."""
        # Both are rebound by take(): hold the log, not them.
        self.changed: dict[str, None] = {}
        self.dropped: set[str] = set()

    def stored(self, key: str) -> None:
        """key was stored (the store's hot path writes changed[key] itself)."""
        self.changed[key] = None

    def left_dict(self, keys: Iterable[str]) -> None:
        """keys were deleted from the dict outright: stored again, each goes to its end.

        They lose their place among the changed keys too: a key stored before
        one of them meanwhile comes before it in the file.
        """
        for key in keys:
            self.changed.pop(key, None)
            self.dropped.add(key)

    def take(self) -> tuple[dict[str, None], set[str]]:
        """Hand the log to a write that begins (changed, dropped); the log starts empty."""
        taken = self.changed, self.dropped
        self.changed, self.dropped = {}, set()
        return taken

    def give_back(self, changed: dict[str, None], dropped: set[str]) -> None:
        """A write that could not begin returns what it took, before what came since."""
        self.changed = changed | self.changed
        self.dropped |= dropped

    def clear(self) -> None:
        """Forget everything (the state was emptied: the next write encodes it whole)."""
        self.changed, self.dropped = {}, set()
