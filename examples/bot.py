"""A tiny simulated bot that remembers what it saw between runs.

Run it twice: the second run prints what the first one left in ./bot-state.json.
"""

from __future__ import annotations

import asyncio
import random
import time

from aiokv import AioKV


async def main() -> None:
    async with AioKV("bot-state.json") as kv:
        runs = await kv.incr("runs")
        last = await kv.get("last_command")
        seen = await kv.get("seen_ids", default=[])
        if runs == 1:
            print("First run: nothing remembered yet.")
        else:
            print(f"Run #{runs}. Last time I handled {last!r}; ids seen so far: {seen}")

        # Simulate a few incoming messages; skip the ones already handled.
        for _ in range(3):
            msg_id = random.randint(1, 9)
            if await kv.has(f"seen:{msg_id}"):
                print(f"  message {msg_id}: already handled, skipping")
                continue
            await kv.set(f"seen:{msg_id}")  # value omitted: the current unix time
            await kv.set("last_command", f"!ping {msg_id}")
            seen = sorted({*seen, msg_id})
            print(f"  message {msg_id}: handled at {time.strftime('%H:%M:%S')}")
        await kv.set("seen_ids", seen)
    # Leaving the block flushed everything to bot-state.json and released its lock.


if __name__ == "__main__":
    asyncio.run(main())
