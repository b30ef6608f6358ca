"""kv.stats() and repr(kv): a store's health, without I/O."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from aiokv import AioKV, Stats
from tests.helpers import held_disk_writes, slow_disk_writes


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_stats_follow_the_store_through_its_life(state: Path) -> None:
    async def main() -> None:
        kv = AioKV(state, flush_delay=60, max_flush_delay=60)
        assert kv.stats() == Stats("new", 0, False, 0.0, 0, None, None, None, None)
        assert repr(kv) == f"<AioKV {str(state)!r} new>"
        started = time.monotonic()
        await kv.update({"a": 1, "b": [1, 2]})
        changed = time.monotonic()  # the change is counted from before this
        await asyncio.sleep(0.05)
        # Bracketed by the clock itself: a sleep may end a hair before 0.05 s
        # by the monotonic clock (it did once, at 0.0499 s, on CI).
        asked = time.monotonic()
        stats = kv.stats()
        assert (stats.state, stats.keys, stats.dirty, stats.flushes) == ("open", 2, True, 0)
        assert asked - changed <= stats.unsaved_for <= time.monotonic() - started
        assert repr(kv) == f"<AioKV {str(state)!r} open, 2 keys, dirty>"
        before = time.time()
        await kv.flush()
        stats = kv.stats()
        assert (stats.dirty, stats.unsaved_for, stats.flushes) == (False, 0.0, 1)
        assert stats.last_flush_bytes == state.stat().st_size
        assert stats.last_flush_at is not None and before <= stats.last_flush_at <= time.time()
        assert stats.last_flush_seconds is not None and 0 < stats.last_flush_seconds < 5
        assert stats.last_error is None
        assert repr(kv).endswith("open, 2 keys, saved>")
        await kv.clear()
        assert kv.stats().last_flush_bytes == 0  # the empty store's file was removed
        assert kv.stats().flushes == 2
        await kv.aclose()
        assert kv.stats().state == "closed" and kv.stats().keys == 0

    run(main())


def test_stats_report_a_failed_flush_until_one_succeeds(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    path = home / "state.json"

    async def main() -> None:
        async with AioKV(path, flush_delay=60, max_flush_delay=60) as kv:
            await kv.set("a", 1)
            home.rename(tmp_path / "elsewhere")  # a real failure, even as root
            with pytest.raises(OSError):
                await kv.flush()
            stats = kv.stats()
            assert stats.dirty and isinstance(stats.last_error, OSError)
            assert stats.flushes == 0 and stats.last_flush_at is None
            (tmp_path / "elsewhere").rename(home)
            await kv.flush()
            assert kv.stats().last_error is None and kv.stats().flushes == 1

    run(main())


def test_the_key_count_is_right_while_a_write_runs(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writing = slow_disk_writes(monkeypatch)

    async def main() -> None:
        async with AioKV(state, flush_delay=60, max_flush_delay=60) as kv:
            await kv.update({"a": 1, "b": 2, "c": 3})
            flushing = asyncio.create_task(kv.flush())
            await asyncio.to_thread(writing.wait)  # the snapshot is frozen now
            await kv.delete("a")  # in the snapshot: a deletion marker
            await kv.set("d", 4)  # new
            await kv.set("b", 5)  # in the snapshot already
            await kv.delete("d")  # new, then gone
            await kv.set("e", 6)
            assert kv.stats().keys == len(await kv.get_all()) == 3
            await flushing

    run(main())


def test_unsaved_for_counts_from_the_oldest_change_through_an_outage(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every failed write, explicit or a background retry, leaves its changes
    # unsaved: they have waited since they were made, not since the retry.
    def failures() -> int:
        return sum("flush of" in r.getMessage() for r in caplog.records if r.name == "aiokv")

    async def outage(kv: AioKV) -> None:
        await kv.set("a", 1)
        since = time.monotonic()
        state.mkdir()  # a real failure: os.replace() onto a directory
        with pytest.raises(IsADirectoryError):
            await kv.flush()
        deadline = time.monotonic() + 30
        while failures() < 4:  # the explicit write, then background retries
            assert time.monotonic() < deadline, "the store did not retry"
            await asyncio.sleep(0.01)
        waited = time.monotonic() - since
        stats = kv.stats()
        assert stats.dirty and stats.unsaved_for >= waited
        assert isinstance(stats.last_error, IsADirectoryError)
        assert (stats.flushes, stats.last_flush_at, stats.last_flush_bytes) == (0, None, None)
        state.rmdir()  # the disk is back: the next retry saves it
        while kv.stats().dirty:
            assert time.monotonic() < deadline, "the store did not save after the outage"
            await asyncio.sleep(0.01)
        stats = kv.stats()
        assert (stats.unsaved_for, stats.flushes, stats.last_error) == (0.0, 1, None)
        assert stats.last_flush_bytes == state.stat().st_size

    async def main() -> None:
        async with AioKV(state, flush_delay=0.01, max_flush_delay=0.05, fsync=False) as kv:
            try:
                await outage(kv)
            finally:
                if state.is_dir():
                    state.rmdir()  # a failed check must not keep the store from closing

    with caplog.at_level(logging.ERROR, logger="aiokv"):
        run(main())


def test_unsaved_for_counts_the_changes_a_write_under_way_carries(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, let_go = held_disk_writes(monkeypatch)

    async def changes(kv: AioKV) -> None:
        await kv.set("a", 1)
        since = time.monotonic()
        await asyncio.sleep(0.05)
        let_go.clear()
        began = time.monotonic()
        flushing = asyncio.create_task(kv.flush())
        await asyncio.to_thread(started.wait)  # "a" is being written, not yet on disk
        await kv.set("b", 2)
        waited = time.monotonic() - since
        assert kv.stats().unsaved_for >= waited
        let_go.set()
        await flushing
        # Only "b" is unsaved now: it waits from the write's start at most.
        stats = kv.stats()
        assert stats.dirty and stats.unsaved_for <= time.monotonic() - began

    async def main() -> None:
        async with AioKV(state, flush_delay=60, max_flush_delay=60) as kv:
            try:
                await changes(kv)
            finally:
                let_go.set()  # a failed check must not leave the write held

    run(main())
