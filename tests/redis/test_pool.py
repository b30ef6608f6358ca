"""aiokv/redis/pool.py: an idle connection the peer ended, seen on its socket; the client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Callable

import pytest

from aiokv.redis import pool

SETTLE = 0.05  # seconds for a loopback packet to arrive


def ended_after(peer_does: Callable[[socket.socket], None]) -> bool:
    """Whether _ended sees the end of an idle loopback TCP connection after its peer's act.

    The loop does not run between the act and the question: as under a sync
    handler that blocked it, the stream has not read what came.
    """

    async def main() -> bool:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            peer, _ = listener.accept()
            try:
                await asyncio.sleep(SETTLE)  # connected, and idle
                peer_does(peer)
                time.sleep(SETTLE)  # the loop blocked: the act reaches the socket, unread
                return pool._ended(writer.transport)
            finally:
                peer.close()
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    return asyncio.run(main())


def test_an_idle_connection_whose_peer_did_nothing_is_not_ended() -> None:
    assert not ended_after(lambda peer: None)


@pytest.mark.parametrize(
    "act",
    [
        pytest.param(lambda peer: peer.shutdown(socket.SHUT_WR), id="a close (FIN)"),
        pytest.param(
            lambda peer: (
                peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),
                peer.close(),
            ),
            id="a reset (RST)",
        ),
        pytest.param(lambda peer: peer.sendall(b"-ERR\r\n"), id="bytes an idle one never gets"),
    ],
)
def test_an_idle_connection_the_peer_ended_is_ended(act: Callable[[socket.socket], None]) -> None:
    assert ended_after(act)


def test_a_transport_closing_is_ended() -> None:
    async def main() -> None:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            writer.close()
            assert pool._ended(writer.transport)
            await writer.wait_closed()

    asyncio.run(main())


def test_the_client_waits_timeout_to_connect_and_for_each_answer_on_a_pool_that_checks() -> None:
    client = pool.client("redis://127.0.0.1:1/0", 2.5)  # makes no connection yet
    assert type(client.connection_pool) is pool._Pool
    options = client.connection_pool.connection_kwargs
    assert options["socket_timeout"] == options["socket_connect_timeout"] == 2.5
