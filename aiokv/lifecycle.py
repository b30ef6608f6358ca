"""A store's life: one State, changed in one place, and what each operation may do in it.

Lifecycle is AioKV's base class (as httpx's BaseClient is its clients'): it
holds the state and the owner loop, opens the store (sharing one open among
every caller, undone if the last one is cancelled), closes it, and saves or
disowns it at exit and in a forked child. What an open store holds, the
lifecycle opens and lets go: the state (layers.py) and its writes
(scheduler.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import threading
from typing import Protocol, TypeVar, cast

from . import exits, lock
from .errors import AioKVError, ClosedError, foreign_loop
from .layers import Layers
from .opening import Opener, wait_out
from .scheduler import WriteScheduler

logger = logging.getLogger("aiokv")
_running_loop = asyncio.get_running_loop
_Self = TypeVar("_Self", bound="Lifecycle")


class Owner(Protocol):
    """What set() checks: _thread_id is this thread's ident only while the store's loop runs here.

    Every loop of asyncio (a BaseEventLoop) keeps the thread it runs in as
    _thread_id, and asyncio allows one running loop per thread, so comparing
    it with threading.get_ident() tells the same as `loop is
    get_running_loop()`, without the getpid() system call asyncio makes
    before CPython 3.12 (0.19 us of a 1.8 us set of a small dict on 3.11, as
    benchmarks/set_cost.py times it; the comparison, 0.05 us). A forked child
    needs no such check: it disowns its parent's stores (exits.py).
    """

    @property
    def _thread_id(self) -> int | None: ...


class _Nowhere:
    # The owner while the store is not OPEN: no thread's, so set() takes the slow way.
    _thread_id = None


class _AskAsyncio:
    # The owner for a loop that keeps no _thread_id (not a BaseEventLoop: uvloop's).
    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def _thread_id(self) -> int | None:
        return threading.get_ident() if _running_loop() is self._loop else None


_NOWHERE = _Nowhere()


def _owner(loop: asyncio.AbstractEventLoop | None) -> Owner:
    if isinstance(loop, asyncio.BaseEventLoop):
        return cast(Owner, loop)
    return _NOWHERE if loop is None else _AskAsyncio(loop)


class State(enum.Enum):
    """Where a store is in its life."""

    NEW = "new"  # described, no I/O done yet
    OPENING = "opening"  # taking the lock and loading the file
    OPEN = "open"  # serving every operation
    CLOSING = "closing"  # writing its final state; reads served, writes refused
    CLOSED = "closed"  # lock released; every operation refused


class Lifecycle:
    """One store's life: its State, the owner loop, the open, the close, the exit hooks."""

    def __init__(self, path: str, opener: Opener, layers: Layers, writes: WriteScheduler) -> None:
        """A NEW store of path, opened by opener; its state in layers, written by writes."""
        self._path = path
        self._opener = opener
        self._layers = layers
        self._writes = writes
        # The lifecycle: changed by _become() only.
        self._state = State.NEW
        self._loop: asyncio.AbstractEventLoop | None = None  # the owner, once open
        # Where writes are accepted: the owner loop while the store is OPEN,
        # else nowhere. set() checks the state, the loop and the thread with
        # one comparison (Owner).
        self._writable_on: Owner = _NOWHERE
        self._closed_because = "is closed"  # finishes ClosedError's message
        self._opening: asyncio.Task[None] | None = None
        self._open_waiters = 0
        self._closing_done: asyncio.Event | None = None
        self._lock_fd: int | None = None

    @property
    def path(self) -> str:
        """The state file's path (symlinks resolved once the store is open)."""
        return self._path

    async def __aenter__(self: _Self) -> _Self:
        """Open the store: take the file's lock and load it."""
        await self._admit(write=False)
        return self

    async def _admit(self, write: bool = True) -> None:
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

    def _become(self, state: State, why: str | None = None) -> None:
        # The one place the lifecycle changes: the state, what set()'s check
        # derives from it, and (closed) why ClosedError refuses.
        self._state = state
        self._writable_on = _owner(self._loop) if state is State.OPEN else _NOWHERE
        if why is not None:
            self._closed_because = why

    def _foreign_loop(self) -> RuntimeError:
        return foreign_loop(self._path)

    async def _wait_for_open(self) -> None:
        # Every caller that needs the store open shares one opening task. A
        # caller cancelled while waiting (a timeout around `async with`, or
        # around the first operation) leaves; when the last one leaves, the
        # open is undone, so nothing stays held.
        loop = _running_loop()
        if self._opening is None:
            self._become(State.OPENING)
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
            path, fd, state, pieces = await self._opener.open(self._path)
        except BaseException:
            self._opening = None
            self._become(State.NEW)  # the next operation tries again
            raise
        self._opening = None
        self._path, self._lock_fd, self._loop = path, fd, loop
        self._layers.open(state)
        self._writes.start(loop, path, pieces)
        self._become(State.OPEN)
        exits.register(self, f"AioKV({path!r})", self._save_at_exit, self._disown)

    async def aclose(self) -> None:
        """Flush, stop background work and release the lock; a second call does nothing.

        From the moment it is called, writes from other tasks raise ClosedError;
        every write that returned before is in the final flush. If that flush
        fails, the error is raised and the store stays open, its changes still
        in memory, so nothing is dropped without a trace. From another event
        loop it raises RuntimeError, unless the store's own loop has closed:
        then it saves with blocking I/O and releases the file.
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
            if self._loop is not None and self._loop.is_closed():
                self._close_orphan()
                return
            raise self._foreign_loop()
        self._become(State.CLOSING)
        self._closing_done = asyncio.Event()
        try:
            await self._writes.flush()
        except BaseException:
            self._become(State.OPEN)
            raise
        finally:
            self._closing_done.set()
        self._release(State.CLOSED)

    def _close_orphan(self) -> None:
        # The owner loop is closed (a second asyncio.run(), say): nothing of
        # the store's runs there any more but, after a bare loop.close(), a
        # write still in its thread, which the save waits for. Save with
        # blocking I/O, as the exit hook would, and release, so the file can be
        # opened again; if the save fails, it raises and the store stays as it was.
        self._writes.save_now()
        self._release(State.CLOSED)

    def _release(self, state: State) -> None:
        # Drop the memory and the lock (nothing unsaved may be left by now).
        self._writes.stop()
        self._layers.close()
        if state is State.NEW:
            self._loop = None
        self._become(state)
        if self._lock_fd is not None:
            lock.release(self._lock_fd)
            self._lock_fd = None
        exits.unregister(self)

    async def _admit_or_log(self, op: str) -> bool:
        # The seed's contract: delete/clear report a failure to load as False.
        try:
            await self._admit()
        except (OSError, AioKVError) as e:
            if isinstance(e, ClosedError):
                raise
            logger.exception("aiokv: %s() on %s failed", op, self._path)
            return False
        return True

    # -- leaving the process ----------------------------------------------------

    def _save_at_exit(self) -> None:
        # Plain synchronous I/O: the loop is gone by now, or (a loop in a
        # daemon thread) still running in another thread, so read the state
        # through a consistent copy and never touch the layers themselves.
        if self._state is not State.OPEN and self._state is not State.CLOSING:
            return
        self._become(State.CLOSED, "was closed at interpreter exit")  # later writes refused
        self._writes.save_at_exit()

    def _disown(self) -> None:
        # In a forked child: the store, its lock and its file are the parent's.
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # the parent's copy keeps the lock
            self._lock_fd = None
        self._writes.stop()
        self._layers.close()
        self._become(
            State.CLOSED,
            "belongs to the process that forked this one; open a new AioKV in the child",
        )
