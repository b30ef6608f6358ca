"""The client's pool: redis-py's, replacing each connection the peer ended while it sat idle."""

from __future__ import annotations

import asyncio
import inspect
import socket
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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
