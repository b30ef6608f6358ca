"""AioKV: the in-memory state, the public API and the flush policy.

Reads and writes touch only the dict in memory. A write marks the store dirty
and arms one timer; when the store has been quiet for flush_delay (or has been
dirty for max_flush_delay under a write stream that never pauses), one disk
operation writes a snapshot of the whole state. At most one disk operation
runs at a time and each writes a snapshot taken when it starts, so a later
operation always writes a newer state than an earlier one.

The snapshot is free: when a write starts, the dict itself is frozen and
handed to the worker thread (_base), and changes made meanwhile go to a fresh
overlay dict (_data), deletions as _GONE markers. Reads look in the overlay,
then in the frozen base. When the write ends, the overlay is folded into the
base, which becomes the live dict again. So the loop never copies the state.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from . import codec, lock, storage
from .errors import AioKVError, ClosedError

logger = logging.getLogger("aiokv")

_MISSING: Any = object()
_NOW: Any = object()
_GONE: Any = object()  # a key deleted while a write has the base frozen
_INT_MIN, _INT_MAX = codec.INT_MIN, codec.INT_MAX
_running_loop = asyncio.get_running_loop
_monotonic = time.monotonic

# Retry a failing background flush after 0.1 s, 0.2 s, ... up to this.
_MAX_BACKOFF = 30.0

# Open stores that hold unsaved changes' only copy; the exit hook saves them.
_unclosed: set[AioKV] = set()


class AioKV:
    """An async key-value store kept in memory and persisted to one JSON file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_delay: float = 0.5,
        max_flush_delay: float = 2.0,
        fsync: bool = True,
    ) -> None:
        """Describe the store; no I/O happens until it is opened or first used."""
        raw = os.fspath(path)
        if not isinstance(raw, str):
            raise TypeError(f"path must be str or os.PathLike[str], not {type(raw).__name__}")
        self._flush_delay = _seconds("flush_delay", flush_delay)
        self._max_flush_delay = _seconds("max_flush_delay", max_flush_delay)
        if self._max_flush_delay < self._flush_delay:
            raise ValueError(
                f"max_flush_delay ({max_flush_delay}) must be >= flush_delay ({flush_delay})"
            )
        if type(fsync) is not bool:
            raise TypeError(f"fsync must be a bool, not {type(fsync).__name__}")
        self._fsync = fsync
        self._path = os.path.abspath(raw)
        self._data: dict[str, Any] | None = None  # None until open, and after close
        self._base: dict[str, Any] | None = None  # frozen while a write encodes it
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        # _version counts changes; _saved is the newest version the file holds.
        self._version = 0
        self._saved = 0
        self._armed_version = 0
        self._dirty_since = 0.0
        self._retry_at = 0.0
        self._failures = 0
        self._timer: asyncio.TimerHandle | None = None
        self._io: asyncio.Future[BaseException | None] | None = None

    @property
    def path(self) -> str:
        """The state file's path (symlinks resolved once the store is open)."""
        return self._path

    def __repr__(self) -> str:
        """Show the path and whether the store is open."""
        state = "closed" if self._closed else "open" if self._data is not None else "new"
        return f"<AioKV {self._path!r} {state}>"

    # -- opening and closing -------------------------------------------------

    async def __aenter__(self) -> AioKV:
        """Open the store: take the file's lock and load it."""
        await self._ready()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store (final flush, lock released)."""
        await self.aclose()

    async def _ready(self) -> None:
        if self._closed:
            raise ClosedError(self._path)
        loop = _running_loop()
        owner = self._loop or (self._opening and self._opening.get_loop())
        if owner is not None and owner is not loop:
            raise RuntimeError(
                f"AioKV({self._path!r}) belongs to the event loop that first used it; "
                "it cannot be used from another loop (aclose() it and open a new one)"
            )
        if self._data is None:
            if self._opening is None:
                self._opening = loop.create_task(self._open())
            await asyncio.shield(self._opening)

    async def _open(self) -> None:
        try:
            loop = _running_loop()
            path, fd = await loop.run_in_executor(None, _take, self._path)
            try:
                data = await storage.load(path)
            except BaseException:
                lock.release(fd)
                raise
        finally:
            self._opening = None
        self._path, self._lock_fd, self._data, self._loop = path, fd, data, loop
        _unclosed.add(self)

    async def aclose(self) -> None:
        """Flush, stop background work and release the lock; a second call does nothing.

        If the final flush fails the error is raised and the store stays open,
        its changes still in memory, so nothing is dropped without a trace.
        """
        if self._closed:
            return
        if self._data is not None or self._opening is not None:
            await self.flush()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._closed = True
        self._data = None
        self._loop = None
        if self._lock_fd is not None:
            lock.release(self._lock_fd)
            self._lock_fd = None
        _unclosed.discard(self)

    # -- reading -------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        """Return the value stored at key (a private copy), or default."""
        # The hot path is one dict lookup: a store that is not open has
        # _data None, so the lookup itself raises and sends us the slow way.
        # Reads touch no background work, so they need no loop check.
        try:
            value = self._data[key]  # type: ignore[index]
        except KeyError:
            # Not in the overlay: a write in progress may hold it in the base.
            if (value := self._lookup(key)) is _MISSING:
                codec.check_key(key)
                return default
        except TypeError:
            if self._data is not None:
                codec.check_key(key)  # an unhashable key: say what keys must be
                raise
            await self._ready()
            return await self.get(key, default)
        kind = type(value)
        if kind is str:
            return value
        if value is _GONE:
            return default
        if kind is dict or kind is list:
            # First read of a container from set() or the file: tag it once.
            value = self._data[key] = codec.tag(value)  # type: ignore[index]
        return codec.copy_out(value)

    async def has(self, key: str) -> bool:
        """Return whether key is stored."""
        await self._ready()
        return self._lookup(codec.check_key(key)) is not _MISSING

    async def keys(self) -> list[str]:
        """Return a list of the stored keys."""
        await self._ready()
        return list(self._view())

    async def get_all(self) -> dict[str, Any]:
        """Return a copy of the whole state."""
        await self._ready()
        return codec.copy_out(self._view())  # type: ignore[no-any-return]

    # -- writing -------------------------------------------------------------

    async def set(self, key: str, value: Any = _NOW) -> None:
        """Store value at key; with no value, store int(time.time())."""
        # _loop is None until open and after close: one check covers all three.
        if self._loop is not _running_loop():
            await self._ready()
        if type(key) is not str or not key.isascii():
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
        self._data[key] = value  # type: ignore[index]
        # _touch(), inlined: this is the hottest write path.
        self._version += 1
        if self._timer is None:
            self._schedule()

    async def update(self, mapping: Mapping[str, Any]) -> None:
        """Store every key of mapping at once: all of them or, on a bad one, none."""
        await self._ready()
        if not isinstance(mapping, Mapping):
            raise TypeError(f"update() takes a mapping, not {type(mapping).__name__}")
        accepted = {codec.check_key(k): codec.accept(v, k) for k, v in mapping.items()}
        if accepted:
            self._data.update(accepted)  # type: ignore[union-attr]
            self._touch()

    async def incr(self, key: str, by: int | float = 1) -> int | float:
        """Add by to the number at key (absent counts as 0) and return the result."""
        await self._ready()
        key = codec.check_key(key)
        if type(by) is not int and type(by) is not float:
            raise TypeError(f"incr({key!r}): by must be an int or float, not {type(by).__name__}")
        current = self._lookup(key)
        if current is _MISSING:
            current = 0
        if type(current) is not int and type(current) is not float:
            raise TypeError(
                f"incr({key!r}): the stored value is {codec.json_type(current)}, not a number"
            )
        result: int | float = codec.accept(current + by, key)
        self._data[key] = result  # type: ignore[index]
        self._touch()
        return result

    async def delete(self, key: str) -> bool:
        """Remove key; True whether it was there or not, False if the store failed to open."""
        if not await self._ready_or_log("delete"):
            return False
        key = codec.check_key(key)
        if self._lookup(key) is not _MISSING:
            if self._base is None:
                del self._data[key]  # type: ignore[union-attr]
            else:
                self._data[key] = _GONE  # type: ignore[index]
            self._touch()
        return True

    async def clear(self) -> bool:
        """Empty the store and remove its file; False (logged) on failure."""
        if not await self._ready_or_log("clear"):
            return False
        # A write under way keeps encoding the old base; it is simply never
        # folded back in, and the removal queued after it wins.
        self._data, self._base = {}, None
        self._touch()
        try:
            await self.flush()
        except OSError:
            logger.exception("aiokv: clear() could not remove %s", self._path)
            return False
        return True

    async def _ready_or_log(self, op: str) -> bool:
        # The seed's contract: delete/clear report a failure to load as False.
        try:
            await self._ready()
        except (OSError, AioKVError) as e:
            if isinstance(e, ClosedError):
                raise
            logger.exception("aiokv: %s() on %s failed", op, self._path)
            return False
        return True

    # -- persistence ----------------------------------------------------------

    async def flush(self) -> None:
        """Return once every change made before the call is durable on disk."""
        await self._ready()
        target = self._version
        while self._saved < target:
            if self._io is not None:
                # A write already under way: share it (it may already cover us).
                await asyncio.shield(self._io)
                continue
            error = await asyncio.shield(self._start_io())
            if error is not None:
                raise error

    def _touch(self) -> None:
        self._version += 1
        if self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        # The first change since the file was up to date. (While a write is
        # under way, its completion arms the timer for what came meanwhile.)
        if self._io is None:
            self._dirty_since = _monotonic()
            self._arm(self._flush_delay)

    def _arm(self, after: float) -> None:
        assert self._loop is not None
        # Writes don't touch the timer (that would cost every set a clock
        # read and a heap push); the callback compares versions instead.
        self._armed_version = self._version
        self._timer = self._loop.call_later(after, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._data is None or self._io is not None or self._saved == self._version:
            return
        now = _monotonic()
        cap_left = self._dirty_since + self._max_flush_delay - now
        if self._version != self._armed_version and cap_left > 0:
            self._arm(min(self._flush_delay, cap_left))  # written to since: not quiet yet
        elif now < self._retry_at:
            self._arm(self._retry_at - now)  # backing off after a failed write
        else:
            self._start_io()

    def _start_io(self) -> asyncio.Future[BaseException | None]:
        assert self._loop is not None and self._data is not None and self._base is None
        # Freeze the state as the snapshot; changes go to an overlay meanwhile.
        self._base, self._data = self._data, {}
        op = self._disk_op(self._base)
        version = self._version
        self._dirty_since = _monotonic()
        # A plain future, not a task: a framework that cancels every task at
        # shutdown cannot detach us from a thread that is still writing, so
        # two writes never overlap and an older snapshot never lands last.
        done: asyncio.Future[BaseException | None] = self._loop.create_future()
        work = self._loop.run_in_executor(None, op)
        work.add_done_callback(lambda work: self._io_done(work, version, done))
        self._io = done
        return done

    def _disk_op(self, state: dict[str, Any]) -> Callable[[], None]:
        # Bring the file to state: an empty store has no file (so clear()
        # removes it), any other is rewritten whole.
        path, fsync = self._path, self._fsync
        if not state:
            return lambda: storage.remove(path, fsync)
        return lambda: storage.write(path, state, fsync)

    def _lookup(self, key: str) -> Any:
        # The current value at key, or _MISSING: the overlay, then the base.
        assert self._data is not None
        value = self._data.get(key, _MISSING)
        if value is _MISSING and self._base is not None:
            value = self._base.get(key, _MISSING)
        return _MISSING if value is _GONE else value

    def _fold(self, into: dict[str, Any]) -> dict[str, Any]:
        # Apply the overlay's changes to into: values set, _GONE keys removed.
        assert self._data is not None
        into.update(self._data)
        for key in [k for k, v in self._data.items() if v is _GONE]:
            del into[key]
        return into

    def _view(self) -> dict[str, Any]:
        # The whole current state as one dict (a new one while a write runs).
        assert self._data is not None
        return self._data if self._base is None else self._fold(dict(self._base))

    def _unfreeze(self) -> None:
        # The write is over: the base, with the overlay folded in, is live again.
        if self._base is not None and self._data is not None:
            self._data, self._base = self._fold(self._base), None

    def _io_done(
        self,
        work: asyncio.Future[None],
        version: int,
        done: asyncio.Future[BaseException | None],
    ) -> None:
        # The failure is the future's result, not its exception: a background
        # write has no awaiter, and flush() decides itself whether to raise.
        error = work.exception()
        self._io = None
        self._unfreeze()
        if error is None:
            self._saved = max(self._saved, version)
            self._failures = 0
            self._retry_at = 0.0
        else:
            self._failures += 1
            backoff = min(0.1 * 2 ** (self._failures - 1), _MAX_BACKOFF)
            self._retry_at = _monotonic() + backoff
            logger.error(
                "aiokv: flush of %s failed: %s; changes kept in memory, retrying in %.1fs",
                self._path,
                error,
                backoff,
            )
        if self._data is not None and self._saved < self._version and self._timer is None:
            now = _monotonic()
            cap_left = self._dirty_since + self._max_flush_delay - now
            self._arm(max(self._retry_at - now, min(self._flush_delay, cap_left), 0.0))
        done.set_result(error)

    def _persist_at_exit(self) -> None:
        if self._data is None or self._saved == self._version:
            return
        # The loop may have closed before a finished write's callback ran.
        self._unfreeze()
        try:
            self._disk_op(self._data)()
        except Exception:  # the last chance to save: report whatever went wrong
            logger.exception("aiokv: could not save %s at exit", self._path)
        else:
            self._saved = self._version


def _take(path: str) -> tuple[str, int]:
    # Resolve symlinks and relative paths first: every way of naming the
    # file then meets the same lock, and the file's link is kept on writes.
    real = os.path.realpath(path)
    fd = lock.acquire(real)
    try:
        storage.remove_stale_temps(real)
    except BaseException:
        lock.release(fd)
        raise
    return real, fd


def _seconds(name: str, value: object) -> float:
    if type(value) is not int and type(value) is not float:
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value}")
    return float(value)


@atexit.register
def _save_unclosed() -> None:
    # The loop is gone by now, so this is plain synchronous I/O.
    for store in list(_unclosed):
        warnings.warn(
            f"AioKV({store.path!r}) was never closed; saving it at exit "
            "(use 'async with AioKV(...)' or await aclose())",
            ResourceWarning,
            stacklevel=1,
        )
        store._persist_at_exit()
