"""Workload (h): the RSS of a fresh process holding a store. Run as a child.

python -m benchmarks.memory SYSTEM PATH  -> prints the resident set in bytes.
"""

from __future__ import annotations

import asyncio
import sys

from benchmarks.systems import ALL


def rss_bytes() -> int:
    """VmRSS of this process, from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def main(name: str, path: str) -> None:
    system = next(cls for cls in ALL if cls.name == name)(path)
    await system.open()
    await system.get("k1")
    # What a running program holds once its first flushes are behind it
    # (aiokv: the encoded pieces, read at open, and their map of keys).
    for value in range(system.warm_flushes):
        await system.set("k1", value)
        await system.flush()
    print(rss_bytes())
    await system.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
