"""The AioKV API and its semantics, on real files in a temp directory."""

from __future__ import annotations

import asyncio
import enum
import itertools
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import aiokv
from aiokv import AioKV, ClosedError, codec
from tests.helpers import read_json, recorded_disk_writes, slow_disk_writes, temp_files

EVERY_JSON_TYPE: dict[str, Any] = {
    "str": "ping",
    "unicode": "héllo ✓ 😀",
    "empty": "",
    "int": 42,
    "negative": -7,
    "int_min": -(2**63),
    "int_max": 2**64 - 1,
    "float": 3.25,
    "tiny": 5e-324,
    "neg_zero": -0.0,
    "big_float": 1.7976931348623157e308,
    "true": True,
    "false": False,
    "none": None,
    "list": [1, "two", 3.0, None, [True, []]],
    "dict": {"nested": {"deeper": [{"x": 1}]}, "": "empty key"},
}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_seed_readme_bare_usage_still_works(state: Path) -> None:
    async def main() -> None:
        kv = AioKV(str(state))
        before = int(time.time())
        await kv.set("last_command", "ping")
        await kv.set("seen_ran_cleanup")
        assert await kv.get("last_command") == "ping"
        when = await kv.get("seen_ran_cleanup")
        assert type(when) is int and before <= when <= int(time.time())
        assert await kv.get("absent", default=0) == 0
        assert await kv.get("absent") is None
        assert await kv.delete("last_command") is True
        assert await kv.delete("last_command") is True
        assert await kv.get_all() == {"seen_ran_cleanup": when}
        await kv.flush()
        assert read_json(state) == {"seen_ran_cleanup": when}
        assert await kv.clear() is True
        assert not state.exists()
        assert await kv.get_all() == {}
        await kv.aclose()

    run(main())


def test_constructor_does_no_io(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "state.json"
    kv = AioKV(path)  # a directory that does not exist: nothing happens yet
    assert kv.path == str(path)
    assert not path.parent.exists()
    with pytest.raises(FileNotFoundError) as raised:
        run(kv.get("x"))
    # Named as the user named it, not as the lock file beside it.
    assert raised.value.filename == str(path) and "lock file" in raised.value.strerror


def test_aiocache_is_the_same_class() -> None:
    assert aiokv.aiocache is AioKV


def test_every_json_type_survives_a_restart(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            for key, value in EVERY_JSON_TYPE.items():
                await kv.set(key, value)
            before = await kv.get_all()
        async with AioKV(state) as kv:
            after = await kv.get_all()
        assert after == before == EVERY_JSON_TYPE
        for key, value in EVERY_JSON_TYPE.items():
            assert type(after[key]) is type(value), key
        assert str(after["neg_zero"]) == "-0.0"
        assert read_json(state) == EVERY_JSON_TYPE

    run(main())


def test_tuple_is_stored_as_list_at_once(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("t", (1, (2, 3)))
            assert await kv.get("t") == [1, [2, 3]]

    run(main())


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), 2**64, {1: 2}, {1, 2}, b"x", object(), "\ud800"]
)
def test_refused_value_leaves_store_and_file_unchanged(state: Path, bad: Any) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("k", "old")
            await kv.flush()
            before = state.read_bytes()
            with pytest.raises((TypeError, ValueError)):
                await kv.set("k", bad)
            with pytest.raises((TypeError, ValueError)):
                await kv.set("other", {"nested": [bad]})
            with pytest.raises((TypeError, ValueError)):
                await kv.update({"fine": 1, "k": bad})
            assert await kv.get_all() == {"k": "old"}
            await kv.flush()
            assert state.read_bytes() == before
            # A refused value never poisons a later flush.
            await kv.set("k", "new")
            await kv.flush()
        assert read_json(state) == {"k": "new"}

    run(main())


@pytest.mark.parametrize("key", [1, None, b"k", ("t",)])
def test_non_str_key_raises_type_error_and_changes_nothing(state: Path, key: Any) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("k", 1)
            for op in (kv.set(key, 1), kv.get(key), kv.delete(key), kv.has(key), kv.incr(key)):
                with pytest.raises(TypeError, match="keys must be str"):
                    await op
            with pytest.raises(TypeError):
                await kv.update({key: 1})
            assert await kv.get_all() == {"k": 1}

    run(main())


