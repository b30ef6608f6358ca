"""aiokv/redis/client.py: the store's connections, their limit and timeout, and failures' words."""

from __future__ import annotations

import asyncio
import socket

import pytest
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aiokv import ClosedError, UnavailableError
from aiokv.redis import client as client_module
from aiokv.redis.client import Client

WHERE = "redis://127.0.0.1:1/0 (hash 'h')"
FOREVER = 3600  # seconds: a command that never answers
BUSY = 0.1  # seconds each command holding a connection takes


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (RedisTimeoutError("Timeout reading"), "no answer in time (Timeout reading)"),
        (TimeoutError(), "no answer in time (TimeoutError)"),
        (AuthenticationError("invalid password"), "the server refused the credentials"),
        (RedisConnectionError("Connection refused"), "unreachable (Connection refused)"),
        (ConnectionResetError(104, "reset"), "unreachable ([Errno 104] reset)"),
    ],
)
def test_a_failure_s_reason_says_what_happened(error: BaseException, reason: str) -> None:
    assert client_module._reason(error).startswith(reason)


def test_a_server_that_is_not_there_is_unavailable() -> None:
    async def main() -> None:
        url = f"redis://127.0.0.1:{closed_port()}/0"
        client = Client(url, WHERE, ["h", "aiokv-edits:h"], 5.0)
        with pytest.raises(UnavailableError, match=r"^redis://127\.0\.0\.1:1/0 \(hash 'h'\): "):
            await client.call(lambda r: r.ping())
        assert not client.busy
        await client.close()
        assert not client.connected

    asyncio.run(main())


def test_a_closed_client_refuses_and_another_loop_is_refused() -> None:
    client = Client("redis://127.0.0.1:1/0", WHERE, ["h", "aiokv-edits:h"], 5.0)

    async def first() -> None:
        client.redis()  # the loop it belongs to

    async def second() -> None:
        with pytest.raises(RuntimeError, match="belongs to the event loop that first used it"):
            client.redis()
        client.closed = True
        with pytest.raises(ClosedError, match="is closed"):
            client.redis()

    asyncio.run(first())
    asyncio.run(second())


def test_a_command_past_the_connections_waits_for_one_within_the_timeout() -> None:
    async def main() -> None:
        client = Client("redis://127.0.0.1:1/0", WHERE, ["h", "aiokv-edits:h"], 0.5)
        holding = [
            asyncio.ensure_future(client.call(lambda r: asyncio.sleep(FOREVER))) for _ in range(32)
        ]
        await asyncio.sleep(0)
        with pytest.raises(UnavailableError) as waited:
            await client.call(lambda r: asyncio.sleep(0))
        assert str(waited.value) == (
            f"{WHERE}: no answer in time (32 commands were waiting for one for 0.5 s)"
        )
        for task in holding:
            task.cancel()
        await asyncio.wait(holding)
        assert not client.busy
        # A command that got a connection late has what is left of the timeout.
        busy = [
            asyncio.ensure_future(client.call(lambda r: asyncio.sleep(BUSY))) for _ in range(32)
        ]
        await asyncio.sleep(0)
        with pytest.raises(UnavailableError) as late:
            await client.call(lambda r: asyncio.sleep(FOREVER))
        assert str(late.value) == (
            f"{WHERE}: no answer in time (0.5 s, the wait for a connection included)"
        )
        await asyncio.gather(*busy)
        await client.idle()

    asyncio.run(main())
