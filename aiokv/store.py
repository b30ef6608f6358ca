"""AioKV: the shell: the public API, its hot paths, and the store's lifecycle.

Reads and writes touch only dicts in memory (layers.py); a write counts a
change and the write scheduler (scheduler.py) puts the state on disk when
the flush policy says. Edits take turns (turns.py), a namespace's listing
asks the prefix index (index.py), the open is its own room (opening.py), and
the exit and fork hooks watch the open stores (exits.py). The store wires
them together and keeps the hot paths inline: a room reached from set() is
reached through an inline guard, so the common case makes no extra call.

A store's life is one State: NEW, OPENING, OPEN, CLOSING, CLOSED. It changes
in one place (_become), and _admit() says in one place what every operation
does in each state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from . import api, codec
from .api import StoreBase
from .errors import ClosedError
from .layers import GONE, Layers
from .lifecycle import Lifecycle
from .opening import Migrate, Opener
from .policy import FlushPolicy
from .scheduler import WriteScheduler
from .stats import Stats
from .turns import EditTurns

logger = logging.getLogger("aiokv")

_MISSING, _NOW, _VERSION_KEY = codec.MISSING, codec.NOW, codec.VERSION_KEY
_INT_MIN, _INT_MAX = codec.INT_MIN, codec.INT_MAX
_this_thread = threading.get_ident
_loop_of_this_thread = asyncio._get_running_loop  # None where no loop runs


class AioKV(Lifecycle, StoreBase):
    """An async key-value store kept in memory and persisted to one JSON file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_delay: float = 0.5,
        max_flush_delay: float = 2.0,
        fsync: bool = True,
        on_corrupt: str = "raise",
        version: int | None = None,
        migrate: Migrate | None = None,
    ) -> None:
        """Describe the store; no I/O happens until it is opened or first used."""
        raw = os.fspath(path)
        if not isinstance(raw, str):
            raise TypeError(f"path must be str or os.PathLike[str], not {type(raw).__name__}")
        policy = FlushPolicy.checked(flush_delay, max_flush_delay)
        if type(fsync) is not bool:
            raise TypeError(f"fsync must be a bool, not {type(fsync).__name__}")
        opener = Opener(fsync=fsync, on_corrupt=on_corrupt, version=version, migrate=migrate)
        # The state in memory (layers.py): its top is None unless the store
        # is OPEN or CLOSING.
        layers = Layers()
        writes = WriteScheduler(
            layers,
            policy,
            fsync=fsync,
            schema=version,
            closed=lambda: ClosedError(self._path, self._closed_because),
        )
        # Kept empty, not made the cwd: the open refuses it, naming no file.
        super().__init__(os.path.abspath(raw) if raw else raw, opener, layers, writes)
        self._turns = EditTurns(self._admit)
        self._edited = self._turns.by_key  # set()'s inline guard: a key under edit waits

    def __repr__(self) -> str:
        """Show the path, where the store is in its life, and (open) its keys and dirt."""
        if self._layers.top is None:
            return f"<AioKV {self._path!r} {self._state.value}>"
        dirty = "dirty" if self._writes.dirty else "saved"
        return f"<AioKV {self._path!r} {self._state.value}, {self._layers.count()} keys, {dirty}>"

    def stats(self) -> Stats:
        """Return the store's health now: no I/O and no copy of the state, cheap per request.

        Call it from the thread of the store's event loop: while a write is under
        way, its key count walks the changes made meanwhile.
        """
        keys = self._layers.count() if self._layers.top is not None else 0
        return self._writes.stats(self._state.value, keys)

    # -- reading -------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        """Return the value stored at key (a private copy), or default."""
        if type(key) is not str:
            key = codec.check_key(key)
        # The hot path is one dict lookup: a store that is not open has
        # its layers' top None, so the lookup itself raises and sends us the slow way.
        # A read starts no background work, so it needs no loop check.
        try:
            value = self._layers.top[key]  # type: ignore[index]
        except KeyError:
            # Not in the top layer: a write under way may hold it in the snapshot.
            if (value := self._layers.lookup(key)) is _MISSING:
                codec.check_key(key)  # a key that cannot be stored: say why
                return default
        except TypeError:
            await self._admit(write=False)
            return await self.get(key, default)
        kind = type(value)
        if kind is str:
            return value
        if value is GONE:
            return default
        if (kind is dict or kind is list) and self._loop is _loop_of_this_thread():
            # A container loaded from the file, read for the first time: tag
            # it for cheaper copies. Only on the owner loop's thread, where no
            # write can run between this read and this write-back.
            value = self._layers.top[key] = codec.tag(value)  # type: ignore[index]
        return codec.copy_out(value)

    async def has(self, key: str) -> bool:
        """Return whether key is stored."""
        await self._admit(write=False)
        return self._layers.lookup(codec.check_key(key)) is not _MISSING

    async def keys(self, prefix: str = "") -> list[str]:
        """Return a list of the stored keys (those starting with prefix)."""
        await self._admit(write=False)
        return list(self._layers.keys_under(codec.plain_str(prefix, "prefixes")))

    async def get_all(self, prefix: str = "") -> dict[str, Any]:
        """Return a copy of the whole state (of the keys starting with prefix)."""
        await self._admit(write=False)
        prefix = codec.plain_str(prefix, "prefixes")
        if not prefix:
            return codec.copy_out(self._layers.view())  # type: ignore[no-any-return]
        keys = self._layers.keys_under(prefix)
        return codec.copy_out({key: self._layers.lookup(key) for key in keys})  # type: ignore[no-any-return]

    # -- writing -------------------------------------------------------------

    async def set(self, key: str, value: Any = _NOW) -> None:
        """Store value at key; with no value, store int(time.time())."""
        # The store is OPEN and its loop runs in this thread (lifecycle.Owner).
        if self._writable_on._thread_id != _this_thread():
            await self._admit()
        if type(key) is not str or not key.isascii() or key == _VERSION_KEY:
            key = codec.check_key(key)
        # The common scalars are checked inline; codec.accept() does the rest
        # (and raises for an out-of-range int).
        kind = type(value)
        if kind is str:
            if not value.isascii():
                value = codec.accept(value, key)
        elif kind is int:
            if not _INT_MIN <= value <= _INT_MAX:
                value = codec.accept(value, key)
        elif value is _NOW:
            value = int(time.time())
        else:
            value = codec.accept(value, key)
        if self._edited and key in self._edited:
            await self._turns.after_edits(key.__eq__, lambda: self._put(key, value))
            return
        layers = self._layers
        top = layers.top
        # The index, and a disk write under way, need to know of keys new to the top layer.
        watched = layers.index is not None or layers.snapshot is not None
        if watched and top.get(key, GONE) is GONE:  # type: ignore[union-attr]
            layers.new_in_top(key)
        top[key] = value  # type: ignore[index]
        layers.log.changed[key] = None
        # self._writes.changed(), inlined: this is the hottest write path.
        writes = self._writes
        writes.changes += 1
        if writes.timer is None:
            writes.schedule()

    async def update(self, mapping: Mapping[str, Any]) -> None:
        """Store every key of mapping at once: all of them or, on a bad one, none."""
        await self._admit()
        accepted = api.accepted(mapping)
        if accepted:
            await self._turns.after_edits(accepted.__contains__, lambda: self._put_all(accepted))

    async def incr(self, key: str, by: int | float = 1) -> int | float:
        """Add by to the number at key (absent counts as 0) and return the result."""
        await self._admit()
        key = codec.check_key(key)
        api.check_by(key, by)

        def add() -> int | float:
            result = api.incremented(key, self._layers.lookup(key), by)
            self._put(key, result)
            return result

        return await self._turns.after_edits(key.__eq__, add)

    async def delete(self, key: str) -> bool:
        """Remove key; True whether it was there or not, False if the store failed to open."""
        if not await self._admit_or_log("delete"):
            return False
        key = codec.check_key(key)
        await self._turns.after_edits(key.__eq__, lambda: self._remove(key))
        return True

    def _remove(self, key: str) -> None:
        if self._layers.remove(key):
            self._writes.changed()

    def edit(self, key: str, default: Any = _MISSING) -> AbstractAsyncContextManager[Any]:
        """Change the dict or list at key in place: `async with kv.edit(key, []) as v:`.

        The block gets a private copy of the value (or of default, when key is
        absent), stored as set() would when the block ends normally; if the
        block raises, nothing is stored. Edits of one key, and other writes to
        it, take turns, so no update is lost.
        """
        return _Edit(self, key, default)

    def _put(self, key: str, value: Any) -> None:
        self._put_all({key: value})

    def _put_all(self, values: dict[str, Any]) -> None:
        layers = self._layers
        top = layers.top
        assert top is not None
        if layers.index is not None or layers.snapshot is not None:
            for key in values:
                if top.get(key, GONE) is GONE:
                    layers.new_in_top(key)
        top.update(values)
        layers.log.changed.update(dict.fromkeys(values))
        self._writes.changed()

    async def clear(self, prefix: str = "") -> bool:
        """Remove every key (or those starting with prefix) and flush; False (logged) on failure.

        The file is removed once the store is empty.
        """
        if not await self._admit_or_log("clear"):
            return False
        prefix = codec.plain_str(prefix, "prefixes")
        # Edits of the keys under way finish first; then, with no await, no
        # edit can begin before the keys are gone.
        await self._turns.after_edits(lambda key: key.startswith(prefix), lambda: None)
        if prefix:
            for key in list(self._layers.keys_under(prefix)):
                self._remove(key)
        else:
            # A write under way keeps encoding the old snapshot; it is simply
            # never folded back in, and the removal queued after it wins.
            self._layers.empty()
            self._writes.forget_pieces()
            self._writes.changed()
        try:
            await self.flush()
        except OSError:
            logger.exception("aiokv: clear() could not remove %s", self._path)
            return False
        return True

    # -- persistence ----------------------------------------------------------

    async def flush(self) -> None:
        """Return once every change made before the call is durable on disk."""
        await self._admit(write=False)
        await self._writes.flush()


