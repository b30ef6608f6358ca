"""Several real processes sharing one RedisKV name: exact totals, nothing half-applied."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

from aiokv.redis import RedisKV
from tests.helpers import child
from tests.redis.server import RedisServer
from tests.redis.test_api import typed

PROCESSES = 4
ROUNDS = 300
BIG = 2**63 - ROUNDS  # HINCRBY's 64-bit signed range ends on the way up


def run_all(children: list[subprocess.Popen[str]], timeout: float = 120) -> list[str]:
    """Wait for every child; fail with its stderr if one failed; return their stdouts."""
    outs = []
    for proc in children:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]
        outs.append(out)
    return outs


def state(server: RedisServer, name: str, setup: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store setup (if given) and return the whole store."""

    async def main() -> dict[str, Any]:
        async with RedisKV(server.url, name=name) as kv:
            if setup:
                await kv.update(setup)
            return await kv.get_all()

    return asyncio.run(main())


def test_concurrent_incr_from_several_processes_gives_exact_totals(
    server: RedisServer, name: str
) -> None:
    # "n" takes HINCRBY; "f" (floats) the compare-and-set; "big" both, as it
    # climbs past 2**63 - 1 into the unsigned 64-bit range JSON allows. Every
    # sum here is exact in binary floating point.
    state(server, name, {"big": BIG})
    code = """
        import asyncio, sys
        from aiokv.redis import RedisKV

        async def main():
            async with RedisKV(sys.argv[1], name=sys.argv[2]) as kv:
                for _ in range(int(sys.argv[3])):
                    await kv.incr("n")
                    await kv.incr("f", 0.5)
                    await kv.incr("big")
                    await kv.namespace("user:7").incr("messages", 2)

        asyncio.run(main())
    """
    run_all([child(code, server.url, name, str(ROUNDS)) for _ in range(PROCESSES)])
    total = ROUNDS * PROCESSES
    assert typed(state(server, name)) == typed(
        {"n": total, "f": total * 0.5, "big": BIG + total, "user:7:messages": 2 * total}
    )


def test_concurrent_edits_from_several_processes_lose_no_update(
    server: RedisServer, name: str
) -> None:
    code = """
        import asyncio, sys
        from aiokv.redis import RedisKV

        async def main():
            me = sys.argv[3]
            async with RedisKV(sys.argv[1], name=sys.argv[2]) as kv:
                for i in range(50):
                    async with kv.edit("seen", []) as seen:
                        await asyncio.sleep(0)  # let the others try meanwhile
                        seen.append(f"{me}-{i}")
                    # a plain write of the edited key, too: it waits its turn
                    await kv.update({f"last:{me}": i})

        asyncio.run(main())
    """
    run_all([child(code, server.url, name, str(p)) for p in range(PROCESSES)])
    result = state(server, name)
    assert sorted(result.pop("seen")) == sorted(
        f"{p}-{i}" for p in range(PROCESSES) for i in range(50)
    )
    assert result == {f"last:{p}": 49 for p in range(PROCESSES)}
    assert server.cli("EXISTS", "aiokv-edits:" + name).strip() == "0"


def test_update_and_clear_are_never_seen_half_applied(server: RedisServer, name: str) -> None:
    # A writer replaces ten keys at once, over and over, and clears them;
    # readers in other processes read them at once (a small hash comes in one
    # HSCAN reply) and must see ten equal values or none.
    writer = """
        import asyncio, sys
        from aiokv.redis import RedisKV

        async def main():
            async with RedisKV(sys.argv[1], name=sys.argv[2]) as kv:
                for i in range(400):
                    await kv.update({f"set:{k}": i for k in range(10)})
                    if i % 50 == 0:
                        await kv.clear("set:")
                await kv.set("done", True)

        asyncio.run(main())
    """
    reader = """
        import asyncio, sys
        from aiokv.redis import RedisKV

        async def main():
            reads = 0
            async with RedisKV(sys.argv[1], name=sys.argv[2]) as kv:
                while not await kv.get("done"):
                    values = await kv.namespace("set").get_all()
                    assert len(values) in (0, 10), values
                    assert len(set(values.values())) <= 1, values
                    reads += 1
            print(reads)

        asyncio.run(main())
    """
    readers = [child(reader, server.url, name) for _ in range(2)]
    outs = run_all([child(writer, server.url, name), *readers])
    assert all(int(out) > 10 for out in outs[1:]), outs  # the readers really overlapped
