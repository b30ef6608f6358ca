"""tests/redis/deployments.py: its Sentinel and Cluster deployments are what they say."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.crc import key_slot

from tests.redis.deployments import HOST, SLOTS, ClusterDeployment, SentinelDeployment
from tests.redis.server import RedisServer


def command(client: redis.Redis, *args: str | int) -> Any:
    """client.execute_command, which redis-py 8 leaves untyped."""
    execute: Callable[..., Any] = client.execute_command
    return execute(*args)


@contextlib.contextmanager
def direct(node: RedisServer) -> Iterator[redis.Redis]:
    """A plain client to one node: it sees what that node holds, redirected nowhere."""
    client = redis.Redis(HOST, node.port, decode_responses=True, socket_timeout=5)
    try:
        yield client
    finally:
        client.close()


async def master_for(deployment: SentinelDeployment, key: str, value: str | None = None) -> str:
    """Through a fresh Sentinel client's master_for: set key to value (if given), then get it."""
    sentinel = Sentinel(deployment.sentinels, socket_timeout=2)
    master = sentinel.master_for(deployment.service, decode_responses=True)
    try:
        if value is not None:
            await master.set(key, value)
        got = await master.get(key)
        assert isinstance(got, str)
        return got
    finally:
        await master.aclose()
        for client in sentinel.sentinels:
            await client.aclose()


async def discovered(deployment: SentinelDeployment) -> tuple[str, int]:
    sentinel = Sentinel(deployment.sentinels, socket_timeout=2)
    try:
        host, port = await sentinel.discover_master(deployment.service)
        return host, int(port)
    finally:
        for client in sentinel.sentinels:
            await client.aclose()


def test_master_for_writes_and_reads_on_the_primary_and_both_replicas_get_it(
    sentinel_deployment: SentinelDeployment, name: str
) -> None:
    deployment = sentinel_deployment
    primary = deployment.primary()
    replicas = deployment.replicas()
    assert len(replicas) == 2 and primary not in replicas
    assert asyncio.run(discovered(deployment)) == (HOST, primary.port)
    assert asyncio.run(master_for(deployment, name, "written")) == "written"
    with direct(primary) as client:
        assert client.get(name) == "written"
        assert command(client, "WAIT", 2, 5000) == 2
    for replica in replicas:
        with direct(replica) as client:
            assert client.get(name) == "written"


@pytest.mark.deployments
def test_a_killed_primary_fails_over_to_a_replica_holding_what_wait_acknowledged(
    own_sentinel: SentinelDeployment,
) -> None:
    async def write_and_wait() -> int:
        sentinel = Sentinel(own_sentinel.sentinels, socket_timeout=2)
        master = sentinel.master_for(own_sentinel.service, decode_responses=True)
        try:
            await master.set("acknowledged", "before")
            # WAIT counts the replicas holding this connection's writes
            return int(await master.execute_command("WAIT", 1, 5000))
        finally:
            await master.aclose()
            for client in sentinel.sentinels:
                await client.aclose()

    assert asyncio.run(write_and_wait()) >= 1
    old = own_sentinel.kill_primary()
    new = own_sentinel.wait_for_failover(old, timeout=30)
    assert new is not old and new in own_sentinel.nodes
    assert asyncio.run(discovered(own_sentinel)) == (HOST, new.port)
    assert asyncio.run(master_for(own_sentinel, "acknowledged")) == "before"
    assert asyncio.run(master_for(own_sentinel, "after", "failover")) == "failover"
    with direct(new) as client:
        assert command(client, "ROLE")[0] == "master"
        assert client.get("after") == "failover"

    own_sentinel.restart(old)
    with direct(old) as client:
        role = command(client, "ROLE")
        assert (role[0], int(role[2])) == ("slave", new.port)
        assert client.get("acknowledged") == "before"  # its own AOF, or the new primary's sync
    assert own_sentinel.primary() is new
    assert old in own_sentinel.replicas()


@functools.cache
def tag_per_slot() -> tuple[str, ...]:
    """For each slot, a hash tag whose keys fall in it."""
    tags: dict[int, str] = {}
    for i in itertools.count():
        tags.setdefault(key_slot(str(i).encode()), str(i))
        if len(tags) == SLOTS:
            return tuple(tags[slot] for slot in range(SLOTS))
    raise AssertionError("unreachable")


def key_per_slot(name: str) -> list[str]:
    """A key named name in each slot, in slot order."""
    return [f"{{{tag}}}{name}" for tag in tag_per_slot()]


async def write_read(port: int, keys: list[str], value: str | None) -> list[str | None]:
    """Through a fresh cluster client (started from port): set every key to value, unless
    None; then get them all."""
    client = RedisCluster(host=HOST, port=port, decode_responses=True)
    try:
        if value is not None:
            pipe = client.pipeline()
            for key in keys:
                pipe.set(key, value)
            assert all(await pipe.execute())
        pipe = client.pipeline()
        for key in keys:
            pipe.get(key)
        return list(await pipe.execute())
    finally:
        await client.aclose()


def test_keys_spread_over_the_three_primaries_each_with_a_replica(
    cluster_deployment: ClusterDeployment, name: str
) -> None:
    deployment = cluster_deployment
    primaries = deployment.primaries()
    assert len(primaries) == 3
    replicas = [deployment.replica_of(primary) for primary in primaries]
    assert len(set(replicas) | set(primaries)) == 6 == len(deployment.nodes)
    keys = [f"{name}:{i}" for i in range(60)]
    assert asyncio.run(write_read(deployment.nodes[0].port, keys, "v")) == ["v"] * len(keys)
    owners = {key: deployment.primary_of_slot(key_slot(key.encode())) for key in keys}
    assert set(owners.values()) == set(primaries)
    for primary in primaries:
        with direct(primary) as client:  # each holds its keys itself: no MOVED
            assert all(client.get(key) == "v" for key, owner in owners.items() if owner is primary)


