"""replicas=N, on_disk=True: a write acknowledged once N replicas have it in their AOF (WAITAOF).

Debian 12's Redis 7.0 lacks WAITAOF; the tests run it on Debian's
valkey-server (bookworm-backports), which has it, and check that Redis 7.0
refuses the store before it writes anything.
"""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

from aiokv import NotReplicatedError
from aiokv.redis import RedisKV
from tests.redis import sources
from tests.redis.conftest import need_redis_server
from tests.redis.deployments import ClusterDeployment
from tests.redis.server import RedisServer, ValkeyServer


def replica_of(primary: RedisServer, directory: Path, *options: str) -> ValkeyServer:
    """A valkey-server replicating primary, started, once its link is up."""
    replica = ValkeyServer(directory, "--replicaof", "127.0.0.1", str(primary.port), *options)
    replica.start()
    while "master_link_status:up" not in replica.cli("INFO", "replication"):
        time.sleep(0.02)
    return replica


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[RedisServer]:
    """A valkey-server primary of the test's own (AOF on, fsync on every write)."""
    need_redis_server(ValkeyServer.program)
    primary = ValkeyServer(tmp_path / "primary").start()
    yield primary
    primary.stop()


def aof_text(server: RedisServer) -> str:
    """Everything server's append-only files hold, as text."""
    return "".join(
        path.read_text(errors="replace")
        for path in (server.directory / "appendonlydir").glob("*.aof")
    )


def test_each_acknowledged_write_is_in_the_replicas_aof(
    valkey: ValkeyServer, tmp_path: Path
) -> None:
    # The replicas' AOF is fsynced once a second (everysec, the default): a
    # write acknowledged is in the file, not only in the replica's memory.
    replicas = [
        replica_of(valkey, tmp_path / f"r{i}", "--appendfsync", "everysec") for i in (1, 2)
    ]
    try:

        async def main() -> None:
            async with RedisKV(valkey.url, name="bot", replicas=2, on_disk=True, timeout=5) as kv:
                for i in range(3):
                    await kv.set(f"set{i}", f"marker-set-{i}")
                    for replica in replicas:
                        assert f"marker-set-{i}" in aof_text(replica)
                await kv.incr("n")
                async with kv.edit("l", []) as items:
                    items.append("marker-edit")
                for replica in replicas:
                    assert "marker-edit" in aof_text(replica)
                assert await kv.get("n") == 1

        asyncio.run(main())
    finally:
        for replica in replicas:
            replica.stop()


def test_replicas_without_an_aof_never_confirm(valkey: RedisServer, tmp_path: Path) -> None:
    # WAIT would acknowledge the write (the replica has it in memory);
    # WAITAOF does not, and the error says the disks were asked for.
    replica = replica_of(valkey, tmp_path / "r", "--appendonly", "no")
    try:

        async def main() -> None:
            async with RedisKV(valkey.url, name="bot", replicas=1, timeout=0.5) as memory:
                await memory.set("k", 1)  # in the replica's memory: acknowledged
            async with RedisKV(valkey.url, name="bot", replicas=1, on_disk=True, timeout=2) as kv:
                with pytest.raises(NotReplicatedError) as raised:
                    await kv.set("k", 2)
                assert raised.value.on_disk and raised.value.confirmed == 0
                assert "had the write on disk" in str(raised.value)
                again = pickle.loads(pickle.dumps(raised.value))
                assert str(again) == str(raised.value) and again.on_disk
                assert await kv.get("k") == 2  # the primary applied it

        asyncio.run(main())
    finally:
        replica.stop()


@pytest.mark.deployments
def test_on_a_cluster_every_node_s_stores_wait_for_their_replicas_disks(tmp_path: Path) -> None:
    # The probe and WAITAOF go to the node of each store's slot, as WAIT does.
    need_redis_server(ValkeyServer.program, "redis-cli")
    cluster = ClusterDeployment(tmp_path, server=ValkeyServer).start()
    try:
        names = cluster.names_on_every_primary(2, "guild:")

        async def main() -> None:
            client = sources.source(sources.cluster(cluster.startup_nodes), 5)
            for name in names:
                async with RedisKV(client, name=name, replicas=1, on_disk=True) as kv:
                    await kv.set("marker", f"marker-{name}")
                    await kv.incr("n")
                    assert await kv.get("n") == 1
            await client.aclose()

        asyncio.run(main())
        for name in names:
            primary = cluster.primary_of_slot(key_slot(name.encode()))
            assert f"marker-{name}" in aof_text(cluster.replica_of(primary))
    finally:
        cluster.stop()


def test_a_server_without_waitaof_is_refused_before_anything_is_written(
    server: RedisServer, name: str
) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name, replicas=1, on_disk=True, timeout=1) as kv:
            for write in (
                lambda: kv.set("k", 1),
                lambda: kv.incr("n"),
                lambda: kv.update({"u": 1}),
            ):
                with pytest.raises(
                    ValueError, match="needs WAITAOF, which the server lacks"
                ) as raised:
                    await write()
                assert f"(hash {name!r})" in str(raised.value)
        async with RedisKV(server.url, name=name) as plain:
            assert await plain.keys() == []  # nothing was written

    if "WAITAOF" in server.cli("COMMAND", "INFO", "WAITAOF").upper():
        pytest.skip("this redis-server has WAITAOF")
    asyncio.run(main())


@pytest.mark.parametrize(("on_disk", "replicas"), [(True, 0), (1, 1), ("yes", 1), (None, 1)])
def test_on_disk_is_a_bool_and_needs_replicas(on_disk: Any, replicas: int) -> None:
    with pytest.raises(ValueError, match="on_disk must be True or False, and True only with"):
        RedisKV("redis://127.0.0.1:6379/0", name="bot", replicas=replicas, on_disk=on_disk)
