"""RedisKV: the store's API on one Redis hash, and its lifecycle: open, aclose, flush.

Every operation is a round trip to the server: there is no local copy, so
no stale read, and no owner lock. A store is one hash (its name); each key a
field, each value its JSON text (`redis-cli HGETALL mybot` is readable).
Every write is one Lua script (scripts.py), so it is atomic; an edit() holds
its key with a lease (leases.py), which the writes of its key wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

import orjson
from redis.asyncio.cluster import RedisCluster

from .. import api, codec
from ..api import StoreBase
from ..errors import AioKVError, ClosedError, NotReplicatedError, UnavailableError, shown_url
from . import fields, leases, pool, replicated, scripts, urls
from .client import Client
from .pool import AnyClient
from .writes import Writes

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # HINCRBY's range
_SCAN_COUNT = 1000  # fields a HSCAN call visits: bounds each call's time on the server
_SHORTEST_LEASE_MS = 1  # an edit_lease below a millisecond gets one
# A write that meets an edit of its keys waits this long, then twice as long
# each time, up to _LONGEST_PAUSE, and never past the edit's lease.
_FIRST_PAUSE = 0.001  # seconds
_PAUSE_GROWTH = 2
_LONGEST_PAUSE = 0.05  # seconds


class RedisKV(StoreBase):
    """The store's async API on one Redis hash, shared by every process that names it."""

    def __init__(
        self,
        url: str | AnyClient,
        name: str,
        *,
        timeout: float = 5.0,
        edit_lease: float = 10.0,
        replicas: int = 0,
        on_disk: bool = False,
        close_client: bool = False,
    ) -> None:
        """url: redis://, rediss:// or unix:// (a password in it is never shown); name: the hash.

        url may instead be a redis.asyncio client you made: Redis, RedisCluster,
        or Sentinel(...).master_for(service), with retry=Retry(NoBackoff(), 0)
        (else ValueError: a command whose answer was lost would be resent); a
        RedisCluster, and Sentinel's Sentinels (sentinel_kwargs, no retries
        either), with socket timeouts of at most half of timeout.
        aclose() leaves it open unless close_client. replicas: a write is
        acknowledged once that many replicas have it (WAIT), else
        NotReplicatedError; on_disk: in their append-only files (WAITAOF:
        Redis 7.2+ or Valkey). A name cannot start with "aiokv-edits:".

        A URL with an "@" after its host is refused (ValueError): percent-encode
        "/", "?", "#" and "@" in a user or password. So is one that redis-py
        would misread: a path other than /DB (digits), a unix:// path that is
        not absolute, a query parameter given twice or that a connection does
        not take. timeout: seconds an unanswered connect or command waits
        before the operation raises UnavailableError (a command's wait for a
        free connection, when all are busy, included). edit_lease: seconds an
        edit() holds its key without a renewal (renewed every third of it
        while the block runs), so a process that dies mid-edit blocks that
        key's writes this long at most.
        """
        name = codec.plain_str(name, "store names")
        if not name:
            raise ValueError("a RedisKV name cannot be empty")
        if fields.utf8(name) is None:
            raise ValueError(f"a RedisKV name cannot hold a lone surrogate: {name!r}")
        if name.startswith(scripts.EDITS):
            raise ValueError(
                f"a RedisKV name cannot start with {scripts.EDITS!r}: every store's edit "
                f"leases live under that prefix ({name!r})"
            )
        for what, value in (("timeout", timeout), ("edit_lease", edit_lease)):
            if type(value) not in (int, float) or not 0 < value < float("inf"):
                raise ValueError(f"RedisKV {what} must be a positive number, not {value!r}")
        replicated.check(replicas, on_disk)
        if isinstance(url, str):
            urls.check(url)  # at construction: a URL redis-py would misread opens no other DB
            self._shown = shown_url(url)
        else:
            url = pool.check_given(url, float(timeout))
            self._shown = pool.describe(url)
        self._where = f"{self._shown} (hash {name!r})"
        self._name = name
        self._timeout = float(timeout)
        self._lease_ms = max(_SHORTEST_LEASE_MS, round(edit_lease * scripts.MS_PER_S))
        self._client = Client(
            url,
            self._where,
            scripts.keys(name, cluster=isinstance(url, RedisCluster)),
            self._timeout,
            replicas=replicas,
            on_disk=on_disk,
            close_given=bool(close_client),
        )
        self._closing: asyncio.Future[None] | None = None
        self._writes = Writes()  # the writes under way, for flush() and aclose()
        self._leases = leases.Leases(self._client, self._lease_ms)  # this client's edit leases

    @property
    def name(self) -> str:
        """The Redis hash that holds the store."""
        return self._name

    @property
    def url(self) -> str:
        """The server's URL without its password (for a client given: where it connects)."""
        return self._shown

    def __repr__(self) -> str:
        """Show the server (no password), the hash and whether the store is closed."""
        state = "closed" if self._client.closed else "open"
        return f"<RedisKV {self.url} name={self._name!r} {state}>"

    async def __aenter__(self) -> RedisKV:
        """Connect: UnavailableError now if the server cannot be reached (or is not Redis).

        ValueError if the server has no DB of the URL's number.
        """
        # A read of the store's own key: on a cluster, its node is asked.
        await self._client.call(lambda r: r.exists(self._name))
        return self

    async def aclose(self) -> None:
        """Wait for this client's calls under way (writes and reads), then close its connections.

        From its owner loop only (as AioKV's): from another, RuntimeError and
        the store stays open. A second call waits for the first; once closed, it
        does nothing.
        """
        if self._closing is None and self._client.connected:
            self._client.check_loop()
            self._closing = asyncio.ensure_future(self._close())
        self._client.closed = True
        if self._closing is not None and not self._closing.done():
            self._client.check_loop()
            # Shielded: a caller cancelled meanwhile leaves the close to finish.
            await asyncio.shield(self._closing)

    async def _close(self) -> None:
        await self._writes.settled()  # their errors are their callers'
        # Edits under way end with ClosedError; free their keys for other
        # processes now rather than at their leases' end.
        self._leases.end_all()
        # Then every command under way (a lease's end, with those the edits
        # ended themselves meanwhile, a read) ends on its connection before the
        # connections close: closed under it, it would fail for the close alone.
        while self._leases.ending or self._client.busy:
            if self._leases.ending:
                await asyncio.wait(list(self._leases.ending))
            else:
                await self._client.idle()
        # An edit ending from now on leaves its lease to its deadline.
        await self._client.close()

    # -- reading --------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        """Return the value stored at key, or default."""
        key = api.key(key)
        raw = await self._client.call(lambda r: r.hget(self._name, key))
        return default if raw is None else self._decode(key, cast("bytes", raw))

    async def has(self, key: str) -> bool:
        """Return whether key is stored."""
        key = api.key(key)
        return bool(await self._client.call(lambda r: r.hexists(self._name, key)))

    async def keys(self, prefix: str = "") -> list[str]:
        """Return the stored keys that start with prefix, in the hash's order."""
        return list(await self._scan(prefix))

    async def get_all(self, prefix: str = "") -> dict[str, Any]:
        """Return the keys that start with prefix and their values.

        Read by HSCAN, a bounded slice at a time: a hash of up to
        hash-max-listpack-entries fields (128 by default) comes in one reply,
        a snapshot; a bigger one is not a snapshot of one instant.
        """
        return {key: self._decode(key, raw) for key, raw in (await self._scan(prefix)).items()}

    async def _scan(self, prefix: str) -> dict[str, bytes]:
        prefix = codec.plain_str(prefix, "prefixes")
        self._client.redis()  # a closed store refuses, as AioKV's does
        match = fields.utf8(fields.glob_escape(prefix) + "*")
        found: dict[str, bytes] = {}
        if match is None:
            return found  # a lone surrogate: no key holds one
        cursor = 0
        while True:
            # Each page asks for the client anew: once aclose() begins, the next is refused.
            cursor, page = await self._client.call(self._page(cursor, match))
            for field, raw in cast("dict[bytes, bytes]", page).items():
                # A field may come twice: once here.
                found[fields.key_of(self._where, field)] = raw
            if cursor == 0:
                return found

    def _page(self, cursor: int, match: bytes) -> Callable[[AnyClient], Awaitable[Any]]:
        # The HSCAN call for the page at cursor, on whichever client runs it.
        return lambda r: r.hscan(self._name, cursor, match=match, count=_SCAN_COUNT)

    # -- writing --------------------------------------------------------------

    async def set(self, key: str, value: Any = codec.NOW) -> None:
        """Store value at key; with no value, store int(time.time())."""
        key = api.key(key)
        await self._write([key], "set", key, orjson.dumps(api.value(value, key)))

    async def update(self, mapping: Mapping[str, Any]) -> None:
        """Store every key of mapping at once: all of them or, on a bad one, none."""
        accepted = api.accepted(mapping)
        args: list[str | bytes] = []
        for key, value in accepted.items():
            args += (key, orjson.dumps(value))
        if accepted:
            await self._write(list(accepted), "update", *args)

    async def incr(self, key: str, by: int | float = 1) -> int | float:
        """Add by to the number at key (absent counts as 0) and return the result.

        Exact, as AioKV.incr: integers to 64 bits, floats as Python adds them.
        """
        key = api.key(key)
        api.check_by(key, by)
        while True:
            if type(by) is int and _INT64_MIN <= by <= _INT64_MAX:
                reply = await self._write([key], "incr", key, str(by))
                if type(reply) is not list:
                    return int(reply)
                (raw,) = reply
            else:
                raw = await self._client.call(lambda r: r.hget(self._name, key))
            current = codec.MISSING if raw is None else self._decode(key, raw)
            result = api.incremented(key, current, by)
            expected = () if raw is None else (raw,)
            [swapped] = await self._write([key], "swap", key, orjson.dumps(result), *expected)
            if swapped:
                return result
            # Another process changed the value between the read and the swap.

    async def delete(self, key: str) -> bool:
        """Remove key (present or not); True."""
        key = api.key(key)
        await self._write([key], "delete", key)
        return True

    async def clear(self, prefix: str = "") -> bool:
        """Remove every key that starts with prefix (every key by default) at once; True.

        Edits under way of those keys finish first. One script: the server
        spends a pass over the hash on a prefix (the whole hash is unlinked).
        """
        prefix = codec.plain_str(prefix, "prefixes")
        for edited in self._leases.edited_here():
            if edited.startswith(prefix):
                raise api.editing_itself(edited)
        encoded = fields.utf8(prefix)
        if encoded is None:
            self._client.redis()  # a closed store refuses, as AioKV's does
            return True  # a lone surrogate: no key holds one
        await self._write([], "clear", encoded)
        return True

    def edit(self, key: str, default: Any = codec.MISSING) -> AbstractAsyncContextManager[Any]:
        """Change the dict or list at key in place: `async with kv.edit(key, []) as v:`.

        The block gets a copy of the value (or of default, when key is
        absent), stored when the block ends normally; if it raises, nothing
        is stored. While it runs, writes to key from any process wait, so no
        update is lost. If the block outlives its lease (no renewal reached
        the server for edit_lease seconds: the server was out of reach, or
        the loop was blocked), nothing is stored and AioKVError says so.
        """
        return self._edit(key, default)

    @contextlib.asynccontextmanager
    async def _edit(self, key: str, default: Any) -> AsyncIterator[Any]:
        key = api.key(key)
        token = leases.new_token()
        deadline = time.monotonic() + self._timeout  # for the lease's end, on a failure
        try:
            [raw] = await self._write(
                [key], "begin_edit", key, token, str(self._lease_ms), uncut=True
            )
        except ClosedError:
            raise  # refused before any request
        except NotReplicatedError as e:  # the lease is on the primary alone
            # The server answers: the lease is ended before the edit returns.
            await self._leases.free(key, token, within=deadline - time.monotonic())
            raise leases.unconfirmed(self._where, key, e) from e
        except UnavailableError:
            # The answer was lost: the lease may be taken. End it without
            # keeping the caller past its timeout.
            self._leases.end(key, token)
            raise
        except AioKVError:
            # The script failed half-way: the lease may be taken.
            await self._leases.free(key, token)
            raise
        except asyncio.CancelledError:
            # Cancelled (once the request in flight had its answer: uncut): the
            # lease may be taken. Its end gets what is left of the timeout, so
            # the edit returns within it even from a server that stopped
            # answering; beyond, the end goes on in its task.
            await self._leases.free(key, token, within=deadline - time.monotonic())
            raise
        renewing = self._leases.taken(key, token)
        stored = unanswered = False
        try:
            stored_value = codec.MISSING if raw is None else self._decode(key, raw)
            current = api.editable(key, stored_value, default)
            yield current
            value = orjson.dumps(codec.accept(current, key))
            try:
                [stored] = await self._write([], "end_edit", key, token, value)
            except UnavailableError:
                unanswered = True
                raise
            if not stored:
                raise AioKVError(
                    f"{self._where}: edit({key!r}) outlived its lease of {self._lease_ms} ms "
                    "(no renewal reached the server in time); nothing was stored"
                )
        finally:
            renewing.cancel()
            if stored:
                self._leases.stored(token)
            elif unanswered:
                # The store's call used the timeout up: the lease's end goes on
                # in its task (aclose() waits for it), or at its deadline.
                self._leases.end(key, token)
            else:
                await self._leases.free(key, token)

    async def flush(self) -> None:
        """Return once every write this client began before the call is acknowledged.

        The server then holds them (with replicas=N, N replicas too); how
        durably is its persistence setting's say (appendfsync always: on
        disk; everysec: within about a second). If one of them failed instead
        (it raised to its caller too), raise: UnavailableError when each
        failure was one (a NotReplicatedError included), else AioKVError. A
        write its caller cancelled is its caller's to know of.
        """
        self._client.redis()  # a closed store refuses, as AioKV's does
        if errors := await self._writes.settled():
            problem = (
                f"{len(errors)} of the writes under way when flush() was called "
                f"failed (the first: {errors[0]})"
            )
            if all(isinstance(e, UnavailableError) for e in errors):
                raise UnavailableError(self._where, problem) from errors[0]
            raise AioKVError(f"{self._where}: {problem}") from errors[0]

    # -- the server -----------------------------------------------------------

    async def _write(
        self, keys: list[str], script: str, *args: str | bytes, uncut: bool = False
    ) -> Any:
        # A write script, run until no edit of another task holds its keys;
        # uncut: a cancellation waits for the answer of the request in flight.
        if busy := [k for k in self._leases.edited_here() if k in keys]:
            raise api.editing_itself(busy[0])
        number = self._writes.begin()
        error: Exception | None = None
        try:
            pause = _FIRST_PAUSE
            while True:
                request = self._client.script(script, *args)
                reply = await (leases.uncut(request) if uncut else request)
                if type(reply) is not int or reply <= 0:
                    return reply
                # An edit holds a key: wait for it, at most until its lease ends.
                await asyncio.sleep(min(pause, reply / scripts.MS_PER_S))
                pause = min(pause * _PAUSE_GROWTH, _LONGEST_PAUSE)
        except Exception as e:
            error = e
            raise
        finally:
            self._writes.ended(number, error)

    def _decode(self, key: str, raw: bytes) -> Any:
        # What another tool wrote at key may be what no store can hold: refused.
        return fields.decode(self._where, key, raw)
