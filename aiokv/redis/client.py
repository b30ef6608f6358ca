"""The store's connections to its server: 32 at most, on one loop, each command within timeout.

Every command goes through Client.call(), which bounds it (the wait for a
free connection included) and says a failure as aiokv's errors:
UnavailableError for a server out of reach or silent, AioKVError for one
that refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import (
    AuthenticationError,
    InvalidResponse,
    NoScriptError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import AioKVError, ClosedError, UnavailableError, foreign_loop
from . import pool, scripts, urls

_T = TypeVar("_T")
_CONNECTIONS = 32  # a client's connections to the server, at most
_NO_SUCH_DB = "DB index is out of range"  # the server's words for a SELECT of a DB it lacks


class Client:
    """The connections of one store, made on first use, on the loop that first used them."""

    def __init__(self, url: str, where: str, keys: list[str], timeout: float) -> None:
        """url: the server; where: the store as messages name it; keys: every script's KEYS."""
        self._url = url
        self._where = where
        self._keys = keys
        self._timeout = timeout
        self.closed = False  # set by the store's aclose(): every command from then on is refused
        self._redis: aioredis.Redis | None = None
        self.gone = False  # set by close(): the connections are closed, for good
        # At most _CONNECTIONS commands at once: a gather() of a thousand
        # writes does not open a thousand sockets.
        self._slots = asyncio.Semaphore(_CONNECTIONS)
        self._calls = 0  # commands under way, or waiting for a connection
        self._quiet = asyncio.Event()  # set while no command is
        self._quiet.set()
        self._loop: asyncio.AbstractEventLoop | None = None  # the one its connections use

    @property
    def connected(self) -> bool:
        """Whether its connections' client is made (and not yet closed)."""
        return self._redis is not None

    @property
    def busy(self) -> bool:
        """Whether a command is under way, or waiting for a connection."""
        return bool(self._calls)

    async def idle(self) -> None:
        """Return once no command is under way."""
        await self._quiet.wait()

    async def close(self) -> None:
        """Close the connections (once no command is under way: one closed under it would fail)."""
        client, self._redis = self._redis, None
        self.gone = True
        if client is not None:
            await client.aclose()

    def check_loop(self) -> None:
        """Refuse (RuntimeError) a loop other than the one the connections use."""
        if self._loop is not asyncio.get_running_loop():
            raise foreign_loop(self._where, kind="RedisKV")

    async def script(self, name: str, *args: str | bytes, closing: bool = False) -> Any:
        """Run the script called name; closing: on the connections of a store closing, too."""
        client = (self._redis if closing else None) or self.redis()
        try:
            return await self.call(
                client.evalsha(scripts.SHAS[name], len(self._keys), *self._keys, *args)
            )
        except NoScriptError:
            # The server restarted or flushed its script cache: EVAL sends the
            # body, which runs (and caches it) even if another flush comes
            # between, where a SCRIPT LOAD then EVALSHA would fail again.
            return await self.call(
                client.eval(scripts.SCRIPTS[name], len(self._keys), *self._keys, *args)
            )

    def redis(self) -> aioredis.Redis:
        """The client of the connections (made now if need be), unless the store is closed."""
        if self.closed:
            raise ClosedError(self._where, "is closed", kind="RedisKV")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self.check_loop()
        if self._redis is None:
            self._redis = pool.client(self._url, self._timeout)
        return self._redis

    async def call(self, command: Awaitable[_T]) -> _T:
        """command's answer, within timeout; its failure as UnavailableError or AioKVError.

        ValueError for a DB the server lacks: the URL is wrong for that server.
        """
        self._calls += 1
        self._quiet.clear()
        try:
            left = None  # the time left of timeout, for a command that waited for a connection
            if self._slots.locked():
                left = await self._wait_for_a_slot(command)
            else:
                await self._slots.acquire()  # at once
            try:
                return await (command if left is None else asyncio.wait_for(command, left))
            except NoScriptError:
                raise
            except asyncio.TimeoutError:  # what was left of timeout ran out
                raise UnavailableError(
                    self._where,
                    f"no answer in time ({self._timeout:g} s, the wait for a connection included)",
                ) from None
            except (RedisConnectionError, RedisTimeoutError, OSError) as e:
                raise UnavailableError(
                    self._where, _reason(e, urls.has_password(self._url))
                ) from e
            except RedisError as e:
                if isinstance(e, InvalidResponse):  # bytes that are not RESP: another service's
                    raise UnavailableError(
                        self._where,
                        f"not a Redis server (its answer is not Redis's protocol: {e})",
                    ) from e
                if isinstance(e, ResponseError) and _NO_SUCH_DB in str(e):
                    # The connect's SELECT: the URL names a DB this server lacks.
                    raise ValueError(
                        f"{self._where}: the server has no DB {urls.db(self._url)} (it said: {e})"
                    ) from e
                raise AioKVError(f"{self._where}: the server refused: {e}") from e
            finally:
                self._slots.release()
        finally:
            self._calls -= 1
            if not self._calls:
                self._quiet.set()

    async def _wait_for_a_slot(self, command: Awaitable[Any]) -> float:
        # Every connection is busy: wait for one within timeout, and return
        # what is left of it for the answer. One deadline for the operation:
        # else a burst at a server that stopped answering would wait a
        # timeout for a connection, then another for the answer.
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._slots.acquire(), self._timeout)
            return self._timeout - (time.monotonic() - started)
        except BaseException as e:
            cast("Coroutine[Any, Any, Any]", command).close()  # never sent
            if isinstance(e, asyncio.TimeoutError):
                raise UnavailableError(
                    self._where,
                    f"no answer in time ({_CONNECTIONS} commands were waiting for one "
                    f"for {self._timeout:g} s)",
                ) from None
            raise


def _reason(e: BaseException, password: bool = True) -> str:
    # password: whether the URL gives one (the server's words for none given
    # are HELLO's or NOAUTH's, which say nothing of where one goes).
    text = str(e) or type(e).__name__
    if isinstance(e, (RedisTimeoutError, TimeoutError)):
        return f"no answer in time ({text})"
    if isinstance(e, AuthenticationError) and not password:
        return (
            f"the server wants a password, and the URL gives none ({text}): give it "
            "as redis://:PASSWORD@HOST/DB (unix:// as ?password=), or to the aiokv "
            "command in AIOKV_REDIS_PASSWORD"
        )
    if isinstance(e, AuthenticationError):
        return f"the server refused the credentials ({text})"
    return f"unreachable ({text})"
