"""AioKV: the in-memory state, the public API and its lifecycle.

Reads and writes touch only dicts in memory. A write marks the store dirty
and arms one timer; the flush policy (policy.py) says when the timer should
start one disk write of the whole state. At most one disk write runs at a
time and each writes a snapshot taken when it starts, so a later write always
carries a newer state than an earlier one.

The state lives in two layers (layers.py): while a write runs, it holds a
frozen snapshot and changes go to a top layer over it.

A store's life is one State: NEW, OPENING, OPEN, CLOSING, CLOSED; _enter()
says in one place what every operation does in each of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from . import api, codec, exits, lock
from .api import StoreBase
from .errors import AioKVError, ClosedError, foreign_loop
from .index import PrefixIndex
from .layers import GONE, Layers
from .namespace import SEPARATOR
from .opening import Migrate, Opener, wait_out
from .policy import FlushPolicy
from .scheduler import WriteScheduler
from .turns import EditTurns

logger = logging.getLogger("aiokv")

_MISSING, _NOW, _VERSION_KEY = codec.MISSING, codec.NOW, codec.VERSION_KEY
_INT_MIN, _INT_MAX = codec.INT_MIN, codec.INT_MAX
_running_loop = asyncio.get_running_loop
_loop_of_this_thread = asyncio._get_running_loop  # None where no loop runs
_T = TypeVar("_T")


class State(enum.Enum):
    """Where a store is in its life."""

    NEW = "new"  # described, no I/O done yet
    OPENING = "opening"  # taking the lock and loading the file
    OPEN = "open"  # serving every operation
    CLOSING = "closing"  # writing its final state; reads served, writes refused
    CLOSED = "closed"  # lock released; every operation refused


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


class AioKV(StoreBase):
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
        # Kept empty, not made the cwd: the open refuses it, naming no file.
        self._path = os.path.abspath(raw) if raw else raw
        self._state = State.NEW
        delay = _seconds("flush_delay", flush_delay)
        cap = _seconds("max_flush_delay", max_flush_delay)
        if cap < delay:
            raise ValueError(
                f"max_flush_delay ({max_flush_delay}) must be >= flush_delay ({flush_delay})"
            )
        if type(fsync) is not bool:
            raise TypeError(f"fsync must be a bool, not {type(fsync).__name__}")
        self._opener = Opener(fsync=fsync, on_corrupt=on_corrupt, version=version, migrate=migrate)
        self._closed_because = "is closed"  # finishes ClosedError's message
        # The state in memory (layers.py): its top is None unless the store
        # is OPEN or CLOSING.
        self._layers = Layers()
        self._loop: asyncio.AbstractEventLoop | None = None  # the owner, once open
        # The owner loop while writes are accepted (OPEN), else None: set()
        # checks the state and the loop with one comparison.
        self._writable_on: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Task[None] | None = None
        self._open_waiters = 0
        self._closing_done: asyncio.Event | None = None
        self._lock_fd: int | None = None
        self._writes = WriteScheduler(
            self._layers,
            FlushPolicy(delay, cap),
            fsync=fsync,
            schema=version,
            closed=lambda: ClosedError(self._path, self._closed_because),
        )
        # Keys being edited, each with the turn its edit() holds and the
        # writes queued behind it wait for (see _turn).
        self._turns = EditTurns(self._enter)
        self._edited = self._turns.by_key  # set()'s inline guard: a key under edit waits
        # A namespace's keys without a scan (index.py); None until the first
        # namespace listing, so that until then no write pays for it.
        self._index: PrefixIndex | None = None

    @property
    def path(self) -> str:
        """The state file's path (symlinks resolved once the store is open)."""
        return self._path

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
        writes = self._writes
        at, seconds, size = writes.last_flush or (None, None, None)
        return Stats(
            state=self._state.value,
            keys=self._layers.count() if self._layers.top is not None else 0,
            dirty=writes.dirty,
            unsaved_for=writes.unsaved_for(),
            flushes=writes.flushes,
            last_flush_at=at,
            last_flush_seconds=seconds,
            last_flush_bytes=size,
            last_error=writes.last_error,
        )

    # -- the lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> AioKV:
        """Open the store: take the file's lock and load it."""
        await self._enter(write=False)
        return self

    async def _enter(self, write: bool = True) -> None:
        # Wait until the store can serve an operation. Per state:
        #   NEW, OPENING  open it (or wait for the open under way), then as OPEN
        #   OPEN          serve, from the owner loop only
        #   CLOSING       reads and flush() are served (memory is intact and the
        #                 final write covers every change); writes: ClosedError
        #   CLOSED        ClosedError
        while True:
            state = self._state
            if state is State.OPEN or (state is State.CLOSING and not write):
                if self._loop is not _running_loop():
                    raise self._foreign_loop()
                return
            if state is State.CLOSING:
                raise ClosedError(self._path, "is closing: aclose() was called")
            if state is State.CLOSED:
                raise ClosedError(self._path, self._closed_because)
            await self._wait_for_open()

    def _foreign_loop(self) -> RuntimeError:
        return foreign_loop(self._path)

    async def _wait_for_open(self) -> None:
        # Every caller that needs the store open shares one opening task. A
        # caller cancelled while waiting (a timeout around `async with`, or
        # around the first operation) leaves; when the last one leaves, the
        # open is undone, so nothing stays held.
        loop = _running_loop()
        if self._opening is None:
            self._state = State.OPENING
            self._opening = loop.create_task(self._open())
        elif self._opening.get_loop() is not loop:
            raise self._foreign_loop()
        opening = self._opening
        self._open_waiters += 1
        try:
            # wait(), not shield(): the caller is told of its own
            # cancellation only, never of the open's (undone by another).
            await asyncio.wait([opening])
        except asyncio.CancelledError:
            if self._open_waiters == 1:  # the last caller waiting for this open
                if not opening.done():
                    opening.cancel()
                    # Let the open undo itself before the caller moves on
                    # (even if cancelled again): the next opener must find
                    # the file free.
                    await wait_out(opening)
                elif self._state is State.OPEN and not self._writes.dirty:
                    self._release(State.NEW)  # opened, but for nobody: nothing to lose
            raise
        finally:
            self._open_waiters -= 1
        if not opening.cancelled() and (error := opening.exception()) is not None:
            raise error

    async def _open(self) -> None:
        loop = _running_loop()
        try:
            path, fd, state = await self._opener.open(self._path)
        except BaseException:
            self._opening = None
            self._state = State.NEW  # the next operation tries again
            raise
        self._opening = None
        self._path, self._lock_fd, self._loop = path, fd, loop
        self._layers.open(state)
        self._writes.start(loop, path)
        self._state, self._writable_on = State.OPEN, loop
        exits.register(self, f"AioKV({path!r})", self._save_at_exit, self._disown)

    async def aclose(self) -> None:
        """Flush, stop background work and release the lock; a second call does nothing.

        From the moment it is called, writes from other tasks raise ClosedError;
        every write that returned before is in the final flush. If that flush
        fails, the error is raised and the store stays open, its changes still
        in memory, so nothing is dropped without a trace.
        """
        while self._state is not State.OPEN:
            if self._state is State.CLOSED:
                return
            if self._state is State.NEW:
                self._release(State.CLOSED)
                return
            if self._state is State.CLOSING:
                assert self._closing_done is not None
                await self._closing_done.wait()
            else:  # OPENING: let it finish, then close what it opened
                # An open that fails holds nothing, and its opener was told.
                with contextlib.suppress(Exception):
                    await self._wait_for_open()
        if self._loop is not _running_loop():
            raise self._foreign_loop()
        self._state, self._writable_on = State.CLOSING, None
        self._closing_done = asyncio.Event()
        try:
            await self._writes.flush()
        except BaseException:
            self._state, self._writable_on = State.OPEN, self._loop
            raise
        finally:
            self._closing_done.set()
        self._release(State.CLOSED)

    def _release(self, state: State) -> None:
        # Drop the memory and the lock (nothing unsaved may be left by now).
        self._writes.stop()
        self._state, self._writable_on = state, None
        self._layers.close()
        self._index = None
        if state is State.NEW:
            self._loop = None
        if self._lock_fd is not None:
            lock.release(self._lock_fd)
            self._lock_fd = None
        exits.unregister(self)

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
            await self._enter(write=False)
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
        await self._enter(write=False)
        return self._layers.lookup(codec.check_key(key)) is not _MISSING

    async def keys(self, prefix: str = "") -> list[str]:
        """Return a list of the stored keys (those starting with prefix)."""
        await self._enter(write=False)
        return list(self._under(codec.plain_str(prefix, "prefixes")))

    async def get_all(self, prefix: str = "") -> dict[str, Any]:
        """Return a copy of the whole state (of the keys starting with prefix)."""
        await self._enter(write=False)
        prefix = codec.plain_str(prefix, "prefixes")
        if not prefix:
            return codec.copy_out(self._layers.view())  # type: ignore[no-any-return]
        keys = self._under(prefix)
        return codec.copy_out({key: self._layers.lookup(key) for key in keys})  # type: ignore[no-any-return]

    # -- writing -------------------------------------------------------------

    async def set(self, key: str, value: Any = _NOW) -> None:
        """Store value at key; with no value, store int(time.time())."""
        # _writable_on is the running loop only when the store is OPEN.
        if self._writable_on is not _running_loop():
            await self._enter()
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
        watched = self._index is not None or layers.snapshot is not None
        if watched and top.get(key, GONE) is GONE:  # type: ignore[union-attr]
            self._new_in_top(key)
        top[key] = value  # type: ignore[index]
        layers.log.changed[key] = None
        # self._writes.changed(), inlined: this is the hottest write path.
        writes = self._writes
        writes.changes += 1
        if writes.timer is None:
            writes.schedule()

    async def update(self, mapping: Mapping[str, Any]) -> None:
        """Store every key of mapping at once: all of them or, on a bad one, none."""
        await self._enter()
        accepted = api.accepted(mapping)
        if accepted:
            await self._turns.after_edits(accepted.__contains__, lambda: self._put_all(accepted))

    async def incr(self, key: str, by: int | float = 1) -> int | float:
        """Add by to the number at key (absent counts as 0) and return the result."""
        await self._enter()
        key = codec.check_key(key)
        api.check_by(key, by)

        def add() -> int | float:
            result = api.incremented(key, self._layers.lookup(key), by)
            self._put(key, result)
            return result

        return await self._turns.after_edits(key.__eq__, add)

    async def delete(self, key: str) -> bool:
        """Remove key; True whether it was there or not, False if the store failed to open."""
        if not await self._enter_or_log("delete"):
            return False
        key = codec.check_key(key)
        await self._turns.after_edits(key.__eq__, lambda: self._remove(key))
        return True

    def _remove(self, key: str) -> None:
        if self._layers.remove(key):
            if self._index is not None:
                self._index.discard(key)
            self._writes.changed()

    def edit(self, key: str, default: Any = _MISSING) -> AbstractAsyncContextManager[Any]:
        """Change the dict or list at key in place: `async with kv.edit(key, []) as v:`.

        The block gets a private copy of the value (or of default, when key is
        absent), stored as set() would when the block ends normally; if the
        block raises, nothing is stored. Edits of one key, and other writes to
        it, take turns, so no update is lost.
        """
        return self._edit(key, default)

    @contextlib.asynccontextmanager
    async def _edit(self, key: str, default: Any) -> AsyncIterator[Any]:
        await self._enter()
        key = codec.check_key(key)
        async with self._turns.turn(key):
            await self._enter()  # it may have begun closing while we waited
            value = api.editable(key, self._layers.lookup(key), default)
            yield value
            accepted = codec.accept(value, key)
            await self._enter()
            self._put(key, accepted)

    def _put(self, key: str, value: Any) -> None:
        self._put_all({key: value})

    def _put_all(self, values: dict[str, Any]) -> None:
        layers = self._layers
        top = layers.top
        assert top is not None
        if self._index is not None or layers.snapshot is not None:
            for key in values:
                if top.get(key, GONE) is GONE:
                    self._new_in_top(key)
        top.update(values)
        layers.log.changed.update(dict.fromkeys(values))
        self._writes.changed()

    async def clear(self, prefix: str = "") -> bool:
        """Remove every key (or those starting with prefix) and flush; False (logged) on failure.

        The file is removed once the store is empty.
        """
        if not await self._enter_or_log("clear"):
            return False
        prefix = codec.plain_str(prefix, "prefixes")
        # Edits of the keys under way finish first; then, with no await, no
        # edit can begin before the keys are gone.
        await self._turns.after_edits(lambda key: key.startswith(prefix), lambda: None)
        if prefix:
            for key in list(self._under(prefix)):
                self._remove(key)
        else:
            # A write under way keeps encoding the old snapshot; it is simply
            # never folded back in, and the removal queued after it wins.
            self._layers.empty()
            self._writes.forget_pieces()
            if self._index is not None:
                self._index.clear()
            self._writes.changed()
        try:
            await self.flush()
        except OSError:
            logger.exception("aiokv: clear() could not remove %s", self._path)
            return False
        return True

    async def _enter_or_log(self, op: str) -> bool:
        # The seed's contract: delete/clear report a failure to load as False.
        try:
            await self._enter()
        except (OSError, AioKVError) as e:
            if isinstance(e, ClosedError):
                raise
            logger.exception("aiokv: %s() on %s failed", op, self._path)
            return False
        return True

    # -- persistence ----------------------------------------------------------

    async def flush(self) -> None:
        """Return once every change made before the call is durable on disk."""
        await self._enter(write=False)
        await self._writes.flush()

    def _under(self, prefix: str) -> Iterable[str]:
        # The keys starting with prefix. A namespace's prefix (ending with
        # SEPARATOR) is answered by the index, any other by a scan.
        if not prefix:
            return self._layers.view()
        if not prefix.endswith(SEPARATOR):
            return [key for key in self._layers.view() if key.startswith(prefix)]
        if self._index is None:
            self._index = PrefixIndex()
        return self._index.under(prefix, self._layers.view)

    def _new_in_top(self, key: str) -> None:
        # A write is about to store key, which the top layer lacks or holds
        # as deleted: new keys, or any key while a disk write runs.
        self._layers.new_in_top(key)
        if self._index is not None:
            self._index.add(key)

    # -- leaving the process ----------------------------------------------------

    def _save_at_exit(self) -> None:
        # Plain synchronous I/O: the loop is gone by now, or (a loop in a
        # daemon thread) still running in another thread, so read the state
        # through a consistent copy and never touch the layers themselves.
        if self._state is not State.OPEN and self._state is not State.CLOSING:
            return
        self._writable_on = None  # later writes from a live loop are refused
        self._state, self._closed_because = State.CLOSED, "was closed at interpreter exit"
        self._writes.save_at_exit()

    def _disown(self) -> None:
        # In a forked child: the store, its lock and its file are the parent's.
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # the parent's copy keeps the lock
            self._lock_fd = None
        self._state, self._writable_on = State.CLOSED, None
        self._layers.close()
        self._writes.stop()
        self._index = None
        self._closed_because = (
            "belongs to the process that forked this one; open a new AioKV in the child"
        )


def _seconds(name: str, value: object) -> float:
    if type(value) is not int and type(value) is not float:
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value}")
    return float(value)
