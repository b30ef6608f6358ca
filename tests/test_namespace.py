"""Namespaces: a store's keys under "<name>:", with the store's whole API."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiokv import AioKV, ClosedError, Namespace
from tests.helpers import ROOT, held_disk_writes, read_json, slow_disk_writes


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_namespace_has_the_store_api_and_plain_keys_in_the_file(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("prefix", "?")  # an ordinary key beside the namespace
            guild = kv.namespace("guild:42")
            assert guild.name == "guild:42" and guild.store is kv
            await guild.set("prefix", "!")
            await guild.set("joined")  # value omitted: the time, as in the store
            assert await guild.get("prefix") == "!"
            assert await guild.get("absent", 5) == 5
            assert await guild.has("prefix") and not await guild.has("absent")
            assert await guild.incr("messages", 2) == 2
            await guild.update({"mods": [7], "lang": "en"})
            async with guild.edit("mods") as mods:
                mods.append(8)
            async with guild.edit("bans", default=[]) as bans:
                bans.append(9)
            assert await guild.delete("lang") is True
            user = guild.namespace("user:7")
            await user.set("xp", 10)
            assert await kv.get("guild:42:user:7:xp") == 10
            assert await kv.get("prefix") == "?"
            assert await guild.keys() == [
                "prefix",
                "joined",
                "messages",
                "mods",
                "bans",
                "user:7:xp",
            ]
            assert await guild.keys("user:") == ["user:7:xp"]
            assert await user.get_all() == {"xp": 10}
            everything = await guild.get_all()
            assert everything.pop("joined") == await kv.get("guild:42:joined")
            assert everything == {
                "prefix": "!",
                "messages": 2,
                "mods": [7, 8],
                "bans": [9],
                "user:7:xp": 10,
            }
            await guild.flush()  # the store's flush: the file holds it all now
            on_disk = read_json(state)
            assert on_disk["guild:42:prefix"] == "!" and on_disk["prefix"] == "?"
            assert on_disk["guild:42:user:7:xp"] == 10

    run(main())


def test_nested_namespaces_are_the_same_keys_as_a_joined_name(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.namespace("guild").namespace("42").set("a", 1)
            assert await kv.namespace("guild:42").get("a") == 1
            assert await kv.namespace("guild").keys() == ["42:a"]
            assert repr(kv.namespace("guild:42")).startswith("<Namespace 'guild:42' of <AioKV")

    run(main())


def test_clear_removes_only_the_namespace_and_the_file_only_when_empty(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            ns = kv.namespace("guild:42")
            await ns.update({"a": 1, "b": 2})
            # Neighbours a plain prefix test would confuse with the namespace.
            await kv.update({"guild:420:a": 3, "guild:42": 4, "guild:4": 5, "other": 6})
            assert await ns.clear() is True
            assert await ns.keys() == [] and await ns.get_all() == {}
            expected = {"guild:420:a": 3, "guild:42": 4, "guild:4": 5, "other": 6}
            assert read_json(state) == expected  # clear() flushes, as the store's does
            assert await ns.clear() is True  # nothing left to clear: nothing written
            await kv.clear("guild:4")  # a prefix that is no namespace: a scan
            assert read_json(state) == {"other": 6}
            await kv.namespace("x").set("k", 1)
            await kv.delete("other")
            await kv.namespace("x").clear()
            assert not state.exists()  # the store is empty: no file, as clear() leaves

    run(main())


def test_namespace_listing_follows_every_kind_of_write(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("n:old", 0)
            ns = kv.namespace("n")
            assert await ns.keys() == ["old"]  # the listing indexes the store here
            await ns.set("a", 1)
            await kv.update({"n:b": 2, "m:c": 3})
            await kv.incr("n:c")
            async with kv.edit("n:d", default={}) as d:
                d["x"] = 1
            await kv.delete("n:old")
            await kv.set("n:old", 5)  # back, after the others
            assert await ns.keys() == ["a", "b", "c", "d", "old"]
            await kv.clear()
            assert await ns.keys() == []
            await ns.set("e", 1)
            assert await ns.keys() == ["e"]

    run(main())


def test_a_namespace_refuses_bad_names_keys_and_values_naming_them(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            with pytest.raises(ValueError, match="empty"):
                kv.namespace("")
            with pytest.raises(ValueError, match="empty"):
                kv.namespace("a").namespace("")
            with pytest.raises(TypeError, match="namespace names must be str, not int"):
                kv.namespace(42)  # type: ignore[arg-type]
            ns = kv.namespace("guild:42")
            with pytest.raises(TypeError, match="keys must be str, not int: 7"):
                await ns.set(7, "x")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="'guild:42:score'"):
                await ns.set("score", float("nan"))
            with pytest.raises(TypeError, match="'guild:42:b'"):
                await ns.update({"a": 1, "b": {1, 2}})
            with pytest.raises(TypeError, match="takes a mapping, not list"):
                await ns.update([("a", 1)])  # type: ignore[arg-type]
            assert await kv.get_all() == {}  # nothing half-stored
            await ns.set("__aiokv__", 1)  # reserved at the top level only
            assert await ns.get("__aiokv__") == 1
        assert read_json(state) == {"guild:42:__aiokv__": 1}

    run(main())


def test_a_namespace_of_a_closed_store_refuses_every_operation(state: Path) -> None:
    async def main() -> None:
        kv = AioKV(state)
        ns = kv.namespace("a")  # a view costs nothing: no I/O, even before open
        await ns.set("k", 1)  # the first operation opens the store, as on the store
        await kv.aclose()
        for op in (ns.get("k"), ns.set("k", 2), ns.keys(), ns.get_all(), ns.clear()):
            with pytest.raises(ClosedError):
                await op
        assert read_json(state) == {"a:k": 1}

    run(main())


def test_clear_waits_for_edits_under_way_so_none_brings_a_key_back(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            ns = kv.namespace("n")
            await kv.set("other", 1)
            editing = asyncio.Event()

            async def edit() -> None:
                async with ns.edit("list", default=[]) as value:
                    editing.set()
                    await asyncio.sleep(0.05)
                    value.append(1)

            for clear in (ns.clear, kv.clear):
                editing.clear()
                task = asyncio.create_task(edit())
                await editing.wait()
                assert await clear() is True
                await task
                assert await ns.get("list") is None  # cleared after the edit stored it

            async with ns.edit("list", default=[]):
                with pytest.raises(RuntimeError, match="being edited by this very task"):
                    await ns.clear()

    run(main())


_op = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(["a", "b", "a:x", "a:y:z", "ab:c", "a::d"])),
    st.tuples(st.just("delete"), st.sampled_from(["a", "a:x", "a:y:z", "ab:c", "a::d"])),
    st.tuples(st.just("update"), st.sampled_from(["a:x", "a:y:q", "b:x"])),
    st.tuples(st.just("clear"), st.sampled_from(["", "a:", "a:y:", "ab", "b:"])),
    st.tuples(st.just("list"), st.sampled_from(["a:", "a:y:", "ab:", "a::", "b:", "a"])),
    st.tuples(st.just("flush"), st.just("")),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(_op, max_size=25))
def test_prefix_listings_always_equal_a_scan_of_the_store(tmp_path: Path, ops: list[Any]) -> None:
    # The index is built at the first listing and kept by every write after;
    # whatever the order, a listing must equal a plain scan of the keys.
    async def main() -> None:
        path = tmp_path / "state.json"
        async with AioKV(path, flush_delay=0, max_flush_delay=0, fsync=False) as kv:
            await kv.clear()  # hypothesis runs every example in one tmp_path
            for n, (op, arg) in enumerate(ops):
                if op == "set":
                    await kv.set(arg, n)
                elif op == "delete":
                    await kv.delete(arg)
                elif op == "update":
                    await kv.update({arg: n, arg + "2": n})
                elif op == "clear":
                    await kv.clear(arg)
                elif op == "flush":
                    await asyncio.sleep(0)  # let a background write start
                else:
                    # In order: whenever a background write runs, every
                    # listing gives the keys in the store's one order.
                    scan = [k for k in await kv.keys() if k.startswith(arg)]
                    assert await kv.keys(arg) == scan
                    everything = await kv.get_all()
                    assert list((await kv.get_all(arg)).items()) == [
                        (k, everything[k]) for k in scan
                    ]
                    if arg.endswith(":"):
                        ns = kv.namespace(arg[:-1])
                        assert await ns.keys() == [k[len(arg) :] for k in scan]
            final = await kv.get_all()
        assert (read_json(path) if path.exists() else {}) == final

    asyncio.run(main())


def test_the_stores_and_their_namespaces_satisfy_the_store_protocol(tmp_path: Path) -> None:
    # Integrations take a Store: every kind of store must fit it, for mypy.
    program = tmp_path / "uses_store.py"
    program.write_text(
        textwrap.dedent(
            """
            from aiokv import AioKV, Namespace, Store
            from aiokv.redis import RedisKV

            def takes(store: Store) -> Store:
                return store.namespace("x")

            kv = AioKV("state.json")
            ns: Namespace = kv.namespace("a")
            takes(kv)
            takes(ns)
            takes(ns.namespace("b"))
            shared = RedisKV("redis://127.0.0.1:6379/0", name="bot")
            takes(shared)
            takes(shared.namespace("a"))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(program)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert isinstance(AioKV(tmp_path / "s.json").namespace("a"), Namespace)


