"""kv.stats() and repr(kv): a store's health, without I/O."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from aiokv import AioKV, Stats
from tests.helpers import slow_disk_writes


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_stats_follow_the_store_through_its_life(state: Path) -> None:
    async def main() -> None:
        kv = AioKV(state, flush_delay=60, max_flush_delay=60)
        assert kv.stats() == Stats("new", 0, False, 0.0, 0, None, None, None, None)
        assert repr(kv) == f"<AioKV {str(state)!r} new>"
        await kv.update({"a": 1, "b": [1, 2]})
        await asyncio.sleep(0.05)
        stats = kv.stats()
        assert (stats.state, stats.keys, stats.dirty, stats.flushes) == ("open", 2, True, 0)
        assert 0.05 <= stats.unsaved_for < 5
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
