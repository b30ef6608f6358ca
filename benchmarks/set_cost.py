"""Where the time of workload (b)'s sets goes: the steps of a set, each timed alone.

python -m benchmarks.set_cost  -> nanoseconds per set, medians of 7 repetitions.

(b) is 10,000 sets of small dicts, then one durable flush. Each row here runs
one step 10,000 times over (b)'s data, the rows interleaved in every
repetition, so that their differences say what each step of a set costs on
this machine and this Python: the floor's dict assignment, aiokv's whole set,
its set of a string (no container to check or copy), the check that the
caller runs in the thread of the store's loop, and the value's checks with
its private copy.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokv import AioKV, codec
from benchmarks.workloads import dataset, str_value

REPS = 7
N = 10_000


async def floor_set(d: dict[str, Any], key: str, value: Any) -> None:
    d[key] = value


async def main() -> None:
    dicts = list(dataset(N).items())
    strs = list(dataset(N, str_value).items())
    rows: dict[str, list[float]] = {}

    def add(label: str, seconds: float) -> None:
        rows.setdefault(label, []).append(1e9 * seconds / N)

    async def sets(tmp: str, name: str, items: list[tuple[str, Any]]) -> float:
        async with AioKV(Path(tmp, name)) as kv:
            start = time.perf_counter()
            for key, value in items:
                await kv.set(key, value)
            return time.perf_counter() - start

    async def timed(run: Callable[[], Awaitable[None]]) -> float:
        start = time.perf_counter()
        await run()
        return time.perf_counter() - start

    async def floor() -> None:
        d: dict[str, Any] = {}
        for key, value in dicts:
            await floor_set(d, key, value)

    async def owner_checks() -> None:
        loop: Any = asyncio.get_running_loop()
        this_thread = threading.get_ident
        for _ in dicts:
            _ = loop._thread_id != this_thread()

    async def accepts() -> None:
        kept = [codec.accept(value, key) for key, value in dicts]
        del kept

    async def copies() -> None:
        kept = [codec.FlatDict(value) for _, value in dicts]
        del kept

    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(REPS):
            add("floor: await an async def dict assignment", await timed(floor))
            add("aiokv: await kv.set(key, small dict)", await sets(tmp, f"d{rep}", dicts))
            add("aiokv: await kv.set(key, str)", await sets(tmp, f"s{rep}", strs))
            add("  its owner check: loop._thread_id != get_ident()", await timed(owner_checks))
            add("the small dict's checks and copy: codec.accept()", await timed(accepts))
            add("  the copy alone", await timed(copies))
    print(f"CPython {sys.version.split()[0]}, ns per set, median of {REPS}:")
    for label, values in rows.items():
        print(f"{statistics.median(values):8.0f}  {label}")


if __name__ == "__main__":
    asyncio.run(main())
