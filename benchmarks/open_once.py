"""Workload (e): one timed open in a fresh process. Run as a child.

python -m benchmarks.open_once SYSTEM PATH WARM_UP_PATH  -> prints milliseconds.

A program opens its store once, at start, so each open is timed in a fresh
process: in one long process, what the allocator kept from the previous
system's million keys decided whether the next open page-faulted, and the
same orjson.loads took from 0.5 to 1.6 s. A small store of the same system
is opened first, so imports and worker threads are not timed.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time

from benchmarks.systems import ALL


async def main(name: str, path: str, warm_up: str) -> None:
    cls = next(cls for cls in ALL if cls.name == name)
    small = cls(warm_up)
    await small.open()
    await small.get("k1")
    await small.close()
    gc.collect()
    store = cls(path)
    start = time.perf_counter()
    await store.open()
    await store.get("k1")
    print(1e3 * (time.perf_counter() - start))
    # Not closed: a store whose close writes would only waste the run's time.


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
