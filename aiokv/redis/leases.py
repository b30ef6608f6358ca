"""A store's edit leases: taken by begin_edit, renewed while the block runs, ended by end_edit.

An edit() holds its key with a lease (a token and a deadline on the
server's clock, kept in a second hash and renewed while the block runs),
and a write to a leased key waits until the edit ends, so an edit never
overwrites what another process wrote meanwhile. A lease left by a process
that died ends at its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable
from typing import Any, TypeVar

from ..errors import AioKVError, NotReplicatedError, UnavailableError
from . import scripts
from .client import Client

_T = TypeVar("_T")
_RENEWALS = 3  # a lease is renewed this many times over its length
_RENEW_RETRIES = 10  # after a failed lease renewal, the next comes this many times sooner
_TOKEN_BYTES = 8  # random bytes of an edit's token: no two edits hold the same


def new_token() -> str:
    """A token no other edit holds: the lease's holder."""
    return secrets.token_hex(_TOKEN_BYTES)


class Leases:
    """The leases this store's edits hold, and the requests ending them."""

    def __init__(self, client: Client, lease_ms: int) -> None:
        """client: the store's connections; lease_ms: how long a lease lasts unrenewed."""
        self._client = client
        self._lease_ms = lease_ms
        # token -> the key and the task editing it
        # (None: the edit is over, but the server has not confirmed the lease's end).
        self._held: dict[str, tuple[str, asyncio.Task[Any] | None]] = {}
        self.ending: set[asyncio.Task[None]] = set()  # end_edit requests under way

    def __len__(self) -> int:
        """How many leases are held, or ended without the server's word yet."""
        return len(self._held)

    def edited_here(self) -> list[str]:
        """The keys the current task is editing (at once if this store edits none)."""
        if not self._held:
            return []
        task = asyncio.current_task()
        return [key for key, editor in self._held.values() if editor is task]

    def taken(self, key: str, token: str) -> asyncio.Task[None]:
        """Note token's lease of key for the current task; return the task renewing it."""
        self._held[token] = (key, asyncio.current_task())
        return asyncio.ensure_future(self._renew(key, token))

    def stored(self, token: str) -> None:
        """Forget token's lease: end_edit stored the value and ended it."""
        del self._held[token]

    def end_all(self) -> None:
        """End every lease held (the store closes), each in a task of its own."""
        for token, (key, _) in list(self._held.items()):
            self.end(key, token)

    async def free(self, key: str, token: str, within: float | None = None) -> None:
        """End token's lease of key, and wait for the end (only within seconds, if given)."""
        # End token's lease of key before the edit returns, even if it is
        # cancelled meanwhile (uncut); or wait for the end only within seconds.
        if ending := self.end(key, token):
            if within is None:
                await uncut(ending)
            else:
                await asyncio.wait([ending], timeout=max(0.0, within))

    def end(self, key: str, token: str) -> asyncio.Task[None] | None:
        """End token's lease of key in a task of its own, returned (None: the store closed)."""
        # End token's lease of key in a task of its own, which aclose() waits
        # for (None once the close has ended every lease it found). If the
        # server cannot be reached, aclose() tries again, and the lease, no
        # longer renewed, ends by itself within edit_lease.
        if self._client.gone:
            return None
        self._held[token] = (key, None)  # at once: an aclose() under way sees it
        ending = asyncio.ensure_future(self._end_edit(key, token))
        self.ending.add(ending)
        ending.add_done_callback(self.ending.discard)
        return ending

    async def _end_edit(self, key: str, token: str) -> None:
        # On the client itself: a store closing still ends its leases. Not
        # waiting for replicas: an end a new primary lacks only leaves the
        # lease to run out, as an end never sent does, and waiting would keep
        # a connection (and the key) from the writes that need them.
        with contextlib.suppress(AioKVError):
            await self._client.script("end_edit", key, token, closing=True, wait=False)
            self._held.pop(token, None)

    async def _renew(self, key: str, token: str) -> None:
        # Renew every third of the lease. A renewal that failed (the server
        # out of reach a moment) is tried again soon, not a third later: a
        # pause shorter than the lease must cost nothing. A lost lease, or a
        # closed store, ends the renewals: end_edit says what became of it.
        interval = self._lease_ms / (_RENEWALS * scripts.MS_PER_S)
        pause = interval
        while True:
            await asyncio.sleep(pause)
            try:
                [live] = await self._client.script("renew_edit", key, token, str(self._lease_ms))
            except UnavailableError:
                pause = interval / _RENEW_RETRIES
                continue
            except AioKVError:
                return
            if not live:
                return
            pause = interval


def unconfirmed(where: str, key: str, e: NotReplicatedError) -> UnavailableError:
    """The error of an edit whose lease too few replicas confirmed: the block did not run."""
    had = "had it on disk" if e.on_disk else "confirmed it"
    return UnavailableError(
        where,
        f"edit({key!r}) did not run and stored nothing: its lease was taken on the primary, "
        f"but {e.confirmed} of the {e.wanted} replicas asked for {had} within {e.waited_ms} ms",
    )


async def uncut(request: Awaitable[_T]) -> _T:
    """request's answer, awaited even through a cancellation, which then goes on."""
    # Await request to its end even if the caller is cancelled meanwhile (a
    # server call is bounded by timeout), then let the cancellation through:
    # the caller learns what the server did (an edit's lease taken, or ended).
    # A second cancellation stops the wait; the request still runs to its end.
    task = asyncio.ensure_future(request)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise
