"""RedisKV's API on every deployment it runs on: a URL, a client given, Sentinel, a Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from aiokv.integrations.aiogram import AioKVStorage
from aiokv.redis import RedisKV
from tests.integrations import test_aiogram
from tests.integrations.test_aiogram import aiogram_bot
from tests.redis import sources
from tests.redis.deployments import ClusterDeployment, SentinelDeployment
from tests.redis.server import RedisServer
from tests.redis.test_api import typed
from tests.test_store import EVERY_JSON_TYPE

KINDS = ["url", "client", "sentinel", "cluster"]


@pytest.fixture(params=KINDS)
def spelled(
    request: pytest.FixtureRequest,
    server: RedisServer,
) -> str:
    """Each deployment, spelled for sources.source()."""
    if request.param == "url":
        return server.url
    if request.param == "client":
        return f"client:{server.port}"
    if request.param == "sentinel":
        deployment: SentinelDeployment = request.getfixturevalue("sentinel_deployment")
        return sources.sentinel(deployment.sentinels, deployment.service)
    cluster: ClusterDeployment = request.getfixturevalue("cluster_deployment")
    return sources.cluster(cluster.startup_nodes)


@asynccontextmanager
async def store(spelled: str, name: str, **options: Any) -> AsyncIterator[RedisKV]:
    """A RedisKV on spelled's deployment, its client closed with it."""
    if spelled.startswith("client:"):
        given: Any = aioredis.Redis(port=int(spelled[7:]), retry=sources.no_retry())
    else:
        given = sources.source(spelled)
    async with RedisKV(given, name=name, close_client=True, **options) as kv:
        yield kv


def test_every_operation_answers_as_on_one_server(spelled: str, name: str) -> None:
    # Where there are replicas, every write waits for one (replicas=1).
    replicas = int(spelled.startswith(("sentinel:", "cluster:")))

    async def main() -> None:
        async with store(spelled, name, replicas=replicas) as kv:
            await kv.update(EVERY_JSON_TYPE)
            assert typed(await kv.get_all()) == typed(EVERY_JSON_TYPE)
            await kv.set("a", {"x": [1, 2.5, None]})
            assert await kv.get("a") == {"x": [1, 2.5, None]}
            assert await kv.has("a") and not await kv.has("nope")
            assert await kv.incr("n") == 1 and await kv.incr("n", 2**62) == 2**62 + 1
            assert await kv.incr("f", 0.25) == 0.25
            assert await kv.incr("big", 2**63 - 1) == 2**63 - 1
            assert await kv.incr("big") == 2**63  # past HINCRBY's range: compare-and-set
            async with kv.edit("l", []) as items:
                items.append("x")
            ns = kv.namespace("guild:7")
            await ns.update({"a": 1, "b": 2})
            assert sorted(await ns.keys()) == ["a", "b"]  # the hash's order
            await kv.clear("guild:")
            assert not await ns.get_all()
            assert await kv.delete("a")
            assert not await kv.has("a")
            await kv.flush()
            await kv.clear()
            assert await kv.get_all() == {}

    asyncio.run(main())


def test_edits_of_one_key_from_many_tasks_lose_no_update(spelled: str, name: str) -> None:
    async def main() -> None:
        async with store(spelled, name, edit_lease=2) as kv:

            async def editor(t: int) -> None:
                for i in range(20):
                    async with kv.edit("seen", []) as seen:
                        await asyncio.sleep(0)
                        seen.append(f"{t}-{i}")
                    await kv.incr("edits")

            await asyncio.gather(*(editor(t) for t in range(5)))
            assert sorted(await kv.get("seen")) == sorted(
                f"{t}-{i}" for t in range(5) for i in range(20)
            )
            assert await kv.get("edits") == 100

    asyncio.run(main())


def test_the_aiogram_storage_runs_on_a_store_of_any_deployment(spelled: str, name: str) -> None:
    async def main() -> None:
        async with store(spelled, name) as kv:
            dp = aiogram_bot.make_dispatcher(kv.namespace("tg"))
            answers = await test_aiogram.feed(dp, ["/start", "Ada", "Paris"])
            await dp.emit_shutdown()
            assert answers[-1] == "Ada from Paris: saved."
            storage = AioKVStorage(kv)
            await test_aiogram.odd_data_is_refused_as_aiogram_refuses_it(storage)

    asyncio.run(main())


@pytest.mark.parametrize("name", ["bot", "a{x}", "x}a{x", "{}", "é{ü}z", "guild:{42}:data"])
def test_on_a_cluster_a_store_s_two_keys_share_its_slot_and_keep_its_name(
    cluster_deployment: ClusterDeployment, name: str
) -> None:
    # A hash written before (by hand here, as an older release wrote it)
    # opens with its data as it is; an edit's lease lands in the same slot.
    host, port = cluster_deployment.startup_nodes[0]

    async def main() -> None:
        raw = sources.source(sources.cluster([(host, port)]))
        assert isinstance(raw, RedisCluster)
        await raw.delete(name)
        await raw.hset(name, mapping={"old": b'{"v":1}'})
        async with RedisKV(raw, name=name) as kv:
            assert await kv.get_all() == {"old": {"v": 1}}
            async with kv.edit("old") as value:
                leases = [k async for k in raw.scan_iter(match="aiokv-edits:*", count=1000)]
                mine = [k for k in leases if k.endswith(name.encode())]
                assert len(mine) == 1, leases
                assert key_slot(mine[0]) == key_slot(name.encode())
                value["v"] = 2
            assert await kv.get("old") == {"v": 2}
        assert await raw.hget(name, "old") == b'{"v":2}'
        await raw.aclose()

    asyncio.run(main())
