"""The store's connections to its server: 32 at most, on one loop, each command within timeout.

Every command goes through Client.call(), which bounds it (the wait for a
free connection included) and says a failure as aiokv's errors:
UnavailableError for a server (or cluster) out of reach, silent or
reconfiguring, AioKVError for one that refused. With replicas, a write
script is followed by WAIT on its connection (replicated.py).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from redis.exceptions import (
    AskError,
    AuthenticationError,
    ClusterError,
    InvalidResponse,
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import AioKVError, ClosedError, UnavailableError, foreign_loop
from . import pool, replicated, scripts, urls
from .pool import AnyClient

_T = TypeVar("_T")
_CONNECTIONS = 32  # a client's connections to the server, at most
_NO_SUCH_DB = "DB index is out of range"  # the server's words for a SELECT of a DB it lacks
# A cluster's refusals of a command it did not apply, for a moment: a slot
# moving (TRYAGAIN, or redirects past redis-py's limit: "TTL exhausted"), a
# primary being elected (CLUSTERDOWN, a slot no node serves).
_MOMENTARY = (TryAgainError, ClusterError, SlotNotCoveredError)
_MOMENT = 0.05  # seconds between the tries of a command the cluster refused for a moment
# The failures to reach a node (its credentials refused included, as for one
# server) behind redis-py's cluster client giving up learning the slots.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


# What redis-py and asyncio say when a client is used on a loop other than its
# own: "... attached to a different loop", "Event loop is closed", or, once
# the closed loop's transport is closed too, "... the handler is closed".
_FOREIGN_LOOP = ("loop", "the handler is closed")


class Client:
    """The connections of one store, made on first use, on the loop that first used them."""

    def __init__(
        self,
        source: str | AnyClient,
        where: str,
        keys: list[str],
        timeout: float,
        *,
        replicas: int = 0,
        on_disk: bool = False,
        close_given: bool = False,
    ) -> None:
        """source: a URL, or a checked client of the user's (closed only if close_given).

        where: the store as messages name it; keys: every script's KEYS;
        replicas: how many replicas must confirm each write script (on_disk:
        in their append-only files).
        """
        given = not isinstance(source, str)
        self._url = "" if given else cast("str", source)
        self._given = cast("AnyClient", source) if given else None
        self._close_given = close_given
        self._where = where
        self._keys = keys
        self._timeout = timeout
        self._replicas = replicas
        self._on_disk = on_disk
        self._wait_checked = False  # whether the server was found to wait as asked
        # How long a write's WAIT may take: within the store's timeout, and
        # within a client given's socket timeout, which would cut a longer one
        # short (an UnavailableError, where NotReplicatedError says more).
        read = None if self._given is None else pool.read_timeout(self._given)
        self._wait_window = timeout if read is None else min(timeout, read)
        self.closed = False  # set by the store's aclose(): every command from then on is refused
        self._redis: AnyClient | None = None
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
        """Whether there is a client to close: one made (and not yet closed), or one given to."""
        return self._redis is not None or (self._close_given and not self.gone)

    @property
    def busy(self) -> bool:
        """Whether a command is under way, or waiting for a connection."""
        return bool(self._calls)

    async def idle(self) -> None:
        """Return once no command is under way."""
        await self._quiet.wait()

    async def close(self) -> None:
        """Close the connections (once no command is under way: one closed under it would fail).

        A client the user gave is left open, unless close_given.
        """
        client, self._redis = self._redis, None
        self.gone = True
        if self._given is not None and not self._close_given:
            return
        client = client or self._given
        if client is not None:
            await client.aclose()

    def check_loop(self) -> None:
        """Refuse (RuntimeError) a loop other than the one the connections use, if any."""
        if self._loop not in (None, asyncio.get_running_loop()):
            raise foreign_loop(self._where, kind="RedisKV")

    async def script(
        self, name: str, *args: str | bytes, closing: bool = False, wait: bool = True
    ) -> Any:
        """Run the script called name; closing: on a store closing's connections too.

        wait=False: acknowledged by the primary alone, whatever
        replicas= says (a write whose loss in a failover is harmless).
        """
        client = (self._redis if closing else None) or self.redis()
        keys = self._keys
        if self._replicas and wait:
            replicas, where, window, on_disk = (
                self._replicas, self._where, self._wait_window, self._on_disk
            )  # fmt: skip
            if not self._wait_checked:  # each write that starts before the first answer asks
                await self.call(
                    lambda c: replicated.check_wait(c, where, keys[0], on_disk), client
                )
                self._wait_checked = True
            return await self.call(
                lambda c: replicated.run(c, where, name, keys, args, replicas, window, on_disk),
                client,
            )
        try:
            return await self.call(
                lambda c: c.evalsha(scripts.SHAS[name], len(keys), *keys, *args), client
            )
        except NoScriptError:
            # The server restarted or flushed its script cache: EVAL sends the
            # body, which runs (and caches it) even if another flush comes
            # between, where a SCRIPT LOAD then EVALSHA would fail again.
            return await self.call(
                lambda c: c.eval(scripts.SCRIPTS[name], len(keys), *keys, *args), client
            )

    def redis(self) -> AnyClient:
        """The client of the connections (made now if need be), unless the store is closed."""
        if self.closed:
            raise ClosedError(self._where, "is closed", kind="RedisKV")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self.check_loop()
        if self._redis is None:
            self._redis = self._given or pool.client(self._url, self._timeout)
        return self._redis

    async def call(
        self, command: Callable[[AnyClient], Awaitable[_T]], client: AnyClient | None = None
    ) -> _T:
        """command(client)'s answer, within timeout; its failure as UnavailableError or AioKVError.

        client: the store's (refused once it is closed) unless given. A
        cluster that refuses a command for a moment, unapplied (a slot
        moving, a primary being elected), is asked again within timeout.
        ValueError for a DB the server lacks: the URL is wrong for that server.
        """
        client = client or self.redis()
        self._calls += 1
        self._quiet.clear()
        try:
            deadline = time.monotonic() + self._timeout
            # The time left of timeout, for a command that waited for a
            # connection; all of it on a client given, whose own socket
            # timeouts may be none.
            left = None if self._given is None else self._timeout
            if self._slots.locked():
                left = await self._wait_for_a_slot()
            else:
                await self._slots.acquire()  # at once
            try:
                while True:
                    try:
                        return await self._answer(command(client), left)
                    except _MOMENTARY as e:
                        left = deadline - time.monotonic() - _MOMENT
                        if left <= 0:
                            raise UnavailableError(
                                self._where, f"the cluster is reconfiguring ({e})"
                            ) from e
                        await asyncio.sleep(_MOMENT)
            finally:
                self._slots.release()
        finally:
            self._calls -= 1
            if not self._calls:
                self._quiet.set()

    async def _answer(self, command: Awaitable[_T], left: float | None) -> _T:
        # command's answer within left seconds (None: its socket's timeout),
        # its failure said as aiokv's errors; a momentary refusal as it is.
        try:
            return await (command if left is None else _within(command, left))
        except (NoScriptError, UnavailableError, *_MOMENTARY):  # UnavailableError: already said
            raise
        except asyncio.TimeoutError:  # what was left of timeout ran out
            raise UnavailableError(
                self._where,
                f"no answer in time ({self._timeout:g} s, the wait for a connection included)",
            ) from None
        except (RedisConnectionError, RedisTimeoutError, OSError) as e:
            if self._given is not None:
                password, giver = pool.has_password(self._given), "the client"
            else:
                password, giver = urls.has_password(self._url), "the URL"
            raise UnavailableError(self._where, _reason(e, password, giver)) from e
        except RedisClusterException as e:
            cause = e.__cause__
            if isinstance(cause, _UNREACHABLE):
                # No node the client knows answered its ask for the slots, or
                # each refused its credentials (redis-py says it with this, not
                # a ConnectionError): as a server that refuses connections.
                password = self._given is not None and pool.has_password(self._given)
                raise UnavailableError(self._where, _reason(cause, password, "the client")) from e
            raise AioKVError(f"{self._where}: the cluster refused: {e}") from e
        except RedisError as e:
            if isinstance(e, InvalidResponse):  # bytes that are not RESP: another service's
                raise UnavailableError(
                    self._where,
                    f"not a Redis server (its answer is not Redis's protocol: {e})",
                ) from e
            if isinstance(e, ResponseError) and _NO_SUCH_DB in str(e):
                # The connect's SELECT: the URL (or client) names a DB this server lacks.
                db = urls.db(self._url) if self._given is None else pool.db(self._given)
                raise ValueError(f"{self._where}: the server has no DB {db} (it said: {e})") from e
            raise AioKVError(f"{self._where}: the server refused: {e}{_hint(e)}") from e
        except RuntimeError as e:
            if self._given is None or not any(words in str(e) for words in _FOREIGN_LOOP):
                raise
            raise RuntimeError(
                f"RedisKV({self._where!r}): the client given belongs to another event loop "
                f"({e}): make the client on the loop that uses the store"
            ) from e

    async def _wait_for_a_slot(self) -> float:
        # Every connection is busy: wait for one within timeout, and return
        # what is left of it for the answer. One deadline for the operation:
        # else a burst at a server that stopped answering would wait a
        # timeout for a connection, then another for the answer.
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._slots.acquire(), self._timeout)
        except asyncio.TimeoutError:
            raise UnavailableError(
                self._where,
                f"no answer in time ({_CONNECTIONS} commands were waiting for one "
                f"for {self._timeout:g} s)",
            ) from None
        return self._timeout - (time.monotonic() - started)


if sys.version_info >= (3, 11):

    async def _within(command: Awaitable[_T], seconds: float) -> _T:
        """command's answer, or TimeoutError after seconds."""
        # A timeout on the task itself: wait_for's task of its own, per
        # command, would cost a client given about a tenth of a round trip.
        async with asyncio.timeout(seconds):
            return await command

