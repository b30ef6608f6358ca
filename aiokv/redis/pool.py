"""A store's redis-py client: made from a URL on a pool of ours, or the user's own, checked.

A URL's client is redis-py's on a pool that replaces each connection the
peer ended while it sat idle. A client the user gives (Redis, RedisCluster,
or what Sentinel's master_for returns) is used as it is, once checked.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from typing import Any, Union

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.backoff import NoBackoff

# The longest socket timeout a Cluster's nodes or Sentinel's Sentinels may
# have, as a share of the store's timeout.
_SOCKET_SHARE = 0.5
# What RedisKV runs its commands on (Union: a runtime alias, for Python 3.10).
AnyClient = Union[aioredis.Redis, RedisCluster]  # noqa: UP007

# With maintenance notifications on (redis-py's default over RESP3 from 8.1),
# the pool does not check that a connection it hands out has no unread reply.
_POOL_OPTIONS: dict[str, Any] = {}
if "maint_notifications_config" in inspect.signature(aioredis.ConnectionPool).parameters:
    from redis.maint_notifications import MaintNotificationsConfig

    _POOL_OPTIONS["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)


# No retries: a command whose answer was lost may have been
# applied (an incr twice), so a failure is the caller's to see.
_RETRIES = 0


def client(url: str, timeout: float) -> aioredis.Redis:
    """A redis-py client of url on a _Pool: timeout on each connect and command, no retries."""
    pool = _Pool.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), _RETRIES),
        **_POOL_OPTIONS,
    )
    return aioredis.Redis.from_pool(pool)


class _Pool(aioredis.ConnectionPool):
    """redis-py's pool, which replaces a connection the peer ended while it sat idle."""

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        """Reconnect connection if the peer closed or reset it; then redis-py's own checks."""
        # A server's restart, or a proxy's or NAT's timeout, ends idle
        # connections. A command sent on one would fail, after it was sent:
        # whether it was applied, no one could say. redis-py's own check
        # sees unread bytes and, in most versions, a close, but not a reset.
        reader, writer = connection._reader, connection._writer
        if (
            reader is not None
            and writer is not None
            and (reader.at_eof() or reader.exception() or _ended(writer.transport))
        ):
            await connection.disconnect()
        await super().ensure_connection(connection)


def _ended(transport: asyncio.BaseTransport) -> bool:
    # Whether the peer ended the idle connection, asked of its socket: the
    # stream learns of a close only when the loop runs, and a loop blocked
    # meanwhile (a sync handler) would send on the dead socket. An idle RESP
    # connection has nothing to read, so anything readable (a FIN, a reset,
    # a TLS close_notify on the raw socket) ends it.
    if transport.is_closing():
        return True
    sock = transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:
        return False
    # A socket object of our own on its descriptor (asyncio's offers no
    # recv): already non-blocking, so "nothing to read" is BlockingIOError.
    peek = socket.socket(fileno=sock.fileno())
    try:
        peek.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        peek.detach()  # the descriptor stays asyncio's
    return True


def check_given(client: object, timeout: float) -> AnyClient:
    """client, if a store of timeout seconds can run on it; else TypeError or ValueError.

    Each error says what to give instead.
    """
    if not isinstance(client, (aioredis.Redis, RedisCluster)) or isinstance(
        client, (Pipeline, ClusterPipeline)
    ):
        raise TypeError(
            "RedisKV takes a Redis URL or a redis.asyncio client (Redis, RedisCluster, "
            f"or Sentinel(...).master_for(service)), not {type(client).__module__}."
            f"{type(client).__qualname__}"
        )
    pool = getattr(client, "connection_pool", None)
    if isinstance(pool, SentinelConnectionPool) and not pool.is_master:
        raise ValueError(
            f"{describe(client)}: a client of the replicas (slave_for) cannot write: "
            "give RedisKV Sentinel's master_for(service)"
        )
    if retries := _retries(client):
        # A command whose answer was lost may have been applied: sent again,
        # an incr() would count twice and an edit would say it stored nothing.
        raise ValueError(
            f"{describe(client)}: the client resends a command whose answer was lost "
            f"({_times(retries)}: redis-py's clients retry by default), which would count an "
            "incr() twice: give RedisKV one made with retry=Retry(NoBackoff(), 0) "
            "(from redis.asyncio.retry and redis.backoff); it then fails a command "
            "with UnavailableError, never applies it twice"
        )
    if client.get_encoder().decode_responses:
        raise ValueError(
            f"{describe(client)}: the client decodes replies (decode_responses=True); "
            "RedisKV reads the hash's bytes itself: give it one made without"
        )
    for what, kwargs in _finders(client):
        # The store's timeout ends a command from outside, which redis-py takes
        # for a cancellation, not a failure of the node: it would never look
        # for the new primary (a Cluster's), or pass over a Sentinel that
        # stopped answering. Its own socket timeouts, well within the store's,
        # let it.
        longest = timeout * _SOCKET_SHARE
        given = [kwargs.get("socket_timeout"), kwargs.get("socket_connect_timeout")]
        given[1] = given[0] if given[1] is None else given[1]  # as a connection takes them
        if any(t is None or not 0 < t <= longest for t in given):
            raise ValueError(
                f"{describe(client)}: {what} a socket timeout above 0 and at most half the "
                f"store's timeout ({longest:g} s; it has {given[0]}, and {given[1]} to connect), "
                "so that one that stops answering is passed over: make it with "
                f"socket_timeout= and socket_connect_timeout= of at most {longest:g}"
            )
    for sentinel in _sentinels(client):
        if retries := _asked_again(sentinel.connection_pool.connection_kwargs):
            # Each try waits out a silent Sentinel's socket timeout, and the
            # tries' backoff comes on top: redis-py's default before 8.2 (3
            # tries more) held every connection for about 9 s, longer than a
            # store's timeout, so a store never passed over a frozen Sentinel.
            raise ValueError(
                f"{describe(client)}: each Sentinel is asked again when it does not answer "
                f"({_times(retries)}: redis-py's clients of Sentinels retry by default before "
                "8.2), so one that stops answering holds every connection past the store's "
                "timeout: make the Sentinel with sentinel_kwargs={'retry': "
                "Retry(NoBackoff(), 0), 'socket_timeout': ..., 'socket_connect_timeout': ...}"
            )
    return client


