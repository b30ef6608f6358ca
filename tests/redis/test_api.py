"""RedisKV's API against a real redis-server: the same answers as AioKV's."""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiokv import AioKV, AioKVError, ClosedError, CorruptFileError, Namespace, codec
from aiokv.redis import RedisKV
from tests.redis.server import RedisServer
from tests.test_codec import REFUSED
from tests.test_store import EVERY_JSON_TYPE


def typed(value: Any) -> Any:
    """value with every type spelled out, so 1 == 1.0 == True cannot pass for equal."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, repr(value))


def test_every_json_type_comes_back_equal_and_of_its_type(server: RedisServer, name: str) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            await kv.update(EVERY_JSON_TYPE)
            for key, value in EVERY_JSON_TYPE.items():
                assert typed(await kv.get(key)) == typed(value), key
            assert typed(await kv.get_all()) == typed(EVERY_JSON_TYPE)
        # A second client (a new connection, as another process would) reads the same.
        async with RedisKV(server.url, name=name) as other:
            assert typed(await other.get_all()) == typed(EVERY_JSON_TYPE)

    asyncio.run(main())
    # The hash holds JSON text: redis-cli shows it as such.
    assert server.cli("HGET", name, "list").strip() == '[1,"two",3.0,null,[true,[]]]'


@pytest.mark.parametrize(("value", "error"), REFUSED, ids=lambda v: repr(v)[:30])
def test_a_refused_value_raises_as_aiokv_does_and_changes_nothing(
    server: RedisServer, name: str, value: Any, error: type[Exception]
) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            await kv.set("k", "before")
            for write in (
                lambda: kv.set("k", value),
                lambda: kv.update({"other": 1, "k": value}),
                lambda: kv.namespace("n").set("k", value),
            ):
                with pytest.raises(error, match=r"'(n:)?k'"):
                    await write()
            with pytest.raises(error, match="'e'"):
                async with kv.edit("e", []) as edited:
                    edited.append(value)
            assert await kv.get_all() == {"k": "before"}

    asyncio.run(main())


@pytest.mark.parametrize("key", [1, None, b"k", ("a",), codec.VERSION_KEY, "\ud800"])
def test_keys_follow_aiokvs_rules(server: RedisServer, name: str, key: Any) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            for op in (
                lambda: kv.get(key),
                lambda: kv.set(key, 1),
                lambda: kv.has(key),
                lambda: kv.delete(key),
                lambda: kv.incr(key),
                lambda: kv.update({key: 1}),
                lambda: kv.edit(key, []).__aenter__(),
            ):
                with pytest.raises((TypeError, ValueError)):
                    await op()
            assert await kv.get_all() == {}

    asyncio.run(main())


# -- the same answers as AioKV, operation by operation ----------------------------------

KEYS = st.sampled_from(["a", "b", "n:x", "n:y", "n:m:z", "*[?"])
VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS, VALUES),
        st.tuples(st.just("get"), KEYS),
        st.tuples(st.just("has"), KEYS),
        st.tuples(st.just("delete"), KEYS),
        st.tuples(
            st.just("incr"),
            KEYS,
            st.one_of(
                st.integers(min_value=-(2**64), max_value=2**64),
                st.floats(allow_nan=False, allow_infinity=False),
            ),
        ),
        st.tuples(st.just("update"), st.dictionaries(KEYS, VALUES, max_size=3)),
        st.tuples(st.just("edit"), KEYS, st.integers()),
        st.tuples(st.just("clear"), st.sampled_from(["", "n:", "n:m:", "a", "*"])),
        st.tuples(st.just("keys"), st.sampled_from(["", "n:", "*["])),
        st.tuples(st.just("get_all"), st.sampled_from(["", "n:", "b"])),
        st.tuples(st.just("ns"), KEYS, VALUES),
    ),
    max_size=25,
)


async def apply(kv: Any, op: tuple[Any, ...]) -> Any:
    """Run one operation; return its result, or the type of the error it raised."""
    kind, *args = op
    try:
        if kind == "edit":
            async with kv.edit(args[0], []) as value:
                if isinstance(value, dict):
                    value[str(args[1])] = args[1]
                else:
                    value.append(args[1])
            return None
        if kind == "ns":
            return await kv.namespace("n").set(*args)
        result = await getattr(kv, kind)(*args)
    except (TypeError, ValueError, KeyError) as e:
        return type(e)
    if kind == "keys":
        return sorted(result)  # a hash has no order: compared as sets
    return typed(result)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_random_operations_give_the_same_results_as_aiokv(
    server: RedisServer, operations: list[tuple[Any, ...]]
) -> None:
    async def main(directory: str) -> None:
        name = f"model-{time.monotonic_ns()}"
        async with AioKV(Path(directory, "state.json")) as file, RedisKV(server.url, name) as kv:
            for op in operations:
                assert await apply(kv, op) == await apply(file, op), op
            assert typed(await kv.get_all()) == typed(await file.get_all())
            await kv.clear()

    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(main(directory))


# -- listings, namespaces, clear ----------------------------------------------------


def test_listings_of_a_big_hash_are_scanned_and_complete(server: RedisServer, name: str) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            await kv.update({f"k{i}": i for i in range(5_000)})
            await kv.update({f"g:{i}": i for i in range(3_000)})
            assert len(await kv.keys()) == 8_000
            assert await kv.get_all("g:") == {f"g:{i}": i for i in range(3_000)}
            assert sorted(await kv.namespace("g").keys()) == sorted(str(i) for i in range(3_000))

    asyncio.run(main())
    # More fields than one HSCAN call visits: the listing took several calls.
    assert int(server.cli("HLEN", name)) == 8_000 > 1000
    assert "hashtable" in server.cli("OBJECT", "ENCODING", name)


def test_a_prefix_is_matched_literally_not_as_a_glob(server: RedisServer, name: str) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            await kv.update({"a*": 1, "ab": 2, "a?c": 3, "abc": 4, "[x]": 5, "x": 6, "\\y": 7})
            assert await kv.keys("a*") == ["a*"]
            assert await kv.keys("a?") == ["a?c"]
            assert await kv.keys("[x") == ["[x]"]
            assert await kv.keys("\\") == ["\\y"]
            await kv.clear("a?")
            assert sorted(await kv.keys()) == ["[x]", "\\y", "a*", "ab", "abc", "x"]

    asyncio.run(main())


LONE = "\ud800"  # a lone surrogate: no key holds one (JSON and UTF-8 cannot)
PREFIX_CALLS: dict[str, Any] = {
    "keys": lambda kv: kv.keys(LONE),
    "keys a": lambda kv: kv.keys("a" + LONE),
    "get_all": lambda kv: kv.get_all(LONE),
    "clear": lambda kv: kv.clear("n:" + LONE),
    "namespace keys": lambda kv: kv.namespace(LONE).keys(),
    "namespace get_all": lambda kv: kv.namespace(LONE).get_all(),
    "namespace clear": lambda kv: kv.namespace(LONE).clear(),
    "nested namespace keys": lambda kv: kv.namespace("n").namespace(LONE).keys(),
    "namespace keys prefix": lambda kv: kv.namespace("n").keys(LONE),
}


@pytest.mark.parametrize("call", PREFIX_CALLS)
def test_a_lone_surrogate_in_a_prefix_gets_aiokvs_answer(
    server: RedisServer, name: str, tmp_path: Path, call: str
) -> None:
    async def outcome(kv: Any) -> Any:
        await kv.update({"a": 1, "n:x": 2})
        try:
            result = await PREFIX_CALLS[call](kv)
        except (TypeError, ValueError) as e:
            result = (type(e), str(e))
        return result, await kv.get_all()

    async def main() -> None:
        async with AioKV(tmp_path / "state.json") as file, RedisKV(server.url, name) as kv:
            assert await outcome(kv) == await outcome(file)

    asyncio.run(main())


def test_a_store_name_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        RedisKV("redis://127.0.0.1:1/0", name="bot" + LONE)


def test_namespaces_are_the_store_api_under_a_prefix(server: RedisServer, name: str) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            guild = kv.namespace("guild:42")
            assert isinstance(guild, Namespace)
            await guild.set("prefix", "!")
            await guild.incr("messages", 2)
            async with guild.edit("mods", []) as mods:
                mods.append(7)
            await kv.set("guild:420:prefix", "?")  # not in guild:42
            assert await guild.get_all() == {"prefix": "!", "messages": 2, "mods": [7]}
            assert await kv.get("guild:42:mods") == [7]
            assert await guild.clear()
            assert await kv.get_all() == {"guild:420:prefix": "?"}

    asyncio.run(main())


# -- edit() -------------------------------------------------------------------------


def test_edit_stores_on_success_nothing_on_error_and_frees_the_key(
    server: RedisServer, name: str
) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name, edit_lease=30) as kv:
            async with kv.edit("seen", []) as seen:
                seen.append(1)
            with pytest.raises(ZeroDivisionError):
                async with kv.edit("seen") as seen:
                    seen.append(2)
                    1 / 0  # noqa: B018
            assert await kv.get("seen") == [1]
            # The failed edit freed the key: a write does not wait out its 30 s lease.
            started = time.monotonic()
            await kv.set("seen", [3])
            assert time.monotonic() - started < 5
            with pytest.raises(KeyError, match="'absent'"):
                async with kv.edit("absent"):
                    pass
            await kv.set("n", 1)
            with pytest.raises(TypeError, match="a number"):
                async with kv.edit("n"):
                    pass
            assert server.cli("EXISTS", "aiokv-edits:" + name).strip() == "0"

    asyncio.run(main())


def test_concurrent_edits_in_one_process_lose_nothing(server: RedisServer, name: str) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:

            async def add(i: int) -> None:
                async with kv.edit("items", {}) as items:
                    await asyncio.sleep(0.001)  # others queue meanwhile
                    items[str(i)] = i
                await kv.incr("count")

            await asyncio.gather(*(add(i) for i in range(40)))
            assert await kv.get("items") == {str(i): i for i in range(40)}
            assert await kv.get("count") == 40

    asyncio.run(main())


def test_writes_of_the_edited_key_by_the_editing_task_are_refused(
    server: RedisServer, name: str
) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            async with kv.edit("k", []) as value:
                value.append(1)
                for write in (
                    lambda: kv.set("k", 2),
                    lambda: kv.update({"k": 2}),
                    lambda: kv.incr("k"),
                    lambda: kv.delete("k"),
                    lambda: kv.clear("k"),
                    lambda: kv.clear(),
                ):
                    with pytest.raises(RuntimeError, match="this very task"):
                        await write()
                with pytest.raises(RuntimeError, match="this very task"):
                    async with kv.edit("k"):
                        pass
                await kv.set("other", 1)  # other keys are free
            assert await kv.get("k") == [1]

    asyncio.run(main())


def test_a_write_waits_for_an_edit_and_an_edit_past_its_lease_stores_nothing(
    server: RedisServer, name: str
) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name, edit_lease=0.3) as kv:
            writes: list[float] = []

            async def write() -> None:
                await kv.set("k", "written meanwhile")
                writes.append(time.monotonic())

            with pytest.raises(AioKVError, match="outlived its lease"):
                async with kv.edit("k", {}) as value:
                    writer = asyncio.ensure_future(write())
                    await asyncio.sleep(0.5)  # renewed: the write waits
                    assert not writes
                    value["edited"] = True
                    # A stalled loop cannot renew the lease: it runs out.
                    time.sleep(0.5)
            await writer
            # The write went ahead when the lease ended; the late edit stored nothing.
            assert await kv.get("k") == "written meanwhile"

    asyncio.run(main())


# -- lifecycle, flush, errors -----------------------------------------------------------


async def edit_once(kv: RedisKV) -> None:
    async with kv.edit("e", []) as value:
        value.append(1)


# Every method of the API, as a call on a store.
METHODS: dict[str, Any] = {
    "get": lambda kv: kv.get("k"),
    "set": lambda kv: kv.set("k", 2),
    "has": lambda kv: kv.has("k"),
    "keys": lambda kv: kv.keys(),
    "get_all": lambda kv: kv.get_all(),
    "delete": lambda kv: kv.delete("k"),
    "incr": lambda kv: kv.incr("n"),
    "update": lambda kv: kv.update({"k": 2}),
    "edit": edit_once,
    "clear": lambda kv: kv.clear("x"),
    "flush": lambda kv: kv.flush(),
    "namespace": lambda kv: kv.namespace("ns").set("k", 1),
    "async with": lambda kv: kv.__aenter__(),
}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_works_on_a_new_store_and_refuses_once_it_is_closed(
    server: RedisServer, name: str, method: str
) -> None:
    async def main() -> None:
        kv = RedisKV(server.url, name=name)
        await METHODS[method](kv)  # new: connects at first use, no `async with` needed
        await kv.aclose()
        await kv.aclose()  # twice is fine
        with pytest.raises(ClosedError, match=r"RedisKV.*is closed"):
            await METHODS[method](kv)

    asyncio.run(main())


class OwnerLoop:
    """An event loop in a thread of its own, the store's owner; the test's own loop is another."""

    def __init__(self) -> None:
        """Start the loop's thread."""
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def start(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run coro on the owner loop; return its future at once."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run coro on the owner loop and wait for its result."""
        return self.start(coro).result(30)

    def stop(self) -> None:
        """Stop the loop and close it."""
        self.loop.call_soon_threadsafe(self.loop.stop)


def clients(server: RedisServer) -> int:
    """The connections the server has open, redis-cli's own included."""
    return len(server.cli("CLIENT", "LIST").splitlines())


def eventually(check: Callable[[], bool]) -> bool:
    """Whether check() comes true within 10 s (the server sees a closed socket a moment later)."""
    deadline = time.monotonic() + 10
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_another_event_loop_is_refused_in_every_state_as_aiokv_refuses_it(
    own_server: RedisServer, name: str
) -> None:
    server = own_server.start()  # to pause
    calls = {**METHODS, "aclose": lambda kv: kv.aclose()}
    owner = OwnerLoop()
    try:
        kv = RedisKV(server.url, name=name, edit_lease=60)
        before = clients(server)
        editing = asyncio.Event()
        done = asyncio.Event()

        async def edit() -> None:
            async with kv.edit("e", []) as value:
                editing.set()
                await done.wait()
                value.append("owner")

        # Open, an edit under way: refused, the store (connections, lease) left as it was.
        editor = owner.start(edit())
        owner.run(editing.wait())
        for method, call in calls.items():
            with pytest.raises(RuntimeError, match=r"RedisKV\(.*'test.*belongs to the event loop"):
                asyncio.run(call(kv))
            assert clients(server) > before, method
        assert server.cli("HEXISTS", "aiokv-edits:" + name, "e").strip() == "1"
        owner.loop.call_soon_threadsafe(done.set)
        editor.result(30)
        assert owner.run(kv.get("e")) == ["owner"]  # still open, on its own loop

        # Closing: aclose() waits for a write in flight to a paused server.
        server.pause()
        try:
            writing = owner.start(kv.set("held", 1))
            time.sleep(0.2)
            closing = owner.start(kv.aclose())
            time.sleep(0.2)
            assert not closing.done() and not writing.done()
            with pytest.raises(RuntimeError, match="belongs to the event loop"):
                asyncio.run(kv.aclose())
        finally:
            server.resume()
        closing.result(30)
        assert writing.result(30) is None
        assert server.cli("HGET", name, "held").strip() == "1"
        assert eventually(lambda: clients(server) == before)  # the owner's close closed them

        # Closed: aclose() from any loop does nothing; the others say it is closed.
        asyncio.run(kv.aclose())
        for call in METHODS.values():
            with pytest.raises(ClosedError):
                asyncio.run(call(kv))
    finally:
        owner.stop()


def test_flush_and_aclose_wait_for_writes_under_way(server: RedisServer, name: str) -> None:
    async def main() -> None:
        kv = RedisKV(server.url, name=name)
        tasks = [asyncio.ensure_future(kv.set(f"k{i}", i)) for i in range(200)]
        await asyncio.sleep(0)  # the writes are on their way
        await kv.flush()
        assert all(t.done() for t in tasks)
        more = [asyncio.ensure_future(kv.incr("n")) for _ in range(100)]
        await asyncio.sleep(0)
        await kv.aclose()
        assert all(t.done() and not t.exception() for t in more)

    asyncio.run(main())
    assert int(server.cli("HLEN", name)) == 201
    assert server.cli("HGET", name, "n").strip() == "100"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("{not json", "not JSON"),
        ("18446744073709551616", "64-bit"),
        ("[1, -9223372036854775809]", "64-bit"),
        ("[" * 300 + "]" * 300, "more than 253 levels"),
        ("[" * 1000 + "1234567890123456789" + "]" * 1000, "more than 253 levels"),
    ],
    ids=["not JSON", "beyond 64 bits", "below 64 bits", "too deep", "too deep, a long number"],
)
def test_a_value_another_tool_wrote_that_aiokv_cannot_read_exactly_raises_naming_the_key(
    server: RedisServer, name: str, raw: str, problem: str
) -> None:
    server.cli("HSET", name, "bad", raw)

    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            for read in (lambda: kv.get("bad"), lambda: kv.get_all(), lambda: kv.incr("bad")):
                with pytest.raises(CorruptFileError, match=f"{name}.*'bad'.*{problem}") as raised:
                    await read()
                assert str(raised.value).endswith("aiokv left the hash untouched")
            assert not await kv.has("good")
        assert server.cli("HGET", name, "bad").strip() == raw  # left as it was

    asyncio.run(main())


