"""aiokv/turns.py: edit turns as a room, driven by tasks without a store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from aiokv.turns import EditTurns


async def nothing() -> None:
    """The store's re-check, for a store that stays open."""


@contextlib.asynccontextmanager
async def turn(turns: EditTurns, key: str) -> AsyncIterator[None]:
    """Hold key's turn while the block runs, as the store's edit() does."""
    held = await turns.take(key)
    try:
        yield
    finally:
        turns.end(held)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_edits_of_one_key_take_turns_in_the_order_they_came() -> None:
    async def main() -> None:
        turns, log = EditTurns(nothing), []

        async def edit(name: str) -> None:
            async with turn(turns, "k"):
                log.append(f"{name} in")
                await asyncio.sleep(0.01)
                log.append(f"{name} out")

        await asyncio.gather(edit("a"), edit("b"), edit("c"))
        assert log == ["a in", "a out", "b in", "b out", "c in", "c out"]
        assert turns.held() == []

    asyncio.run(main())


def test_a_write_waits_for_the_edit_under_way_and_applies_before_the_next_edit() -> None:
    async def main() -> None:
        turns, log = EditTurns(nothing), []
        first_in, let_go = asyncio.Event(), asyncio.Event()

        async def edit(name: str) -> None:
            async with turn(turns, "k"):
                log.append(name)
                first_in.set()
                await let_go.wait()

        first = asyncio.create_task(edit("edit 1"))
        await first_in.wait()
        write = asyncio.create_task(turns.after_edits("k".__eq__, lambda: log.append("write")))
        second = asyncio.create_task(edit("edit 2"))
        await settle()
        other = await turns.after_edits("other".__eq__, lambda: "not waiting")
        assert other == "not waiting" and log == ["edit 1"]
        let_go.set()
        await asyncio.gather(first, write, second)
        assert log == ["edit 1", "write", "edit 2"] and turns.held() == []

    asyncio.run(main())


def test_a_write_of_a_key_its_own_task_edits_is_refused() -> None:
    async def main() -> None:
        turns = EditTurns(nothing)
        async with turn(turns, "k"):
            with pytest.raises(RuntimeError, match="'k' is being edited by this very task"):
                await turns.after_edits("k".__eq__, lambda: None)
            with pytest.raises(RuntimeError, match="this very task"):
                async with turn(turns, "k"):
                    pass
        assert turns.held() == []

    asyncio.run(main())


def test_an_edit_cancelled_while_waiting_leaves_no_turn_behind() -> None:
    async def main() -> None:
        turns = EditTurns(nothing)
        async with turn(turns, "k"):
            waiting = asyncio.create_task(turns.take("k"))
            await settle()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        assert turns.held() == []

    asyncio.run(main())


def test_a_write_that_waited_rechecks_the_store_before_it_applies() -> None:
    async def main() -> None:
        closed = False

        async def recheck() -> None:
            if closed:
                raise RuntimeError("closing")

        turns, applied = EditTurns(recheck), []
        async with turn(turns, "k"):
            write = asyncio.create_task(turns.after_edits("k".__eq__, lambda: applied.append(1)))
            await settle()
            closed = True
        with pytest.raises(RuntimeError, match="closing"):
            await write
        assert applied == [] and turns.held() == []

    asyncio.run(main())