def test_a_prefix_that_is_not_a_str_is_refused_by_every_listing(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("a:b", 1)
            for call in (kv.keys(0), kv.get_all(0), kv.clear(0)):  # type: ignore[arg-type]
                with pytest.raises(TypeError, match="prefixes must be str, not int"):
                    await call
            assert await kv.get_all() == {"a:b": 1}

    run(main())


@pytest.mark.parametrize("write", ["set", "update", "incr", "edit"])
def test_a_key_deleted_and_written_again_during_a_disk_write_is_listed(
    state: Path, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    # Found by the deep model campaign: the deletion leaves a marker in the
    # top layer, and the write after it must still enter the key in the index.
    writing = slow_disk_writes(monkeypatch)

    async def main() -> None:
        async with AioKV(state, flush_delay=60, max_flush_delay=60) as kv:
            await kv.set("g:1:b", [0])
            assert await kv.keys("g:1:") == ["g:1:b"]  # the index is built
            flushing = asyncio.create_task(kv.flush())
            await asyncio.to_thread(writing.wait)  # the snapshot holds g:1:b
            await kv.delete("g:1:b")
            if write == "set":
                await kv.set("g:1:b", [1])
            elif write == "update":
                await kv.update({"g:1:b": [1]})
            elif write == "incr":
                await kv.delete("g:1:b")
                await kv.incr("g:1:b")
            else:
                async with kv.edit("g:1:b", default=[]) as value:
                    value.append(1)
            assert await kv.keys("g:1:") == ["g:1:b"]
            assert await kv.namespace("g").keys() == ["1:b"]
            await flushing

    run(main())


@pytest.mark.parametrize("held", [True, False], ids=["while a write runs", "no write"])
@pytest.mark.parametrize("removal", ["delete", "ns.delete", "clear(ns:)", "ns.clear"])
@pytest.mark.parametrize("write", ["set", "ns.set", "update", "incr", "edit"])
def test_a_key_deleted_and_stored_again_goes_to_the_end_of_every_listing(
    state: Path, monkeypatch: pytest.MonkeyPatch, held: bool, removal: str, write: str
) -> None:
    # Deleted and stored again, a key goes to the end, as in a dict: in the
    # store's listings, a namespace's, the prefix index, the file and after a
    # restart alike, whether a background write runs meanwhile or not.
    started, let_go = held_disk_writes(monkeypatch)
    model = {"ns:a": [1], "ns:b": [2], "x": [0]}

    async def listings_follow_the_model(kv: AioKV) -> None:
        under = [k for k in model if k.startswith("ns")]
        ns = kv.namespace("ns")
        assert await kv.keys() == list(model)
        assert list((await kv.get_all()).items()) == list(model.items())
        assert await kv.keys("ns") == await kv.keys("ns:") == under
        assert list((await kv.get_all("ns:")).items()) == [(k, model[k]) for k in under]
        assert await ns.keys() == [k[3:] for k in under]
        assert list((await ns.get_all()).items()) == [(k[3:], model[k]) for k in under]

    async def changes(kv: AioKV) -> None:
        ns = kv.namespace("ns")
        await kv.update(model)
        assert await kv.keys("ns:") == ["ns:a", "ns:b"]  # the index is built
        await kv.flush()
        if held:
            let_go.clear()
        await kv.set("x", [1])
        model["x"] = [1]
        if held:
            flushing = asyncio.create_task(kv.flush())
            await asyncio.to_thread(started.wait)  # the snapshot is frozen now
        if removal == "delete":
            await kv.delete("ns:a")
        elif removal == "ns.delete":
            await ns.delete("a")
        else:  # removes its keys at once, then waits for the write
            clearing = asyncio.create_task(
                kv.clear("ns:") if removal == "clear(ns:)" else ns.clear()
            )
            await asyncio.sleep(0)
            del model["ns:b"]
        del model["ns:a"]
        await kv.set("ns:c", [3])  # a key added before ns:a comes back
        model["ns:c"] = [3]
        if write == "set":
            await kv.set("ns:a", [9])
        elif write == "ns.set":
            await ns.set("a", [9])
        elif write == "update":
            await kv.update({"ns:a": [9]})
        elif write == "incr":
            await kv.incr("ns:a", 9)
        else:
            async with kv.edit("ns:a", default=[]) as value:
                value.append(9)
        model["ns:a"] = 9 if write == "incr" else [9]
        await listings_follow_the_model(kv)
        if held:
            let_go.set()
            await flushing
        if removal in ("clear(ns:)", "ns.clear"):
            assert await clearing
        await listings_follow_the_model(kv)
        await kv.flush()
        assert list(read_json(state)) == list(model)

    async def main() -> None:
        kv = AioKV(state, flush_delay=60, max_flush_delay=60, fsync=False)
        try:
            await changes(kv)
        finally:
            let_go.set()  # a failed check must not leave the write held
            await kv.aclose()
        async with AioKV(state) as kv:
            await listings_follow_the_model(kv)

    run(main())


def test_namespace_writes_waiting_for_one_edit_hold_nothing_and_all_return(state: Path) -> None:
    # Two clears of a namespace waiting for one of its edits both return; an
    # update of two namespaces waiting for that edit does not hold the other
    # namespace's key, which the block writes.
    async def main() -> None:
        async with AioKV(state) as kv:
            guild, user = kv.namespace("guild"), kv.namespace("user")
            await user.set("7", 0)
            inside, release = asyncio.Event(), asyncio.Event()

            async def edit() -> None:
                async with guild.edit("mods", default=[]) as mods:
                    inside.set()
                    await release.wait()
                    await user.set("7", 1)
                    mods.append(7)

            editing = asyncio.create_task(edit())
            await inside.wait()
            updating = asyncio.create_task(
                kv.update({"guild:mods": ["update"], "user:7": "update"})
            )
            await asyncio.sleep(0.01)
            clears = [asyncio.create_task(guild.clear()) for _ in range(2)]
            await asyncio.sleep(0.01)
            release.set()
            await asyncio.gather(editing, updating)
            assert await asyncio.gather(*clears) == [True, True]
            assert await kv.get_all() == {"user:7": "update"}
            assert kv._turns.held() == []

    run(asyncio.wait_for(main(), 10))  # a hang fails the test instead
