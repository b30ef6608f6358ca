"""A store an integration owns (built from a path) or shares (given to it)."""

from __future__ import annotations

import os

from ..protocol import Store
from ..store import AioKV


class Owner:
    """The store an integration uses, and whether closing it is the integration's job."""

    def __init__(self, store: Store | str | os.PathLike[str]) -> None:
        """A path: a store of its own, opened at first use; a Store: shared, left open."""
        if isinstance(store, (str, os.PathLike)):
            self._path: str | os.PathLike[str] | None = store
            self.store: Store = AioKV(store)
        else:
            self._path = None
            self.store = store

    async def finish(self) -> None:
        """Make everything durable: close an owned store (a new one waits unopened), else flush."""
        if self._path is None:
            await self.store.flush()
            return
        store = self.store
        assert isinstance(store, AioKV)
        await store.aclose()
        # The framework may start again in this process (a test, a restart):
        # the next use opens the file anew.
        self.store = AioKV(self._path)
