"""A writer killed with SIGKILL at random moments never leaves a partial file."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from pathlib import Path

from aiokv import AioKV
from tests.conftest import child, temp_files

# Every state the writer ever commits is a function of its counter n, so any
# file on disk can be checked: it must equal the state for its own n.
WRITER = """
    import asyncio, sys
    from aiokv import AioKV

    def state_for(n):
        return {"n": n, "pad": "x" * (n % 97), **{f"k{j}": n * j for j in range(2000)}}

    async def main():
        async with AioKV(sys.argv[1], flush_delay=0.002, max_flush_delay=0.01) as kv:
            print("ready", flush=True)
            n = await kv.get("n", 0)
            while True:
                n += 1
                await kv.update(state_for(n))
                if n % 7 == 0:
                    await kv.flush()
                await asyncio.sleep(0)

    asyncio.run(main())
"""


def state_for(n: int) -> dict[str, object]:
    return {"n": n, "pad": "x" * (n % 97), **{f"k{j}": n * j for j in range(2000)}}


def test_sigkill_at_random_moments_leaves_an_old_or_new_complete_file(state: Path) -> None:
    rng = random.Random(0xA10CF)
    seen: set[int] = set()
    kills = 35
    for _ in range(kills):
        proc = child(WRITER, str(state))
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.25))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            proc.kill()
            proc.wait()
        if state.exists():
            on_disk = json.loads(state.read_bytes())
            assert on_disk == state_for(on_disk["n"])
            seen.add(on_disk["n"])

        async def reopen() -> None:
            # The lock died with the writer and stale temp files are removed.
            async with AioKV(state) as kv:
                if state.exists():
                    assert await kv.get("k1") == (await kv.get("n"))

        asyncio.run(reopen())
        assert temp_files(state.parent) == []
    # Each writer went on from its predecessor's file: the kills landed while
    # states were really being written, not before the first one.
    assert len(seen) > kills // 2