def test_a_key_written_by_another_tool_that_is_not_utf8_is_a_clear_error(
    server: RedisServer, name: str
) -> None:
    # Another tool wrote a key of one byte, 0xff, which no str can name.
    server.cli("HSET", name, "ok", "1")
    server.cli("EVAL", "redis.call('HSET', KEYS[1], string.char(255), '1')", "1", name)

    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            with pytest.raises(CorruptFileError, match=r"not UTF-8: b'\\xff'"):
                await kv.keys()
            assert await kv.get("ok") == 1

    asyncio.run(main())


def test_a_name_that_holds_no_hash_is_a_clear_error(server: RedisServer, name: str) -> None:
    server.cli("SET", name, "a string")

    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            with pytest.raises(AioKVError, match=f"{name}.*WRONGTYPE"):
                await kv.set("k", 1)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"name": ""}, "cannot be empty"),
        ({"name": "n", "timeout": 0}, "timeout"),
        ({"name": "n", "edit_lease": float("inf")}, "edit_lease"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        RedisKV("redis://127.0.0.1:1/0", **kwargs)


def test_repr_and_url_never_show_the_password() -> None:
    kv = RedisKV("redis://bot:s3cret@127.0.0.1:6379/2?password=alsosecret", name="mybot")
    assert kv.url == "redis://127.0.0.1:6379/2"
    assert "s3cret" not in repr(kv) and "alsosecret" not in repr(kv)
    assert repr(kv) == "<RedisKV redis://127.0.0.1:6379/2 name='mybot' open>"


def test_aclose_during_an_edit_frees_its_key_for_other_clients(
    server: RedisServer, name: str
) -> None:
    async def main() -> None:
        kv = RedisKV(server.url, name=name, edit_lease=60)
        entered = asyncio.Event()

        async def edit() -> None:
            async with kv.edit("k", []) as value:
                entered.set()
                await asyncio.sleep(0.2)
                value.append("lost with the close")

        editing = asyncio.ensure_future(edit())
        await entered.wait()
        await kv.aclose()
        with pytest.raises(ClosedError):
            await editing
        async with RedisKV(server.url, name=name) as other:
            started = time.monotonic()
            await other.set("k", "free")  # not 60 s: the close ended the lease
            assert time.monotonic() - started < 5
            assert await other.get("k") == "free"

    asyncio.run(main())