else:  # pragma: no cover - Python 3.10

    async def _within(command: Awaitable[_T], seconds: float) -> _T:
        """command's answer, or TimeoutError after seconds."""
        return await asyncio.wait_for(_seen(command), seconds)


def _seen(command: Awaitable[_T]) -> asyncio.Future[_T]:
    """command in a task whose failure is taken as seen, for wait_for to bound.

    Before Python 3.12, wait_for cancelled while its command fails (a call
    cancelled as a failover refuses its connection) never reads the failure,
    and asyncio logs "Task exception was never retrieved" with its traceback.
    """
    task = asyncio.ensure_future(command)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return task


def _hint(e: RedisError) -> str:
    # What a refusal means when it is the server that is wrong for a store.
    if isinstance(e, AskError):  # MOVED too: a node of a cluster, asked as one server
        return ": the server is a node of a Redis Cluster: give RedisKV a RedisCluster"
    if "unknown command" in str(e):
        return (
            ": is it a Sentinel? RedisKV runs on the primary: give it "
            "Sentinel(...).master_for(service)"
        )
    return ""


def _reason(e: BaseException, password: bool = True, giver: str = "the URL") -> str:
    # password: whether giver (the URL, or the client given) has one (the
    # server's words for none given are HELLO's or NOAUTH's, which say
    # nothing of where one goes).
    text = str(e) or type(e).__name__
    if isinstance(e, (RedisTimeoutError, TimeoutError)):
        return f"no answer in time ({text})"
    if isinstance(e, AuthenticationError) and not password:
        where = (
            "give it as redis://:PASSWORD@HOST/DB (unix:// as ?password=), or to the "
            "aiokv command in AIOKV_REDIS_PASSWORD"
            if giver == "the URL"
            else "make the client with password= (or a credential_provider)"
        )
        return f"the server wants a password, and {giver} gives none ({text}): {where}"
    if isinstance(e, AuthenticationError):
        return f"the server refused the credentials ({text})"
    return f"unreachable ({text})"