class _Edit:
    # edit()'s block, by hand: @asynccontextmanager's generator cost 1.7 µs
    # of an edit's 8.9 (measured). The store's _admit() is awaited only where
    # set()'s check says it would not just return (three awaited calls cost
    # 1.5 µs): before the turn, after it (the store may have begun closing
    # while this edit waited) and after the block.
    __slots__ = ("_default", "_key", "_kv", "_turn", "_value")

    def __init__(self, kv: AioKV, key: str, default: Any) -> None:
        self._kv = kv
        self._key = key
        self._default = default

    async def __aenter__(self) -> Any:
        kv = self._kv
        if kv._writable_on._thread_id != _this_thread():
            await kv._admit()
        key = self._key = codec.check_key(self._key)
        self._turn = await kv._turns.take(key)
        try:
            if kv._writable_on._thread_id != _this_thread():
                await kv._admit()
            self._value = api.editable(key, kv._layers.lookup(key), self._default)
        except BaseException:
            kv._turns.end(self._turn)
            raise
        return self._value

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        kv = self._kv
        try:
            if exc_type is None:  # a block that raised stores nothing
                accepted = codec.accept(self._value, self._key)
                if kv._writable_on._thread_id != _this_thread():
                    await kv._admit()
                kv._put(self._key, accepted)
        finally:
            kv._turns.end(self._turn)
