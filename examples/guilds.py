"""A simulated bot serving several guilds: settings and user state in namespaces.

Each guild's keys live under "guild:<id>:", each member's under
"guild:<id>:user:<id>:", all in ./guilds-state.json. Messages are handled
concurrently, and edit() keeps every member's history without losing an
update. Run it twice: the second run carries on from what the first stored.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiokv import AioKV, Store

GUILDS = [101, 202, 303]
MESSAGES = 60  # per run


async def handle(kv: Store, guild_id: int, user_id: int, text: str) -> None:
    """Handle one message: count it and remember it."""
    guild = kv.namespace(f"guild:{guild_id}")
    user = guild.namespace(f"user:{user_id}")
    prefix = await guild.get("prefix", "!")
    if not text.startswith(prefix):
        return
    command = text[len(prefix) :]
    await user.incr("commands")
    async with user.edit("history", default=[]) as history:
        history.append(command)
        await asyncio.sleep(0)  # other messages are handled meanwhile: no update is lost
        del history[:-5]  # the last five commands


async def main() -> None:
    async with AioKV("guilds-state.json") as kv:
        run = await kv.incr("runs")
        rng = random.Random(run)
        messages = [
            (rng.choice(GUILDS), rng.randrange(1, 5), rng.choice(["!ping", "!help", "!roll"]))
            for _ in range(MESSAGES)
        ]
        await asyncio.gather(*(handle(kv, *message) for message in messages))
        print(f"Run #{run}: handled {MESSAGES} messages")
        for guild_id in GUILDS:
            guild = kv.namespace(f"guild:{guild_id}")
            members: dict[str, dict[str, Any]] = {}
            for key, value in (await guild.get_all()).items():
                if key.startswith("user:"):
                    _, user_id, field = key.split(":")
                    members.setdefault(user_id, {})[field] = value
            total = sum(member["commands"] for member in members.values())
            print(f"  guild {guild_id}: {len(members)} members, {total} commands so far")
            for user_id, member in sorted(members.items()):
                print(f"    user {user_id}: last commands {member['history']}")
    # Leaving the block flushed everything to guilds-state.json and released its lock.


if __name__ == "__main__":
    asyncio.run(main())