def _finders(client: AnyClient) -> list[tuple[str, dict[str, Any]]]:
    # The connections that find the primary, each with its keyword arguments:
    # a Cluster's nodes, or Sentinel's Sentinels (a plain client has none).
    if isinstance(client, RedisCluster):
        return [("the cluster client needs", client.get_connection_kwargs())]
    return [
        ("each Sentinel needs", sentinel.connection_pool.connection_kwargs)
        for sentinel in _sentinels(client)
    ]


def _sentinels(client: AnyClient) -> list[aioredis.Redis]:
    # The clients of the Sentinels that find client's primary (none but for master_for's).
    pool = getattr(client, "connection_pool", None)
    if isinstance(pool, SentinelConnectionPool):
        return list(pool.sentinel_manager.sentinels)
    return []


def _retries(client: AnyClient) -> int:
    # How many times client resends a command that failed on its connection.
    if isinstance(client, RedisCluster):
        # Its nodes' connections never retry: the cluster client does.
        return int(client.retry.get_retries())
    return _asked_again(client.connection_pool.connection_kwargs)


def _times(retries: int) -> str:
    # A retry count as messages say it (redis-py takes -1 for no end).
    return "retries forever" if retries < 0 else f"{retries} retr{'y' if retries == 1 else 'ies'}"


def _asked_again(kwargs: dict[str, Any]) -> int:
    # As a redis-py connection decides from its keyword arguments: a retry
    # policy's count; retry_on_error (or on timeout) alone, once; else none.
    if (retry := kwargs.get("retry")) is not None:
        return int(retry.get_retries())
    return 1 if kwargs.get("retry_on_error") or kwargs.get("retry_on_timeout") else 0


def read_timeout(client: AnyClient) -> float | None:
    """How long client waits for an answer before its connection gives up (None: for ever)."""
    timeout = client.get_connection_kwargs().get("socket_timeout")
    return None if timeout is None else float(timeout)


def db(client: AnyClient) -> str:
    """The DB client selects ("0" for a cluster, which has no other)."""
    return str(client.get_connection_kwargs().get("db") or 0)


def has_password(client: AnyClient) -> bool:
    """Whether client sends credentials: a password, or a provider of them."""
    kwargs = client.get_connection_kwargs()
    return bool(kwargs.get("password") or kwargs.get("credential_provider"))


def describe(client: AnyClient) -> str:
    """Where client connects, as messages name it: never a password."""
    if isinstance(client, RedisCluster):
        # The first node it knows (the list grows as it learns the cluster's).
        nodes = sorted(getattr(client.nodes_manager, "startup_nodes", {}))
        return f"Redis Cluster at {nodes[0] if nodes else 'no node yet'}"
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        return f"Sentinel service {pool.service_name!r}"
    kwargs = pool.connection_kwargs
    db = kwargs.get("db") or 0
    if issubclass(pool.connection_class, UnixDomainSocketConnection):
        return f"unix://{kwargs.get('path')}?db={db}"
    scheme = "rediss" if issubclass(pool.connection_class, SSLConnection) else "redis"
    return f"{scheme}://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"
