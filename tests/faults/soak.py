"""Campaign 6: thousands of concurrent tasks, a million mixed operations.

No operation may raise; traced memory must stay flat once warmed up (the key
space is fixed, so the state cannot grow); and after a final flush the file,
read back with the standard library, equals the in-memory state.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from aiokv import AioKV
from tests.faults.common import LONG, Result, Timer


def shaped(task: int, j: int) -> dict[str, object]:
    """The one shape of value the soak stores."""
    return {"task": task, "j": j, "tags": ["a", "b"]}


async def soak(path: Path, tasks: int, ops: int, keys: int) -> dict[str, float]:
    """Run the soak; return its figures (raises on any failure)."""
    # Traced from the start: values allocated before tracing would not count,
    # and replacing them would look like growth.
    tracemalloc.start()
    async with AioKV(path, flush_delay=0.05, max_flush_delay=0.25) as kv:
        # Every value has the shape the workers write, so the state's size is
        # steady and any growth after warm-up would be a leak.
        await kv.update({f"k{i}": shaped(-1, 0) for i in range(keys)})
        await kv.set("counter", 0)
        # The first flush builds the encoded pieces (about the file's size),
        # and a flush of many changes their map of keys (pieces.py), both
        # part of the steady state from then on; built by the first
        # background write instead, which tasks that yield with sleep(0)
        # starve of the GIL, they would land after the warm-up sample.
        await kv.flush()
        await kv.update({f"k{i}": shaped(-1, 1) for i in range(0, keys, keys // 100)})
        await kv.flush()
        done = 0
        incrs = 0
        samples: list[tuple[float, int]] = []
        per_task = ops // tasks

        async def worker(seed: int) -> None:
            nonlocal done, incrs
            rng = random.Random(seed)
            for j in range(per_task):
                key = f"k{rng.randrange(keys)}"
                r = rng.random()
                if r < 0.5:
                    await kv.get(key)
                elif r < 0.8:
                    await kv.set(key, shaped(seed, j))
                elif r < 0.9:
                    await kv.incr("counter")
                    incrs += 1
                elif r < 0.95:
                    await kv.delete(key)
                else:
                    await kv.update(
                        {key: shaped(seed, j), f"k{rng.randrange(keys)}": shaped(j, j)}
                    )
                done += 1
                if done % 1000 == 0:
                    samples.append((done / ops, tracemalloc.get_traced_memory()[0]))
                if j % 20 == 0:
                    await asyncio.sleep(0)

        try:
            await asyncio.gather(*(worker(seed) for seed in range(tasks)))
        finally:
            tracemalloc.stop()
        await kv.flush()
        assert await kv.get("counter") == incrs
        on_disk = json.loads(path.read_bytes())
        assert on_disk == await kv.get_all(), "the file differs from memory"
    warm = [m for f, m in samples if 0.25 <= f < 0.5]
    late = [m for f, m in samples if f >= 0.75]
    return {
        "ops": done,
        "warm_mib": statistics.median(warm) / 2**20,
        "late_mib": statistics.median(late) / 2**20,
    }


def run(long: bool = LONG) -> Result:
    """10,000 tasks and 1,000,000 operations (long), or a tenth of that (CI)."""
    result = Result("soak (concurrent tasks, mixed ops)")
    tasks, ops = (10_000, 1_000_000) if long else (2_000, 100_000)
    directory = Path(tempfile.mkdtemp(prefix="aiokv-soak-"))
    try:
        with Timer(result):
            start = time.perf_counter()
            try:
                figures = asyncio.run(soak(directory / "state.json", tasks, ops, 50_000))
            except Exception as e:
                result.case(False, f"{type(e).__name__}: {e}")
                return result
            growth = figures["late_mib"] - figures["warm_mib"]
            flat = growth <= 0.10 * figures["warm_mib"] + 2.0
            result.case(flat, f"memory grew {growth:.1f} MiB after warm-up")
            result.cases += int(figures["ops"]) - 1
            result.survived += int(figures["ops"]) - 1
            result.notes.append(
                f"{tasks:,} tasks, {int(figures['ops']):,} ops in "
                f"{time.perf_counter() - start:.0f} s; traced memory {figures['warm_mib']:.1f} "
                f"MiB after warm-up, {figures['late_mib']:.1f} MiB at the end"
            )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return result
