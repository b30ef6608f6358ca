"""What others do behind the client's back: flush its scripts, close its connections, write."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
import redis

from aiokv import CorruptFileError, UnavailableError
from aiokv.redis import RedisKV
from tests.redis.conftest import need_redis_server
from tests.redis.server import RedisServer, start_tls

FLUSH_EVERY = 0.001  # seconds between another tool's SCRIPT FLUSHes


def test_every_operation_succeeds_while_another_tool_flushes_the_script_cache(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()
    stop = threading.Event()

    def flusher() -> None:
        with redis.Redis(port=own_server.port) as admin:
            while not stop.wait(FLUSH_EVERY):
                admin.script_flush()

    async def main() -> None:
        # A block longer than its lease: its renewals run, and must survive, the
        # flushes too. (A lease of 1 s, renewed every third of it: on a loaded
        # machine a shorter one can lapse while the 20 writers keep the loop busy.)
        async with RedisKV(own_server.url, name=name, edit_lease=1.0) as kv:

            async def edits() -> None:
                for _ in range(3):
                    async with kv.edit("list", []) as value:
                        value.append(1)
                        await asyncio.sleep(1.2)

            async def writes(i: int) -> None:
                for j in range(40):
                    await kv.set(f"k{i}", j)
                    await kv.incr("n")
                    await kv.delete(f"k{i}")

            await asyncio.gather(edits(), *(writes(i) for i in range(20)))
            assert await kv.get("n") == 20 * 40
            assert await kv.get("list") == [1, 1, 1]

    thread = threading.Thread(target=flusher)
    thread.start()
    try:
        asyncio.run(main())
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("tls", [False, True], ids=["redis", "rediss"])
def test_connections_the_server_closed_while_the_loop_was_blocked_are_replaced(
    own_server: RedisServer, name: str, tmp_path: Path, tls: bool
) -> None:
    # The server closes a connection idle for a second; the loop, blocked
    # meanwhile (a sync handler), has not seen the close when it sends next.
    if tls:
        need_redis_server("openssl")
        own_server, url = start_tls(tmp_path / "tls", "--timeout", "1")
    else:
        own_server.options = ("--timeout", "1")
        url = own_server.start().url

    async def burst(kv: RedisKV, value: int) -> None:
        await asyncio.gather(*(kv.set(f"k{i}", value) for i in range(8)))

    async def main() -> None:
        async with RedisKV(url, name=name) as kv:
            await burst(kv, 1)
            time.sleep(2.5)  # blocks the loop
            await burst(kv, 2)
            own_server.stop()  # a restart, the loop blocked all along
            own_server.start()
            await burst(kv, 3)
            assert await kv.get_all() == {f"k{i}": 3 for i in range(8)}

    try:
        asyncio.run(main())
    finally:
        own_server.stop()


def test_the_reserved_key_written_by_another_tool_is_refused_by_listings_and_cleared(
    server: RedisServer, name: str
) -> None:
    with redis.Redis(port=server.port) as other_tool:
        other_tool.hset(name, mapping={"__aiokv__": "1", "a": "2", "ns:b": "3"})

    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            for listing in (kv.keys, kv.get_all):
                with pytest.raises(CorruptFileError, match="'__aiokv__'") as raised:
                    await listing()
                assert name in str(raised.value)
            # A listing its prefix excludes it from does not see it.
            assert await kv.namespace("ns").get_all() == {"b": 3}
            assert await kv.keys("a") == ["a"]
            with pytest.raises(ValueError, match="__aiokv__"):
                await kv.get("__aiokv__")
            await kv.clear()
            assert await kv.get_all() == {}
        with redis.Redis(port=server.port) as other_tool:
            assert not other_tool.exists(name)

    asyncio.run(main())


def test_a_command_that_waited_for_a_connection_has_one_timeout_in_all(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()
    timeout = 2.0

    async def timed(work: Awaitable[Any]) -> float:
        started = time.monotonic()
        with pytest.raises(UnavailableError, match="no answer in time"):
            await work
        return time.monotonic() - started

    async def main() -> None:
        async with RedisKV(own_server.url, name=name, timeout=timeout) as kv:
            await asyncio.gather(*(kv.get("k") for _ in range(40)))  # every connection open
            own_server.pause()
            try:
                busy = [asyncio.ensure_future(timed(kv.get("k"))) for _ in range(32)]
                await asyncio.sleep(timeout / 2)
                # Every connection waits for an answer: this one waits for a
                # connection, then for its answer, within one timeout in all.
                late = await timed(kv.get("k"))
                await asyncio.gather(*busy)
            finally:
                own_server.resume()
            assert late < timeout + timeout / 3, late
            assert await kv.get("k") is None

    asyncio.run(main())


def test_an_edit_cancelled_while_its_lease_request_gets_no_answer_returns_within_the_timeout(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()
    timeout = 2.0

    async def main() -> None:
        kv = RedisKV(own_server.url, name=name, timeout=timeout)
        async with kv:
            await kv.set("x", [])

            async def edit() -> None:
                async with kv.edit("x") as value:
                    value.append(1)

            own_server.pause()
            try:
                editing = asyncio.ensure_future(edit())
                await asyncio.sleep(timeout / 2)  # its lease request is in flight
                cancelled = time.monotonic()
                editing.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await editing
                took = time.monotonic() - cancelled
            finally:
                own_server.resume()
            # Not a timeout for the lease request, then another for its end.
            assert took < timeout, took
        assert own_server.cli("HLEN", f"aiokv-edits:{name}").strip() == "0"
        async with RedisKV(own_server.url, name=name) as again:
            assert await again.get("x") == []

    asyncio.run(main())
