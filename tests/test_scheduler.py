"""aiokv/scheduler.py: the write scheduler on real files, driven without a store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aiokv.layers import Layers
from aiokv.policy import FlushPolicy
from aiokv.scheduler import WriteScheduler
from tests.helpers import held_disk_writes, read_json


def scheduler(path: Path, delay: float = 0.01, cap: float = 0.05) -> tuple[Layers, WriteScheduler]:
    layers = Layers()
    layers.open({})
    writes = WriteScheduler(
        layers, FlushPolicy(delay, cap), fsync=False, schema=None, closed=lambda: RuntimeError()
    )
    writes.start(asyncio.get_running_loop(), str(path), None)
    return layers, writes


def change(layers: Layers, writes: WriteScheduler, key: str, value: Any) -> None:
    """What a store's write does: the top layer, the change log, the count."""
    assert layers.top is not None
    if layers.snapshot is not None and key not in layers.top:
        layers.new_in_top(key)
    layers.top[key] = value
    layers.log.stored(key)
    writes.changed()


def test_a_change_reaches_the_disk_by_the_timer_and_the_figures_say_so(tmp_path: Path) -> None:
    async def main() -> None:
        layers, writes = scheduler(tmp_path / "s.json")
        change(layers, writes, "a", 1)
        assert writes.dirty and writes.timer is not None
        for _ in range(200):
            await asyncio.sleep(0.01)
            if not writes.dirty:
                break
        assert read_json(tmp_path / "s.json") == {"a": 1}
        assert writes.flushes == 1 and writes.last_error is None
        assert writes.last_flush is not None and writes.last_flush[2] == len(b'{"a":1}')
        assert writes.unsaved_for() == 0.0 and writes.timer is None
        writes.stop()

    asyncio.run(main())


def test_flushes_share_the_write_under_way_and_a_later_change_gets_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, let_go = held_disk_writes(monkeypatch)

    async def main() -> None:
        layers, writes = scheduler(tmp_path / "s.json", delay=60, cap=60)
        change(layers, writes, "a", 1)
        let_go.clear()
        first = asyncio.create_task(writes.flush())
        second = asyncio.create_task(writes.flush())
        await asyncio.to_thread(started.wait)
        change(layers, writes, "b", 2)  # into the top layer, over the frozen snapshot
        third = asyncio.create_task(writes.flush())
        await asyncio.sleep(0.01)
        assert layers.view() == {"a": 1, "b": 2}
        let_go.set()
        await asyncio.gather(first, second, third)
        assert writes.flushes == 2 and read_json(tmp_path / "s.json") == {"a": 1, "b": 2}
        writes.stop()

    asyncio.run(main())


def test_a_failed_write_keeps_the_changes_and_flush_raises_it(tmp_path: Path) -> None:
    async def main() -> None:
        layers, writes = scheduler(tmp_path / "missing-dir" / "s.json", delay=60, cap=60)
        change(layers, writes, "a", 1)
        with pytest.raises(FileNotFoundError):
            await writes.flush()
        assert writes.dirty and isinstance(writes.last_error, FileNotFoundError)
        assert writes.timer is not None  # the retry, by the policy's backoff
        writes.stop()
        assert writes.timer is None

    asyncio.run(main())


def test_an_emptied_state_removes_the_file(tmp_path: Path) -> None:
    async def main() -> None:
        layers, writes = scheduler(tmp_path / "s.json", delay=60, cap=60)
        change(layers, writes, "a", 1)
        await writes.flush()
        layers.empty()
        writes.forget_pieces()
        writes.changed()
        await writes.flush()
        assert not (tmp_path / "s.json").exists() and writes.flushes == 2
        writes.stop()

    asyncio.run(main())


def test_save_at_exit_writes_what_is_unsaved_with_blocking_io(tmp_path: Path) -> None:
    async def main() -> None:
        layers, writes = scheduler(tmp_path / "s.json", delay=60, cap=60)
        change(layers, writes, "a", [1])
        writes.stop()
        writes.save_at_exit()
        assert read_json(tmp_path / "s.json") == {"a": [1]} and not writes.dirty

    asyncio.run(main())