def test_values_are_isolated_both_ways(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            value = {"list": [1, 2], "inner": {"a": 1}}
            await kv.set("v", value)
            value["list"].append(3)
            value["inner"]["a"] = 2
            got = await kv.get("v")
            assert got == {"list": [1, 2], "inner": {"a": 1}}
            got["list"].append(99)
            everything = await kv.get_all()
            everything["v"]["inner"]["a"] = 42
            everything["new"] = 1
            batch = {"b": [1]}
            await kv.update(batch)
            batch["b"].append(2)
            assert await kv.get_all() == {"v": {"list": [1, 2], "inner": {"a": 1}}, "b": [1]}

    run(main())


def test_has_keys_update_incr(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            assert not await kv.has("a")
            await kv.update({"a": 1, "b": "two"})
            assert await kv.has("a")
            assert sorted(await kv.keys()) == ["a", "b"]
            assert await kv.incr("hits") == 1
            assert await kv.incr("hits", 10) == 11
            assert await kv.incr("a", -1) == 0
            assert await kv.incr("f", 0.5) == 0.5
            with pytest.raises(TypeError, match="is a string, not a number"):
                await kv.incr("b")
            await kv.set("obj", {"n": 1})
            await kv.get("obj")  # tagged internally on first read
            with pytest.raises(TypeError, match="is an object, not a number"):
                await kv.incr("obj")
            await kv.delete("obj")
            with pytest.raises(TypeError):
                await kv.incr("a", True)
            with pytest.raises(ValueError):
                await kv.incr("a", 2**64)
            with pytest.raises(TypeError, match="mapping"):
                await kv.update([("x", 1)])  # type: ignore[arg-type]
            assert await kv.get_all() == {"a": 0, "b": "two", "hits": 11, "f": 0.5}

    run(main())


def test_incr_loses_no_update_between_tasks(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state, flush_delay=0) as kv:

            async def bump() -> None:
                for _ in range(200):
                    await kv.incr("n")
                    await asyncio.sleep(0)

            await asyncio.gather(*(bump() for _ in range(50)))
            assert await kv.get("n") == 10_000
        assert read_json(state) == {"n": 10_000}

    run(main())


def test_missing_file_is_empty_and_appears_only_after_a_change(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state, flush_delay=0) as kv:
            assert await kv.get_all() == {}
            await kv.flush()
            await asyncio.sleep(0.05)
            assert not state.exists()
            await kv.set("a", 1)
            await kv.flush()
            assert read_json(state) == {"a": 1}

    run(main())
    assert oct(state.stat().st_mode & 0o777) == "0o600"


def test_flush_with_nothing_changed_writes_nothing(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = recorded_disk_writes(monkeypatch)

    async def main() -> None:
        async with AioKV(state, flush_delay=60, max_flush_delay=60) as kv:
            await kv.set("a", 1)
            await kv.flush()
            assert len(writes) == 1
            await kv.flush()
            await kv.delete("absent")
            await kv.flush()
            assert len(writes) == 1

    run(main())
    assert len(writes) == 1


def test_burst_of_5000_sets_costs_a_handful_of_writes(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = recorded_disk_writes(monkeypatch)

    async def main() -> None:
        async with AioKV(state, flush_delay=0.05, max_flush_delay=1.0) as kv:
            for i in range(5000):
                await kv.set(f"k{i}", i)
            await kv.flush()
            # flush() returned: everything is durable, read back independently.
            on_disk = json.loads(state.read_bytes())
            assert on_disk == {f"k{i}": i for i in range(5000)}
            assert 1 <= len(writes) <= 3

    run(main())


def test_debounce_waits_for_quiet(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes = recorded_disk_writes(monkeypatch)

    async def main() -> None:
        async with AioKV(state, flush_delay=0.3, max_flush_delay=10) as kv:
            await kv.set("a", 1)
            await asyncio.sleep(0.1)
            assert len(writes) == 0 and not state.exists()
            await asyncio.sleep(0.6)
            assert len(writes) == 1
            assert read_json(state) == {"a": 1}

    run(main())


def test_cap_holds_under_a_never_pausing_writer(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = recorded_disk_writes(monkeypatch)
    cap = 0.3

    async def main() -> None:
        async with AioKV(state, flush_delay=0.2, max_flush_delay=cap, fsync=False) as kv:
            history: list[tuple[float, int]] = []
            start = time.monotonic()
            n = 0
            while time.monotonic() - start < 2.0:
                n += 1
                await kv.set("n", n)
                history.append((time.monotonic(), n))
                await asyncio.sleep(0.005)  # never quiet for flush_delay
                if state.exists():
                    # What is on disk was set no longer ago than the cap
                    # (plus one write's time and scheduling slack).
                    on_disk = read_json(state)["n"]
                    now = time.monotonic()
                    floor = max((v for t, v in history if t <= now - cap - 0.15), default=0)
                    assert on_disk >= floor
            assert state.exists()
            assert 2.0 / cap - 2 <= len(writes) <= 2.0 / cap + 2

    run(main())


def test_concurrent_flushes_share_one_write(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes = recorded_disk_writes(monkeypatch)

    async def main() -> None:
        async with AioKV(state, flush_delay=60, max_flush_delay=60) as kv:
            await kv.update({f"k{i}": i for i in range(1000)})
            await asyncio.gather(*(kv.flush() for _ in range(20)))
            assert len(writes) == 1
            assert len(read_json(state)) == 1000

    run(main())


def test_clear_is_never_undone_by_a_pending_flush(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The old snapshot is still being written when clear() runs.
    writing = slow_disk_writes(monkeypatch, 0.3)

    async def main() -> None:
        async with AioKV(state, flush_delay=0, max_flush_delay=0) as kv:
            await kv.update({"old": 1, "older": 2})
            while not writing.is_set():
                await asyncio.sleep(0.01)
            assert await kv.clear() is True
            assert not state.exists()
            await asyncio.sleep(0.5)
            assert not state.exists()
            assert await kv.get_all() == {}
        assert not state.exists()
        async with AioKV(state) as kv:
            assert await kv.get_all() == {}

    run(main())


def test_set_after_clear_is_persisted(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state, flush_delay=0) as kv:
            await kv.set("a", 1)
            await kv.flush()
            await kv.clear()
            await kv.set("b", 2)
        assert read_json(state) == {"b": 2}

    run(main())


def test_closed_store_raises_clear_error_and_aclose_is_idempotent(state: Path) -> None:
    async def main() -> None:
        kv = AioKV(state)
        await kv.set("a", 1)
        await kv.aclose()
        await kv.aclose()
        for op in (
            kv.get("a"),
            kv.set("a", 2),
            kv.delete("a"),
            kv.clear(),
            kv.flush(),
            kv.get_all(),
            kv.has("a"),
            kv.keys(),
            kv.incr("a"),
            kv.update({}),
        ):
            with pytest.raises(ClosedError, match=r"state\.json"):
                await op
        assert isinstance(ClosedError(str(state)), aiokv.AioKVError)
        assert read_json(state) == {"a": 1}
        # A store closed before any use does no I/O and stays closed.
        never = AioKV(state)
        await never.aclose()
        with pytest.raises(ClosedError):
            await never.get("a")

    run(main())


def test_store_belongs_to_its_first_loop(state: Path) -> None:
    kv = AioKV(state)
    owner = asyncio.new_event_loop()
    try:
        owner.run_until_complete(kv.set("a", 1))
        for op in (
            lambda: kv.set("a", 2),
            lambda: kv.delete("a"),
            kv.flush,
            kv.get_all,
            kv.aclose,
        ):
            with pytest.raises(RuntimeError, match="another loop"):
                run(op())
        # Reads are plain memory lookups with no background work: any loop may read.
        assert run(kv.get("a")) == 1
        owner.run_until_complete(kv.aclose())
    finally:
        owner.close()
    assert read_json(state) == {"a": 1}


def test_store_follows_its_loop_to_another_thread_and_refuses_the_thread_it_left(
    state: Path,
) -> None:
    # set() asks whether its loop runs in the caller's thread: a loop run on
    # in another thread takes the store along, and the thread it left, on a
    # loop of its own, is refused while the store's loop runs elsewhere.
    kv = AioKV(state)
    owner = asyncio.new_event_loop()
    try:
        owner.run_until_complete(kv.set("a", 1))
        thread = threading.Thread(target=owner.run_forever)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(kv.set("a", 2), owner).result(5)
            with pytest.raises(RuntimeError, match="another loop"):
                run(kv.set("a", 3))
            asyncio.run_coroutine_threadsafe(kv.aclose(), owner).result(5)
        finally:
            owner.call_soon_threadsafe(owner.stop)
            thread.join(5)
    finally:
        owner.close()
    assert read_json(state) == {"a": 2}


def test_a_loop_that_is_no_asyncio_loop_owns_its_store_alike(state: Path) -> None:
    # uvloop's loop keeps no _thread_id: set() asks asyncio for the running loop.
    uvloop = pytest.importorskip("uvloop")
    kv = AioKV(state)
    owner = uvloop.new_event_loop()
    try:
        owner.run_until_complete(kv.set("a", 1))
        assert not isinstance(owner, asyncio.BaseEventLoop)
        for other in (asyncio.new_event_loop, uvloop.new_event_loop):
            elsewhere = other()
            try:
                with pytest.raises(RuntimeError, match="another loop"):
                    elsewhere.run_until_complete(kv.set("a", 2))
            finally:
                elsewhere.close()
        owner.run_until_complete(kv.set("a", 3))
        owner.run_until_complete(kv.aclose())
    finally:
        owner.close()
    assert read_json(state) == {"a": 3}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"flush_delay": -1}, ValueError),
        ({"flush_delay": float("nan")}, ValueError),
        ({"flush_delay": float("inf")}, ValueError),
        ({"flush_delay": "1"}, TypeError),
        ({"flush_delay": True}, TypeError),
        ({"max_flush_delay": -0.5}, ValueError),
        ({"flush_delay": 3, "max_flush_delay": 2}, ValueError),
        ({"fsync": 1}, TypeError),
        ({"fsync": None}, TypeError),
    ],
)
def test_bad_knobs_raise_at_the_constructor(
    state: Path, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        AioKV(state, **kwargs)


def test_bytes_path_is_refused(state: Path) -> None:
    with pytest.raises(TypeError, match="path"):
        AioKV(os.fsencode(state))  # type: ignore[arg-type]


def test_background_failure_is_logged_retried_and_raised_by_flush(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with AioKV(state, flush_delay=0.01, max_flush_delay=0.05) as kv:
            await kv.set("a", 1)
            await kv.flush()
            good = state.read_bytes()
            # A real failure: a directory now stands where the file is
            # replaced, so os.replace() fails with EISDIR.
            state.unlink()
            state.mkdir()
            (state / "x").touch()
            await kv.set("a", 2)
            await asyncio.sleep(0.5)
            failures = [r for r in caplog.records if r.name == "aiokv"]
            assert len(failures) >= 2, "the background flush was not retried"
            assert str(state) in failures[0].getMessage()
            assert await kv.get("a") == 2  # kept in memory
            with pytest.raises(OSError, match=r"state\.json") as info:
                await kv.flush()
            assert info.value.filename == str(state)
            assert temp_files(state.parent) == []
            # The fault goes away: the same process persists what it accepted.
            (state / "x").unlink()
            state.rmdir()
            state.write_bytes(good)
            await kv.flush()
            assert read_json(state) == {"a": 2}

    with caplog.at_level(logging.ERROR, logger="aiokv"):
        run(main())


@pytest.mark.parametrize("failing", ["flush", "aclose"])
def test_once_an_outage_ends_later_changes_are_due_within_the_cap_again(
    state: Path, caplog: pytest.LogCaptureFixture, failing: str
) -> None:
    # A run of failed writes (of flush(), or of aclose(), which then leaves
    # the store open) arms a retry after the backoff, up to 30 s. Once a
    # flush() gets through, a later change is due within max_flush_delay
    # again, not at that retry: a crash meanwhile would lose more than the cap.
    async def main() -> None:
        async with AioKV(state, flush_delay=0.01, max_flush_delay=0.1, fsync=False) as kv:
            await kv.set("a", 1)
            state.mkdir()  # a real failure: os.replace() onto a directory
            try:
                for _ in range(12):  # the backoff reaches its bound
                    with pytest.raises(IsADirectoryError):
                        await (kv.flush() if failing == "flush" else kv.aclose())
                await asyncio.sleep(0.3)  # a timer armed meanwhile has fired and re-armed
            finally:
                state.rmdir()
            await kv.flush()
            await kv.set("b", 2)
            deadline = time.monotonic() + 10  # the cap, with a shared machine's slack
            while read_json(state).get("b") != 2:
                assert time.monotonic() < deadline, "the change waited for the outage's retry"
                await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger="aiokv"):
        run(main())


def test_failed_final_flush_keeps_the_store_open(state: Path) -> None:
    async def main() -> None:
        kv = AioKV(state, flush_delay=60, max_flush_delay=60)
        await kv.set("a", 1)
        state.mkdir()
        with pytest.raises(IsADirectoryError):
            await kv.aclose()
        assert await kv.get("a") == 1  # not closed, nothing dropped
        state.rmdir()
        await kv.aclose()
        assert read_json(state) == {"a": 1}

    run(main())


def test_cancelling_a_flushing_task_leaves_no_half_write(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state, flush_delay=60, max_flush_delay=60) as kv:
            big = {f"key{i}": "v" * 50 for i in range(50_000)}
            await kv.update(big)
            versions = [dict(big)]  # every state the store had, in order
            for n in range(5):
                task = asyncio.create_task(kv.flush())
                await asyncio.sleep(0.001)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                if state.exists():
                    # A whole version: the cancelled write may still be
                    # finishing an earlier snapshot, never half of one.
                    assert read_json(state) in versions
                await kv.set("key0", f"changed {n}")
                big["key0"] = f"changed {n}"
                versions.append(dict(big))
            await kv.flush()
            assert read_json(state) == big
            assert temp_files(state.parent) == []

    run(main())


def test_get_all_of_a_corrupt_file_raises_and_delete_clear_return_false(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state.write_bytes(b'{"a": 1')
    before = state.stat()

    async def main() -> None:
        kv = AioKV(state)
        with pytest.raises(aiokv.CorruptFileError, match=r"state\.json"):
            await kv.get_all()
        with pytest.raises(aiokv.CorruptFileError):
            await kv.set("a", 2)
        assert await kv.delete("a") is False
        assert await kv.clear() is False
        await kv.aclose()

    run(main())
    assert any("state.json" in r.getMessage() for r in caplog.records if r.name == "aiokv")
    after = state.stat()
    assert state.read_bytes() == b'{"a": 1'
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_cancelling_every_task_never_overlaps_or_reorders_writes(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some frameworks cancel all tasks at shutdown; the background write must
    # still finish before the next one starts, or an old snapshot lands last.
    slow_disk_writes(monkeypatch, 0.2)
    writes = recorded_disk_writes(monkeypatch)

    async def main() -> None:
        async with AioKV(state, flush_delay=0, max_flush_delay=0) as kv:
            await kv.set("gen", "old")
            await asyncio.sleep(0.05)  # the background write of "old" is under way
            me = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not me:
                    task.cancel()
            await kv.set("gen", "new")
            await kv.flush()
            assert read_json(state) == {"gen": "new"}
        await asyncio.sleep(0.3)
        assert read_json(state) == {"gen": "new"}

    run(main())
    assert all(a.ended <= b.started for a, b in itertools.pairwise(writes)), "writes overlapped"
    assert writes[-1].state == {"gen": "new"}


def test_an_empty_store_has_no_file(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state, flush_delay=0) as kv:
            await kv.set("a", 1)
            await kv.flush()
            assert state.exists()
            await kv.delete("a")
            await kv.flush()
            assert not state.exists()
            await kv.set("b", 2)
        assert read_json(state) == {"b": 2}

    run(main())


def test_reads_and_writes_during_a_write_see_the_current_state(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While a write encodes its snapshot of the state, the changes made
    # meanwhile are kept apart; every operation must see the snapshot with
    # those changes, and none may leak into the snapshot being written.
    started = slow_disk_writes(monkeypatch, 0.3)
    writes = recorded_disk_writes(monkeypatch)  # each write's state, as it ended

    async def main() -> None:
        async with AioKV(state, flush_delay=60, max_flush_delay=60) as kv:
            await kv.update({"keep": 1, "gone": 2, "change": 3, "n": 10, "obj": {"a": 1}})
            pending = asyncio.create_task(kv.flush())
            while not started.is_set():
                await asyncio.sleep(0.01)
            await kv.delete("gone")
            await kv.set("change", 30)
            await kv.set("new", 4)
            assert await kv.incr("n", 5) == 15
            await kv.delete("new")
            await kv.set("new", 5)  # deleted, then set again, during the write
            assert await kv.get("gone") is None and not await kv.has("gone")
            assert await kv.get("keep") == 1 and await kv.has("keep")
            assert await kv.get("obj") == {"a": 1}
            expected = {"keep": 1, "change": 30, "n": 15, "obj": {"a": 1}, "new": 5}
            assert await kv.get_all() == expected
            assert sorted(await kv.keys()) == sorted(expected)
            await pending
            assert writes[0].state == {"keep": 1, "gone": 2, "change": 3, "n": 10, "obj": {"a": 1}}
            assert await kv.get_all() == expected
            await kv.flush()
            assert read_json(state) == expected

    run(main())


class Command(str, enum.Enum):
    LAST = "last"


class Label(str):
    pass


@pytest.mark.parametrize(
    "key", [Command.LAST, Label("last")], ids=["StrEnum-like", "str subclass"]
)
def test_str_subclass_keys_are_their_string_value_in_every_method(state: Path, key: str) -> None:
    # 0.1 stored Command.LAST as "Command.LAST" through set() but looked it
    # up raw through get(): read-your-writes broke both ways.
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set(key, "ping")
            assert await kv.get(key) == "ping" and await kv.get("last") == "ping"
            assert await kv.has(key) and await kv.has("last")
            keys = await kv.keys()
            assert keys == ["last"] and type(keys[0]) is str
            await kv.set("last", "pong")
            assert await kv.get(key) == "pong"
            assert await kv.delete(key) is True
            assert not await kv.has("last")
            assert await kv.incr(key, 2) == 2 and await kv.get("last") == 2
            await kv.update({key: {"a": 1}})
            assert await kv.get("last") == {"a": 1}
            assert [type(k) for k in await kv.get_all()] == [str]
            await kv.flush()
            assert read_json(state) == {"last": {"a": 1}}

    run(main())


def test_get_from_another_thread_never_undoes_a_set(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0.1's get() wrote a tagged copy of a container back into the dict, so
    # a read in another thread that a set() overtook put the old value back.
    # The overtaking is forced: tagging, if a foreign thread does it, waits
    # until the loop has set a new value.
    state.write_bytes(b'{"k": {"old": 1}}')  # a container from the file: untagged
    inside, overtaken = threading.Event(), threading.Event()
    real_tag = codec.tag

    def tag_overtaken(value: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            inside.set()
            overtaken.wait(5)
        return real_tag(value)

    monkeypatch.setattr(codec, "tag", tag_overtaken)

    async def main() -> None:
        async with AioKV(state) as kv:
            got: list[Any] = []

            def reader() -> None:
                coro = kv.get("k")  # a memory read: it never suspends
                try:
                    coro.send(None)
                except StopIteration as done:
                    got.append(done.value)

            thread = threading.Thread(target=reader)
            thread.start()
            while not inside.is_set() and thread.is_alive():
                time.sleep(0.001)
            await kv.set("k", {"new": 2})
            overtaken.set()
            thread.join()
            assert got == [{"old": 1}]
            assert await kv.get("k") == {"new": 2}
            await kv.flush()
        assert read_json(state) == {"k": {"new": 2}}

    run(main())


def test_reads_from_a_thread_without_a_loop_work_and_writes_are_refused(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("k", [1, 2])
            outcome: dict[str, Any] = {}

            def other_thread() -> None:
                coro = kv.get("k")
                try:
                    coro.send(None)
                except StopIteration as done:
                    outcome["get"] = done.value
                try:
                    asyncio.run(kv.set("k", 3))
                except RuntimeError as e:
                    outcome["set"] = e

            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join()
            assert outcome["get"] == [1, 2]
            assert "another loop" in str(outcome["set"])
            assert await kv.get("k") == [1, 2]

    run(main())


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda: _nested(300), "nests containers more than 253"),
        (lambda: _cycle(), "contains itself"),
        (lambda: [enum.IntEnum("L", "A").A], "is not a JSON type"),
    ],
    ids=["too deep", "cycle", "IntEnum inside"],
)
def test_a_refused_value_never_poisons_later_flushes(state: Path, bad: Any, message: str) -> None:
    # 0.1 accepted a value nested past orjson's limit; every later flush,
    # aclose() and exit save then failed and every later write was lost.
    async def main() -> None:
        async with AioKV(state, flush_delay=0) as kv:
            await kv.set("good", 1)
            with pytest.raises(
                ValueError if "JSON type" not in message else TypeError, match=message
            ):
                await kv.set("bad", bad())
            with pytest.raises((TypeError, ValueError), match=message):
                await kv.update({"fine": 2, "bad": bad()})
            await kv.set("later", 2)
            await kv.flush()
        assert read_json(state) == {"good": 1, "later": 2}

    run(main())


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _cycle() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value
