"""aiokv/redis/leases.py: the leases a store's edits hold; an answer awaited through a cancel."""

from __future__ import annotations

import asyncio

import pytest

from aiokv.redis import leases
from aiokv.redis.client import Client

WHERE = "redis://127.0.0.1:1/0 (hash 'h')"
LEASE_MS = 3_600_000  # no renewal comes due during a test
ANSWER = 0.2  # seconds a request takes to answer


def a_client() -> Client:
    """A client that never connects (these tests send nothing)."""
    return Client("redis://127.0.0.1:1/0", WHERE, ["h", "aiokv-edits:h"], 5.0)


def test_a_token_is_new_each_time() -> None:
    tokens = {leases.new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) == 16 and int(t, 16) >= 0 for t in tokens)


async def cancelled(times: int) -> bool:
    """Cancel a caller of uncut() times while its request runs; whether the request had ended."""
    answered = asyncio.Event()

    async def request() -> None:
        await asyncio.sleep(ANSWER)
        answered.set()

    caller = asyncio.ensure_future(leases.uncut(request()))
    for _ in range(times):
        await asyncio.sleep(0)
        caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    ended = answered.is_set()
    await asyncio.wait_for(answered.wait(), 10)  # the request runs to its end anyway
    return ended


def test_a_cancelled_caller_gets_the_request_s_end_then_the_cancellation() -> None:
    assert asyncio.run(cancelled(1))


def test_a_second_cancellation_stops_the_wait_and_the_request_runs_on() -> None:
    assert not asyncio.run(cancelled(2))


def test_the_keys_edited_here_are_the_current_task_s_only() -> None:
    async def main() -> None:
        held = leases.Leases(a_client(), LEASE_MS)

        async def elsewhere() -> list[str]:
            return held.edited_here()

        assert held.edited_here() == [] and len(held) == 0
        renewing = held.taken("k", "token1")
        try:
            assert held.edited_here() == ["k"] and len(held) == 1
            assert await asyncio.ensure_future(elsewhere()) == []
            held.stored("token1")
            assert held.edited_here() == [] and len(held) == 0
        finally:
            renewing.cancel()

    asyncio.run(main())


def test_once_the_connections_are_closed_a_lease_is_left_to_its_deadline() -> None:
    async def main() -> None:
        client = a_client()
        held = leases.Leases(client, LEASE_MS)
        client.redis()
        client.closed = True
        await client.close()
        assert held.end("k", "token1") is None
        assert len(held) == 0 and not held.ending

    asyncio.run(main())
