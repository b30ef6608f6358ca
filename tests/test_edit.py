"""edit(): read-modify-write of one dict or list value that loses no update."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aiokv import AioKV, ClosedError
from tests.helpers import read_json


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_edit_changes_a_private_copy_and_stores_it_at_the_end(state: Path) -> None:
    async def main() -> None:
        default: list[int] = []
        async with AioKV(state) as kv:
            async with kv.edit("seen", default=default) as seen:
                seen.append(1)
                assert await kv.get("seen") is None  # not stored before the end
            assert default == []  # the default itself is never touched
            async with kv.edit("seen") as seen:
                seen.append(2)
            async with kv.edit("guild", default={}) as guild:
                guild["prefix"] = "!"
                guild["mods"] = [7]
            got = await kv.get("guild")
            got["mods"].append(8)  # what get() returns is a copy too
        assert read_json(state) == {"seen": [1, 2], "guild": {"prefix": "!", "mods": [7]}}

    run(main())


def test_a_block_that_raises_stores_nothing(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("seen", [1])
            with pytest.raises(LookupError, match="boom"):
                async with kv.edit("seen") as seen:
                    seen.append(2)
                    raise LookupError("boom")
            with pytest.raises(LookupError):
                async with kv.edit("absent", default=[]) as new:
                    new.append(1)
                    raise LookupError
            assert await kv.get_all() == {"seen": [1]}

    run(main())


@pytest.mark.parametrize(
    ("bad", "error"), [(float("nan"), ValueError), ({1, 2}, TypeError), (2**64, ValueError)]
)
def test_a_value_set_would_refuse_raises_at_the_end_naming_the_key(
    state: Path, bad: Any, error: type[Exception]
) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("k", {"a": 1})
            with pytest.raises(error, match="'k'"):
                async with kv.edit("k") as value:
                    value["a"] = bad
            assert await kv.get("k") == {"a": 1}
        assert read_json(state) == {"k": {"a": 1}}

    run(main())


def test_scalars_and_absent_keys_are_refused_clearly(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.update({"n": 1, "s": "x"})
            for key, kind in (("n", "a number"), ("s", "a string")):
                with pytest.raises(TypeError, match=f"'{key}'.*{kind}.*set\\(\\) or incr\\(\\)"):
                    async with kv.edit(key):
                        pass
            with pytest.raises(KeyError, match=r"'absent'.*no default"):
                async with kv.edit("absent"):
                    pass
            with pytest.raises(TypeError, match="number"):
                async with kv.edit("absent", default=5):
                    pass

    run(main())


def test_concurrent_edits_of_one_key_lose_no_update(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state, flush_delay=0) as kv:

            async def appender(n: int) -> None:
                for i in range(20):
                    async with kv.edit("log", default=[]) as log:
                        await asyncio.sleep(0)  # other tasks run mid-edit
                        log.append((n, i))

            await asyncio.gather(*(appender(n) for n in range(50)))
            log = await kv.get("log")
            assert len(log) == 1000 and sorted(map(tuple, log)) == [
                (n, i) for n in range(50) for i in range(20)
            ]
        assert len(read_json(state)["log"]) == 1000

    run(main())


def test_edits_of_different_keys_do_not_wait_for_each_other(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            holding = asyncio.Event()
            release = asyncio.Event()

            async def slow() -> None:
                async with kv.edit("a", default=[]) as a:
                    holding.set()
                    await release.wait()
                    a.append(1)

            task = asyncio.create_task(slow())
            await holding.wait()
            async with kv.edit("b", default=[]) as b:  # would hang if it waited for "a"
                b.append(2)
            assert await kv.get("b") == [2]
            release.set()
            await task
            assert await kv.get_all() == {"a": [1], "b": [2]}

    run(main())


@pytest.mark.parametrize("write", ["set", "update", "delete", "incr"])
def test_a_write_during_an_edit_takes_its_turn_after_it(state: Path, write: str) -> None:
    # The edit read its copy before the write; storing it afterwards would
    # silently undo the write. So the write waits for the edit, and lands last.
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("k", {"from": "start"})
            inside = asyncio.Event()
            release = asyncio.Event()

            async def edit() -> None:
                async with kv.edit("k") as k:
                    inside.set()
                    await release.wait()
                    k["from"] = "edit"

            editing = asyncio.create_task(edit())
            await inside.wait()
            writes = {
                "set": lambda: kv.set("k", {"from": "set"}),
                "update": lambda: kv.update({"k": {"from": "update"}, "other": 1}),
                "delete": lambda: kv.delete("k"),
                "incr": lambda: kv.incr("k"),
            }
            writing = asyncio.create_task(writes[write]())
            await asyncio.sleep(0.01)
            assert not writing.done()  # waiting for its turn
            release.set()
            await editing
            if write == "incr":
                with pytest.raises(TypeError, match="an object, not a number"):
                    await writing  # after the edit, "k" holds the edit's dict
                assert await kv.get("k") == {"from": "edit"}
            else:
                await writing
                expected = {"set": {"from": "set"}, "update": {"from": "update"}}.get(write)
                assert await kv.get("k") == expected
            assert kv._turns.held() == []  # nothing left behind

    run(main())


def test_writing_the_key_inside_its_own_edit_raises_instead_of_hanging(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            async with kv.edit("k", default=[]) as k:
                k.append(1)
                with pytest.raises(RuntimeError, match="being edited by this very task"):
                    await kv.set("k", [9])
                with pytest.raises(RuntimeError, match="this very task"):
                    await kv.update({"other": 1, "k": [9]})
                with pytest.raises(RuntimeError, match="this very task"):
                    async with kv.edit("k"):
                        pass
            assert await kv.get_all() == {"k": [1]}

    run(asyncio.wait_for(main(), 10))  # a hang fails the test instead


def test_an_edit_that_ends_after_aclose_began_is_refused(state: Path) -> None:
    async def main() -> None:
        kv = AioKV(state)
        await kv.set("k", [1])
        with pytest.raises(ClosedError, match="is closed"):
            async with kv.edit("k") as k:
                k.append(2)
                await kv.aclose()  # the close wins; the edit is not acknowledged
        assert read_json(state) == {"k": [1]}

    run(main())


def test_an_edit_that_begins_while_a_many_key_update_waits_does_not_undo_it(
    state: Path,
) -> None:
    # update({"a", "b"}) waits for the edit of "a"; meanwhile an edit of "b"
    # begins and is still running when "a" is free. The update must wait for
    # it too, or that edit would end later and undo the update's "b".
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.update({"a": [0], "b": [0]})
            inside_a, release_a = asyncio.Event(), asyncio.Event()
            inside_b, release_b = asyncio.Event(), asyncio.Event()

            async def edit(key: str, inside: asyncio.Event, release: asyncio.Event) -> None:
                async with kv.edit(key) as value:
                    inside.set()
                    await release.wait()
                    value.append("edit")

            editing_a = asyncio.create_task(edit("a", inside_a, release_a))
            await inside_a.wait()
            updating = asyncio.create_task(kv.update({"a": ["update"], "b": ["update"]}))
            await asyncio.sleep(0.01)
            editing_b = asyncio.create_task(edit("b", inside_b, release_b))
            await inside_b.wait()
            release_a.set()
            await asyncio.sleep(0.01)
            assert not updating.done()  # waiting for the edit of "b" now
            release_b.set()
            await asyncio.gather(editing_a, updating, editing_b)
            # The update lands after both edits: nothing it wrote is undone.
            assert await kv.get_all() == {"a": ["update"], "b": ["update"]}
            assert kv._turns.held() == []

    run(main())


# A hang in the tests below fails them instead: each runs under this watchdog.
WATCHDOG = 10


async def holding_edit(kv: AioKV, key: str) -> tuple[asyncio.Task[None], asyncio.Event]:
    """Start a task editing key until the returned event is set."""
    inside, release = asyncio.Event(), asyncio.Event()

    async def edit() -> None:
        async with kv.edit(key, default=[]) as value:
            inside.set()
            await release.wait()
            value.append("edit")

    task = asyncio.create_task(edit())
    await inside.wait()
    return task, release


@pytest.mark.parametrize("prefix", ["", "n:", "n"])
def test_two_clears_waiting_for_one_edit_both_return(state: Path, prefix: str) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("other", 1)
            editing, release = await holding_edit(kv, "n:list")
            clears = [asyncio.create_task(kv.clear(prefix)) for _ in range(2)]
            clears.append(asyncio.create_task(kv.namespace("n").clear()))
            await asyncio.sleep(0.01)
            assert not any(clear.done() for clear in clears)  # waiting for the edit
            release.set()
            await editing
            assert await asyncio.gather(*clears) == [True] * 3
            assert await kv.get("n:list") is None  # cleared after the edit stored it
            assert kv._turns.held() == []

    run(asyncio.wait_for(main(), WATCHDOG))


@pytest.mark.parametrize("write", ["set", "update", "delete", "incr", "clear"])
def test_a_block_writing_a_key_nobody_edits_never_waits_for_a_waiting_update(
    state: Path, write: str
) -> None:
    # update({"a", "b"}) waits for the edit of "b", whose block writes "a":
    # the update must hold nothing while it waits, or each waits for the other.
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.update({"a": 0, "b": [0]})
            inside, release = asyncio.Event(), asyncio.Event()

            async def edit() -> None:
                async with kv.edit("b") as b:
                    inside.set()
                    await release.wait()
                    writes = {
                        "set": lambda: kv.set("a", 1),
                        "update": lambda: kv.update({"a": 1}),
                        "delete": lambda: kv.delete("a"),
                        "incr": lambda: kv.incr("a"),
                        "clear": lambda: kv.clear("a"),
                    }
                    await writes[write]()
                    b.append("edit")

            editing = asyncio.create_task(edit())
            await inside.wait()
            updating = asyncio.create_task(kv.update({"a": "update", "b": ["update"]}))
            await asyncio.sleep(0.01)
            release.set()
            await asyncio.gather(editing, updating)
            # The update lands after the edit (and the block's write), undoing neither.
            assert await kv.get_all() == {"a": "update", "b": ["update"]}
            assert kv._turns.held() == []

    run(asyncio.wait_for(main(), WATCHDOG))


def test_a_waiting_write_holds_nothing_and_is_not_overtaken_by_later_edits(state: Path) -> None:
    # While update({"a", "k"}) waits for the edits of "k", a task editing "k"
    # in a loop must not keep it waiting forever, and "a", which nobody
    # edits, stays free for every other write and edit.
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.update({"a": [0], "k": []})
            stop = asyncio.Event()

            async def editor() -> None:
                while not stop.is_set():
                    async with kv.edit("k") as k:
                        # Not sleep(0): a loop that never idles starves the
                        # writer thread of the GIL, and clear()'s flush below
                        # took seconds on a loaded machine.
                        await asyncio.sleep(0.001)
                        k.append(len(k))

            editing = asyncio.create_task(editor())
            await asyncio.sleep(0.01)
            updating = asyncio.create_task(kv.update({"a": ["update"], "k": ["update"]}))
            await asyncio.sleep(0)
            await kv.set("a", [1])
            assert not updating.done()  # "a" was free: the set did not wait behind it
            await kv.delete("a")
            assert await kv.incr("a") == 1
            await kv.update({"a": [2]})
            async with kv.edit("a") as a:
                a.append(3)
            assert await kv.clear("a") is True
            await updating  # not starved by the edits that began after it
            stop.set()
            await editing
            assert (await kv.get("k"))[0] == "update"  # later edits appended to it
            assert kv._turns.held() == []

    run(asyncio.wait_for(main(), WATCHDOG))


@pytest.mark.parametrize("waiter", ["edit", "set", "update", "clear"])
def test_a_waiter_cancelled_while_a_waiting_update_holds_turns_leaves_none(
    state: Path, waiter: str
) -> None:
    # Cancelled while waiting for its turn, a waiter leaves the turns as it
    # found them, and every other waiter still gets its turn.
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.update({"a": [0], "b": [0]})
            editing, release = await holding_edit(kv, "b")
            updating = asyncio.create_task(kv.update({"a": ["update"], "b": ["update"]}))
            await asyncio.sleep(0)

            async def edit_a() -> None:
                async with kv.edit("a") as a:
                    a.append("edit")

            calls = {
                "edit": edit_a,
                "set": lambda: kv.set("b", ["set"]),
                "update": lambda: kv.update({"a": ["x"], "b": ["x"]}),
                "clear": lambda: kv.clear(),
            }
            cancelled = asyncio.create_task(calls[waiter]())
            await asyncio.sleep(0.01)
            cancelled.cancel()
            await asyncio.gather(cancelled, return_exceptions=True)
            async with kv.edit("a") as a:  # "a" is free: the update holds nothing
                a.append("free")
            release.set()
            await asyncio.gather(editing, updating)
            assert await kv.get_all() == {"a": ["update"], "b": ["update"]}
            assert kv._turns.held() == []

    run(asyncio.wait_for(main(), WATCHDOG))


@pytest.mark.parametrize("write", ["update", "clear", "clear prefix", "namespace clear"])
def test_a_write_of_several_keys_is_not_starved_by_their_edits_in_turn(
    state: Path, write: str
) -> None:
    # Two keys edited back to back, with overlapping blocks: there is never an
    # instant when both are free, so a write of both that waited for the
    # instant would wait for ever. It keeps the next edit of each key it has
    # met waiting instead, and applies once the edits under way end.
    async def main() -> None:
        async with AioKV(state) as kv:
            stop = asyncio.Event()
            edits = ["n:a", "n:b"]

            async def editing(key: str) -> None:
                while not stop.is_set():
                    async with kv.edit(key, default=[]) as value:
                        await asyncio.sleep(0.005)
                        value.append(1)

            loops = [asyncio.create_task(editing(key)) for key in edits]
            await asyncio.sleep(0.02)
            calls = {
                "update": lambda: kv.update({"n:a": ["u"], "n:b": ["u"]}),
                "clear": lambda: kv.clear(),
                "clear prefix": lambda: kv.clear("n:"),
                "namespace clear": lambda: kv.namespace("n").clear(),
            }

            async def write_then_stop() -> None:
                await calls[write]()
                stop.set()  # at once: each loop ends after the edit it is in, if any
                # (a clear's own flush, after it applied, lets edits go on meanwhile)

            await asyncio.wait_for(write_then_stop(), WATCHDOG / 2)
            await asyncio.gather(*loops)
            if write == "update":
                # Applied once the edits it met ended; then one more edit of each, at most.
                after = await kv.get_all()
                assert all(after[key] in (["u"], ["u", 1]) for key in edits), after
            assert kv._turns.held() == []

    run(asyncio.wait_for(main(), WATCHDOG))


def test_an_edit_nested_in_an_edit_a_waiting_write_needs_goes_ahead_of_it(state: Path) -> None:
    # update({"a", "b"}) has met both edits and keeps a's next edit waiting;
    # the block editing "b" then edits "a" inside: it must go ahead, since the
    # update waits for that very block.
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.update({"a": [], "b": []})
            a_editing, a_release = await holding_edit(kv, "a")
            b_inside, b_release = asyncio.Event(), asyncio.Event()

            async def edit_b() -> None:
                async with kv.edit("b") as b:
                    b_inside.set()
                    await b_release.wait()
                    async with kv.edit("a") as a:
                        a.append("nested")
                    b.append("outer")

            b_editing = asyncio.create_task(edit_b())
            await b_inside.wait()
            update = asyncio.create_task(kv.update({"a": ["u"], "b": ["u"]}))
            await asyncio.sleep(0.01)
            a_release.set()
            await a_editing
            b_release.set()
            await b_editing
            await update
            assert await kv.get_all() == {"a": ["u"], "b": ["u"]}
            assert kv._turns.held() == []

    run(asyncio.wait_for(main(), WATCHDOG))


def test_an_edit_cancelled_in_its_block_stores_nothing_and_lets_the_waiting_write_in(
    state: Path,
) -> None:
    # The edit took its turn at once (no edit before it); cancelled inside
    # the block, it gives the turn back and the write that waited applies.
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("k", {"from": "start"})
            inside = asyncio.Event()

            async def edit() -> None:
                async with kv.edit("k") as k:
                    k["from"] = "edit"
                    inside.set()
                    await asyncio.Event().wait()

            editing = asyncio.create_task(edit())
            await inside.wait()
            writing = asyncio.create_task(kv.set("k", {"from": "set"}))
            await asyncio.sleep(0.01)
            assert not writing.done()  # waiting for the edit
            editing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await editing
            await asyncio.wait_for(writing, 5)
            assert await kv.get("k") == {"from": "set"}
            assert kv._turns.held() == []

    run(main())


def test_an_edit_refused_once_its_turn_came_gives_the_turn_back(state: Path) -> None:
    # The second edit waits for the first; the store begins closing
    # meanwhile, so the second is refused when its turn comes (and a key absent
    # with no default is refused after the turn is taken): no turn stays held.
    async def main() -> None:
        kv = AioKV(state)
        await kv.set("k", [1])
        with pytest.raises(KeyError, match="absent"):
            async with kv.edit("absent"):
                pass
        assert kv._turns.held() == []
        inside = asyncio.Event()

        async def edit() -> None:
            async with kv.edit("k") as k:
                inside.set()
                await asyncio.sleep(0.01)
                k.append(2)

        first = asyncio.create_task(edit())
        await inside.wait()
        second = asyncio.create_task(edit())
        await asyncio.sleep(0)
        closing = asyncio.create_task(kv.aclose())
        for task in (first, second):
            with pytest.raises(ClosedError):  # closing, or closed by then
                await task
        await closing
        assert kv._turns.held() == []
        assert read_json(state) == {"k": [1]}

    run(asyncio.wait_for(main(), 10))
