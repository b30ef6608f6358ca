"""What on_disk=True costs a write: RedisKV's set on a Valkey primary with one replica.

python -m benchmarks.on_disk  -> milliseconds per set, median and worst of REPS runs.

Needs Debian's valkey-server (bookworm-backports): Redis 7.0 has no WAITAOF.
For each appendfsync of the replica (always, everysec), the three settings
run side by side in every repetition: replicas=0, replicas=1 (WAIT: the
replica's memory), replicas=1 with on_disk=True (WAITAOF: its AOF, fsynced).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokv.redis import RedisKV

REPS = 5
SETS = 10  # a set each, awaited in turn: a bot's writes, not a pipeline
SETTINGS: list[dict[str, Any]] = [{}, {"replicas": 1}, {"replicas": 1, "on_disk": True}]
LINK_POLL = 0.02  # seconds between looks at the replica's link


async def per_set(url: str, **setting: Any) -> list[float]:
    """Milliseconds each of SETS sets took through a store of setting."""
    async with RedisKV(url, name="on_disk", timeout=5, **setting) as kv:
        await kv.set("warm", 0)  # connections made, the server asked once
        took = []
        for i in range(SETS):
            started = time.perf_counter()
            await kv.set("k", i)
            took.append((time.perf_counter() - started) * 1000)
        return took


def main() -> None:
    """Print the table."""
    from tests.redis.server import ValkeyServer

    root = Path(tempfile.mkdtemp(prefix="aiokv-on-disk-"))
    print(f"{'replica appendfsync':20} {'setting':30} {'median ms':>10} {'worst ms':>10}")
    for fsync in ("always", "everysec"):
        primary = ValkeyServer(root / f"primary-{fsync}").start()
        link = ("--replicaof", "127.0.0.1", str(primary.port), "--appendfsync", fsync)
        replica = ValkeyServer(root / f"replica-{fsync}", *link).start()
        try:
            while "master_link_status:up" not in replica.cli("INFO", "replication"):
                time.sleep(LINK_POLL)
            runs: dict[int, list[float]] = {i: [] for i in range(len(SETTINGS))}
            for _ in range(REPS):
                for i, setting in enumerate(SETTINGS):
                    runs[i] += asyncio.run(per_set(primary.url, **setting))
            for i, setting in enumerate(SETTINGS):
                shown = ", ".join(f"{k}={v}" for k, v in setting.items()) or "replicas=0"
                took = runs[i]
                print(f"{fsync:20} {shown:30} {statistics.median(took):10.2f} {max(took):10.2f}")
        finally:
            replica.stop()
            primary.stop()


if __name__ == "__main__":
    sys.exit(main())
