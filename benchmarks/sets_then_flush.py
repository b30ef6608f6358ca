"""Workload (b) alone, for side-by-side runs of two commits: aiokv only, no peers.

python -m benchmarks.sets_then_flush  -> milliseconds, median of 9 repetitions.

10,000 sets of (b)'s small dicts into an empty store, then one durable
flush(). The whole benchmark's (b) row moves by several percent between two
runs of one tree on a shared machine; this is that row's loop alone, so that
many alternating runs of two commits can be afforded (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from aiokv import AioKV
from benchmarks.workloads import dataset

REPS = 9
N = 10_000


async def once(path: Path, items: list[tuple[str, object]]) -> float:
    """Seconds for the sets and the durable flush into a new store at path."""
    async with AioKV(path) as kv:
        start = time.perf_counter()
        for key, value in items:
            await kv.set(key, value)
        await kv.flush()
        return time.perf_counter() - start


async def main() -> None:
    """Print the median of REPS runs, in milliseconds."""
    items = list(dataset(N).items())
    with tempfile.TemporaryDirectory() as tmp:
        times = [await once(Path(tmp, f"s{rep}.json"), items) for rep in range(REPS)]
    print(f"{1000 * statistics.median(times):.1f}")


if __name__ == "__main__":
    asyncio.run(main())