@pytest.mark.deployments
def test_a_killed_primarys_replica_takes_over_and_every_slot_serves(
    own_cluster: ClusterDeployment,
) -> None:
    keys = key_per_slot("k")
    assert asyncio.run(write_read(own_cluster.nodes[0].port, keys, "before")) == ["before"] * SLOTS
    primaries = own_cluster.primaries()
    victim = primaries[0]
    assert own_cluster.primary_of_slot(0) is victim
    with direct(victim) as client:
        # The replication stream is in order: acknowledging this acknowledges every write before.
        client.set(keys[0], "before")
        assert command(client, "WAIT", 1, 5000) >= 1
    replica = own_cluster.replica_of(victim)

    own_cluster.kill(victim)
    promoted = own_cluster.wait_for_promotion(victim, timeout=30)
    assert promoted is replica
    assert set(own_cluster.primaries()) == {replica, *primaries[1:]}
    port = own_cluster.nodes[1 if own_cluster.nodes[0] is victim else 0].port
    assert asyncio.run(write_read(port, keys, None)) == ["before"] * SLOTS
    assert asyncio.run(write_read(port, keys, "after")) == ["after"] * SLOTS

    own_cluster.restart(victim)
    assert own_cluster.replica_of(promoted) is victim
    with direct(victim) as client:
        assert command(client, "ROLE")[0] == "slave"


def count_in_slot(node: RedisServer, slot: int) -> int:
    with direct(node) as client:
        return int(command(client, "CLUSTER", "COUNTKEYSINSLOT", slot))


@pytest.mark.deployments
def test_migrate_slot_moves_a_slot_with_its_keys_while_a_client_writes_and_reads(
    own_cluster: ClusterDeployment,
) -> None:
    slot = key_slot(b"m")
    source = own_cluster.primary_of_slot(slot)
    target = next(p for p in own_cluster.primaries() if p is not source)
    before = [f"{{m}}{i}" for i in range(1000)]

    async def main() -> tuple[int, int, int]:
        client = RedisCluster(host=HOST, port=own_cluster.nodes[0].port, decode_responses=True)
        try:
            pipe = client.pipeline()
            for i, key in enumerate(before):
                pipe.set(key, i)
            await pipe.execute()
            written, during = len(before), 0
            migrated = asyncio.Event()

            async def write_and_read() -> None:
                nonlocal written, during
                while not migrated.is_set():
                    await client.set(f"{{m}}{written}", written)
                    assert await client.get(f"{{m}}{written // 2}") == str(written // 2)
                    written, during = written + 1, during + 1

            writer = asyncio.create_task(write_and_read())
            try:
                moved = await asyncio.to_thread(own_cluster.migrate_slot, slot, source, target)
            finally:
                migrated.set()
                await writer
            return moved, written, during
        finally:
            await client.aclose()

    moved, written, during = asyncio.run(main())
    assert during > 0
    assert len(before) <= moved <= written  # those written meanwhile went to the source or by ASK
    assert own_cluster.primary_of_slot(slot) is target
    assert (count_in_slot(source, slot), count_in_slot(target, slot)) == (0, written)
    keys = [f"{{m}}{i}" for i in range(written)]
    assert asyncio.run(write_read(own_cluster.nodes[0].port, keys, None)) == [
        str(i) for i in range(written)
    ]


@pytest.mark.deployments
def test_a_half_migrated_slot_answers_ask_and_tryagain_and_a_cluster_client_follows(
    own_cluster: ClusterDeployment,
) -> None:
    slot = key_slot(b"h")
    source = own_cluster.primary_of_slot(slot)
    target = next(p for p in own_cluster.primaries() if p is not source)
    keys = [f"{{h}}{i}" for i in range(100)]
    port = own_cluster.nodes[0].port
    assert asyncio.run(write_read(port, keys, "v")) == ["v"] * 100

    with own_cluster.migrating(slot, source, target) as migration:
        assert migration.move_keys(40) == 40
        assert (count_in_slot(source, slot), count_in_slot(target, slot)) == (60, 40)
        with direct(target) as client:
            gone = command(client, "CLUSTER", "GETKEYSINSLOT", slot, 1)[0]
        kept = next(key for key in keys if key != gone)
        with direct(source) as client:
            assert client.get(kept) == "v"
            with pytest.raises(redis.exceptions.AskError):
                client.get(gone)
            with pytest.raises(redis.exceptions.TryAgainError):
                client.mget(kept, gone)  # one slot, but its keys on two nodes
        with direct(target) as client, pytest.raises(redis.exceptions.MovedError):
            client.get(gone)  # the target serves it only after ASKING
        assert asyncio.run(write_read(port, keys, None)) == ["v"] * 100
        assert asyncio.run(write_read(port, ["{h}new"], "new")) == ["new"]
        assert (count_in_slot(source, slot), count_in_slot(target, slot)) == (60, 41)

    assert migration.moved == 100
    assert own_cluster.primary_of_slot(slot) is target
    assert (count_in_slot(source, slot), count_in_slot(target, slot)) == (0, 101)
    assert asyncio.run(write_read(port, [*keys, "{h}new"], None)) == ["v"] * 100 + ["new"]
