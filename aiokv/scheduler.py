"""The write scheduler: when the state goes to disk (by the policy), one write at a time.

A change counts one (changes) and arms one timer; the flush policy
(policy.py) says when the timer should start a disk write of the whole
state. At most one disk write runs at a time and each writes a snapshot
taken when it starts (layers.py), so a later write always carries a newer
state than an earlier one. The write itself runs in a worker thread: the
pieces (pieces.py) are brought up to date with the change log, then the file
is replaced (storage.py). The scheduler also keeps the figures stats() shows.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import storage
from .layers import Layers
from .pieces import Pieces
from .policy import FlushPolicy
from .stats import Stats

logger = logging.getLogger("aiokv")
_monotonic = time.monotonic


class WriteScheduler:
    """The store's disk writes: the timer, the write under way, flushes, their figures."""

    __slots__ = (
        "_armed_at",
        "_closed",
        "_epoch",
        "_fsync",
        "_layers",
        "_loop",
        "_path",
        "_pieces",
        "_policy",
        "_schema",
        "_thread_idle",
        "_under_way",
        "changes",
        "flushes",
        "last_error",
        "last_flush",
        "saved",
        "timer",
    )

    def __init__(
        self,
        layers: Layers,
        policy: FlushPolicy,
        *,
        fsync: bool,
        schema: int | None,
        closed: Callable[[], BaseException],
    ) -> None:
        """Write layers' state by policy; closed() is the error for a flush once it is gone."""
        self._layers, self._policy, self._fsync, self._schema = layers, policy, fsync, schema
        self._closed = closed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._path = ""
        # changes counts every change; saved is the count the file holds.
        self.changes = 0
        self.saved = 0
        self._armed_at = 0  # changes when the timer was armed
        self.timer: asyncio.TimerHandle | None = None  # None: no write scheduled
        self._under_way: asyncio.Future[BaseException | None] | None = None
        # Clear while a write runs in its thread. A blocking save waits for it:
        # the loop that would have told of its end may be closed (loop.close()
        # does not wait for the executor's threads), and its older snapshot
        # must not replace the file after the save.
        self._thread_idle = threading.Event()
        self._thread_idle.set()
        # The state's encoded form, kept between writes (pieces.py). _epoch
        # counts forget_pieces(): a write that began before does not hand its
        # pieces back.
        self._pieces: Pieces | None = None
        self._epoch = 0
        # For stats(): the successful writes, the latest one, the latest failure.
        self.flushes = 0
        self.last_flush: tuple[float, float, int] | None = None  # at, seconds, bytes
        self.last_error: BaseException | None = None

    def start(self, loop: asyncio.AbstractEventLoop, path: str, pieces: Pieces | None) -> None:
        """The store opened path on loop: writes go there from now on, from pieces if read."""
        self._loop, self._path, self._pieces = loop, path, pieces

    def stop(self) -> None:
        """No more writes: the timer is cancelled and the pieces let go."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._pieces = None

    @property
    def dirty(self) -> bool:
        """Whether some change is not on disk yet."""
        return self.saved < self.changes

    def unsaved_for(self) -> float:
        """Seconds the oldest change not on disk has waited (0.0 if none)."""
        return _monotonic() - self._policy.unsaved_since if self.dirty else 0.0

    def stats(self, state: str, keys: int) -> Stats:
        """The figures of the writes, for a store in state holding keys."""
        at, seconds, size = self.last_flush or (None, None, None)
        return Stats(
            state=state,
            keys=keys,
            dirty=self.dirty,
            unsaved_for=self.unsaved_for(),
            flushes=self.flushes,
            last_flush_at=at,
            last_flush_seconds=seconds,
            last_flush_bytes=size,
            last_error=self.last_error,
        )

    def changed(self) -> None:
        """Count a change and make sure a write is scheduled (set() inlines this)."""
        self.changes += 1
        if self.timer is None:
            self.schedule()

    def schedule(self) -> None:
        """Arm the timer for the first change since the file was up to date.

        While a write is under way, its completion arms the timer for what
        came meanwhile.
        """
        if self._under_way is None:
            self._arm(self._policy.first_change(_monotonic()))

    def forget_pieces(self) -> None:
        """The state was emptied: the next write encodes it whole."""
        self._pieces = None
        self._epoch += 1

    async def flush(self) -> None:
        """Return once every change counted before the call is on disk; raise what failed."""
        target = self.changes
        while self.saved < target:
            if self._under_way is not None:
                # A write already under way: share it (it may already cover us).
                await asyncio.shield(self._under_way)
                continue
            if self._layers.top is None:
                # Closed meanwhile by other means than aclose (which saves first).
                raise self._closed()
            error = await asyncio.shield(self._start_write())
            if error is not None:
                raise error

    def save_now(self) -> None:
        """Write what is unsaved now, with plain blocking I/O (the loop may be gone); raise."""
        changes = self.changes
        if self._layers.top is None or changes == self.saved:
            return
        self._thread_idle.wait()
        state = self._layers.copy()  # never the layers themselves: the loop may still run
        self._write_job(state, Pieces(), {}, set())()
        self.saved = changes

    def save_at_exit(self) -> None:
        """save_now(), at interpreter exit: a failure is logged, the last chance gone."""
        try:
            self.save_now()
        except Exception:  # the last chance to save: report whatever went wrong
            logger.exception("aiokv: could not save %s at exit", self._path)

    def _arm(self, after: float) -> None:
        assert self._loop is not None
        # Writes don't touch the timer (that would cost every set a clock
        # read and a heap push); the callback compares counts instead.
        self._armed_at = self.changes
        self.timer = self._loop.call_later(after, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self._layers.top is None or not self.dirty:
            return
        quiet = self.changes == self._armed_at
        wait = self._policy.timer_fired(_monotonic(), quiet)
        if wait is None:
            self._start_write()
        else:
            self._arm(wait)

    def _start_write(self) -> asyncio.Future[BaseException | None]:
        loop = self._loop
        assert loop is not None
        # Freeze the state as the snapshot; changes go to a new layer meanwhile.
        snapshot, changed, dropped = self._layers.freeze()
        changes = self.changes
        pieces, epoch = self._pieces or Pieces(), self._epoch
        # A plain future, not a task: a framework that cancels every task at
        # shutdown cannot detach us from a thread that is still writing, so
        # two writes never overlap and an older snapshot never lands last.
        done: asyncio.Future[BaseException | None] = loop.create_future()
        self._thread_idle.clear()
        try:
            work = loop.run_in_executor(None, self._write_job(snapshot, pieces, changed, dropped))
        except RuntimeError as e:
            self._thread_idle.set()
            # The loop's executor is shut down (asyncio.run() is returning):
            # no background write can start any more, and the exit hook
            # saves what is left. A flush() that needed this write raises.
            self._layers.unfreeze()
            self._layers.log.give_back(changed, dropped)
            done.set_result(e)
            return done
        started = _monotonic()
        self._policy.write_started(started)
        # The write takes every change so far; when it ends, the policy says
        # when the next is due. A timer left armed (a retry of an outage that
        # this write ends, a debounce) would hold later changes to its time.
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

        def finished(work: asyncio.Future[int | None]) -> None:
            # The pieces encode the snapshot once their update is whole,
            # whether the disk took them or not; after a clear() they are stale.
            if pieces.ready and epoch == self._epoch and self._layers.top is not None:
                self._pieces = pieces
            else:
                self._pieces = None  # the next write encodes every key
            self._write_done(work, changes, started, done)

        work.add_done_callback(finished)
        self._under_way = done
        return done

    def _write_job(
        self,
        state: dict[str, Any],
        pieces: Pieces,
        changed: dict[str, None],
        dropped: Iterable[str],
    ) -> Callable[[], int | None]:
        # Bring the pieces, then the file, to state: an empty store has no
        # file (so clear() removes it), any other is rewritten whole.
        path, fsync, schema, idle = self._path, self._fsync, self._schema, self._thread_idle

        def write() -> int | None:
            try:
                pieces.update(state, changed, dropped)
                if not state:
                    storage.remove(path, fsync)
                    return None
                return storage.write(path, state, fsync, schema, pieces)
            finally:
                idle.set()

        return write

    def _write_done(
        self,
        work: asyncio.Future[int | None],
        changes: int,
        started: float,
        done: asyncio.Future[BaseException | None],
    ) -> None:
        # The failure is the future's result, not its exception: a background
        # write has no awaiter, and flush() decides itself whether to raise.
        error = work.exception()
        self._under_way = None
        self._layers.unfreeze()
        now = _monotonic()
        wait = self._policy.write_finished(now, ok=error is None)
        self.last_error = error
        if error is None:
            self.saved = max(self.saved, changes)
            self.flushes += 1
            self.last_flush = (time.time(), now - started, work.result() or 0)
        else:
            logger.error(
                "aiokv: flush of %s failed: %s; changes kept in memory, retrying in %.1fs",
                self._path,
                error,
                self._policy.backoff,
            )
        if self._layers.top is not None and self.dirty:
            self._arm(wait)
        done.set_result(error)
