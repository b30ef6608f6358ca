"""One owner per file: in this process, in another, and after a kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from aiokv import AioKV, LockedError
from tests.helpers import child

HOLD = """
    import asyncio, sys
    from aiokv import AioKV

    async def main():
        async with AioKV(sys.argv[1]) as kv:
            await kv.set("holder", "child")
            await kv.flush()
            print("locked", flush=True)
            await asyncio.sleep(60)

    asyncio.run(main())
"""


def test_second_opener_in_the_same_process_is_refused(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("a", 1)
            with pytest.raises(LockedError) as info:
                async with AioKV(state):
                    pass
            assert str(state) in str(info.value)
            assert f"pid {os.getpid()}" in str(info.value)
            assert info.value.pid == os.getpid()
            assert await kv.get("a") == 1
        async with AioKV(state) as kv:  # released by aclose()
            assert await kv.get("a") == 1

    asyncio.run(main())


def test_symlink_and_relative_paths_meet_the_same_lock(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = state.parent / "alias.json"
    link.symlink_to(state)
    sub = state.parent / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)

    async def main() -> None:
        async with AioKV(state):
            for other in (link, "../state.json", f"{state.parent}/./sub/../state.json"):
                with pytest.raises(LockedError, match=r"state\.json"):
                    await AioKV(other).__aenter__()

    asyncio.run(main())


def test_lock_holds_across_processes_and_dies_with_a_killed_holder(state: Path) -> None:
    holder = child(HOLD, str(state))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"

        async def refused() -> None:
            with pytest.raises(LockedError, match=f"pid {holder.pid}"):
                async with AioKV(state):
                    pass

        asyncio.run(refused())
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        assert holder.returncode == -signal.SIGKILL
    finally:
        holder.kill()
        holder.wait()

    async def reopened() -> None:
        async with AioKV(state) as kv:
            assert await kv.get("holder") == "child"

    asyncio.run(reopened())


def test_this_process_refuses_while_a_child_holds_then_child_is_refused(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("parent", 1)
            proc = child(HOLD, str(state))
            _, err = proc.communicate(timeout=30)
            assert proc.returncode != 0
            assert "LockedError" in err and f"pid {os.getpid()}" in err

    asyncio.run(main())
