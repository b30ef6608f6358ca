"""Opening a state file: its lock and stale temp files, the read, quarantine, migration.

Cancel-safe: an open cancelled at any await holds nothing afterwards (the
lock is given back, even if the thread takes it after the cancellation), and
work that must not stop half done (a quarantine, a migration once migrate()
was called) is finished and logged before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

from . import api, codec, lock, storage
from .errors import CorruptFileError, VersionError
from .pieces import Pieces

logger = logging.getLogger("aiokv")

_T = TypeVar("_T")
_ON_CORRUPT = ("raise", "quarantine")
# migrate(old_version, state) -> new state, a plain or an async function.
Migrate = Callable[[int, dict[str, Any]], "dict[str, Any] | Awaitable[dict[str, Any]]"]


class Opened(NamedTuple):
    """What an open holds: the resolved path, the lock's fd, the state read and its pieces."""

    path: str
    lock_fd: int
    state: dict[str, Any]
    pieces: Pieces | None  # None: the state is not the file's (migrated, quarantined, none)


class Opener:
    """How a store opens its file: what to do with a corrupt one, and with another version."""

    __slots__ = ("_fsync", "_migrate", "_quarantine", "_schema")

    def __init__(
        self, *, fsync: bool, on_corrupt: str, version: int | None, migrate: Migrate | None
    ) -> None:
        """The store's own keyword arguments, checked: a bad one raises here."""
        if on_corrupt not in _ON_CORRUPT:
            raise ValueError(f"on_corrupt must be 'raise' or 'quarantine', not {on_corrupt!r}")
        if version is not None and (type(version) is not int or not 1 <= version <= codec.INT_MAX):
            raise ValueError(
                "version must be an int from 1 to 2**64-1 (a file without one is version 0), "
                f"not {version!r}"
            )
        if migrate is not None and (version is None or not callable(migrate)):
            raise TypeError("migrate must be a function, given together with version=")
        self._fsync = fsync
        self._quarantine = on_corrupt == "quarantine"
        self._schema = version
        self._migrate = migrate

    async def open(self, path: str) -> Opened:
        """Take path's lock, sweep stale temp files, and read the state (quarantined, migrated).

        On any failure or cancellation, the lock is given back before it raises.
        """
        loop = asyncio.get_running_loop()
        fd = None
        try:
            taking = loop.run_in_executor(None, _lock_and_sweep, path)
            try:
                path, fd = await asyncio.shield(taking)
            except asyncio.CancelledError:
                # The thread may yet take the lock: give it back when it
                # does, and wait (even if this task is cancelled again).
                taking.add_done_callback(_release_taken)
                await wait_out(taking)
                raise
            return Opened(path, fd, *await self._read(path))
        except BaseException:
            if fd is not None:
                lock.release(fd)
            raise

    async def _read(self, path: str) -> tuple[dict[str, Any], Pieces | None]:
        try:
            loaded = await storage.load(path)
        except CorruptFileError as e:
            if not self._quarantine:
                raise
            await _in_thread(_quarantine, path, e.problem, self._fsync)
            return {}, None
        if loaded is None:
            return {}, None
        if loaded.version != (self._schema or 0):
            return await self._upgrade(path, loaded.state, loaded.version), None
        return loaded.state, loaded.pieces

    async def _upgrade(self, path: str, state: dict[str, Any], found: int) -> dict[str, Any]:
        # Bring a file of another schema version to this program's, durably,
        # keeping the old file beside it; or refuse it, untouched.
        wanted = self._schema or 0
        if found > wanted:
            raise VersionError(
                path, found, wanted, "a newer program wrote it; opening it would lose data"
            )
        if self._migrate is None:
            raise VersionError(path, found, wanted, "no migrate= was given to bring it up")
        # Once migrate is called its result is written, even if the open is
        # cancelled meanwhile: else the next open would call it again.
        result = self._migrate(found, state)
        return await _to_the_end(path, self._migrated(path, result, found, wanted))

    async def _migrated(self, path: str, result: Any, found: int, wanted: int) -> dict[str, Any]:
        if inspect.isawaitable(result):
            result = await result
        migrated = api.accepted_state(result, f"migrate() from version {found} for {path}")
        await _in_thread(_migrate_file, path, migrated, found, wanted, self._fsync)
        return migrated


async def _in_thread(work: Callable[..., _T], path: str, *args: Any) -> _T:
    # File work on path at open, in a worker thread, which cannot be stopped.
    return await _to_the_end(
        path, asyncio.get_running_loop().run_in_executor(None, work, path, *args)
    )


async def _to_the_end(path: str, work: Awaitable[_T]) -> _T:
    # Work of the open on path that must not stop half done. If cancelled
    # (even again meanwhile), wait for it to end before raising, so the lock
    # is never released while it still runs; a failure then is only logged,
    # as the open's caller has left.
    done = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        await wait_out(done)
        if not done.cancelled() and (error := done.exception()) is not None:
            logger.error("aiokv: opening %s was cancelled, then failed: %r", path, error)
        raise


async def wait_out(future: asyncio.Future[Any]) -> None:
    """Wait for future to end, whatever cancels the waiter meanwhile.

    The waiter, cancelled already, raises its own cancellation after.
    """
    while not future.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([future])


# What the open does to a file, each done and logged in one piece in its
# thread: an open cancelled meanwhile still says what became of the file.


def _quarantine(path: str, problem: str, fsync: bool) -> None:
    aside = storage.move_aside(path, fsync)
    logger.error(
        "aiokv: %s cannot be opened (%s); moved it to %s, and the store opens empty",
        path,
        problem,
        aside,
    )


def _migrate_file(path: str, state: dict[str, Any], found: int, wanted: int, fsync: bool) -> None:
    backup = storage.back_up(path, found, fsync)
    storage.write(path, state, fsync, wanted)
    logger.info(
        "aiokv: migrated %s from version %d to %d; the old file is kept as %s",
        path,
        found,
        wanted,
        backup,
    )


def _lock_and_sweep(path: str) -> tuple[str, int]:
    # Refuse what can never be a state file before making a lock file beside
    # it (a courtesy: the load, under the lock, checks again).
    storage.is_file(path)
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


def _release_taken(taking: asyncio.Future[tuple[str, int]]) -> None:
    if not taking.cancelled() and taking.exception() is None:
        lock.release(taking.result()[1])
