"""RedisKV on a Redis Cluster: stores on every node, a primary killed, a slot moved, under load."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

from aiokv import UnavailableError
from aiokv.redis import RedisKV
from tests.helpers import child
from tests.redis import sources, writers
from tests.redis.deployments import ClusterDeployment
from tests.redis.test_processes import run_all

PROCESSES = 3
ROUNDS = 40
TIMEOUT = 1.0  # seconds: each writer's store's timeout


def store_state(spelled: str, name: str) -> dict[str, Any]:
    """The whole store name, read through a new cluster client."""

    async def main() -> dict[str, Any]:
        async with RedisKV(sources.source(spelled), name=name, close_client=True) as kv:
            return await kv.get_all()

    return asyncio.run(main())


def test_processes_on_stores_over_every_node_give_exact_totals(
    cluster_deployment: ClusterDeployment,
) -> None:
    spelled = sources.cluster(cluster_deployment.startup_nodes)
    names = cluster_deployment.names_on_every_primary(2, "totals:")
    code = """
        import asyncio, sys
        from aiokv.redis import RedisKV
        from tests.redis import sources

        async def main():
            spelled, me, rounds, *names = sys.argv[1:]
            client = sources.source(spelled)
            stores = [await RedisKV(client, name=n).__aenter__() for n in names]
            for i in range(int(rounds)):
                for kv in stores:
                    await kv.incr("n")
                    await kv.incr("f", 0.5)
                    async with kv.edit("seen", []) as seen:
                        await asyncio.sleep(0)
                        seen.append(f"{me}-{i}")
                    await kv.update({f"last:{me}": i, f"pair:{me}": [i, i]})
            for kv in stores:
                await kv.aclose()
            await client.aclose()

        asyncio.run(main())
    """
    run_all([child(code, spelled, str(p), str(ROUNDS), *names) for p in range(PROCESSES)])
    total = PROCESSES * ROUNDS
    for name in names:
        state = store_state(spelled, name)
        assert sorted(state.pop("seen")) == sorted(
            f"{p}-{i}" for p in range(PROCESSES) for i in range(ROUNDS)
        )
        assert state == {
            "n": total,
            "f": total * 0.5,
            **{f"last:{p}": ROUNDS - 1 for p in range(PROCESSES)},
            **{f"pair:{p}": [ROUNDS - 1, ROUNDS - 1] for p in range(PROCESSES)},
        }


@pytest.mark.deployments
def test_a_primary_killed_under_writes_keeps_every_acknowledged_write(
    own_cluster: ClusterDeployment, tmp_path: Path
) -> None:
    # One writer process per primary, each on a store there, with
    # replicas=1; the primary of the first one's store is killed. Until its
    # replica is promoted, writes there raise UnavailableError (and, with the
    # cluster refusing queries while a slot is uncovered, elsewhere too);
    # then NotReplicatedError, as the new primary has no replica, until the
    # killed node is back as its replica; then they succeed again.
    spelled = sources.cluster(own_cluster.startup_nodes)
    names = own_cluster.names_on_every_primary(1, "kill:")
    stop = tmp_path / "stop"
    procs = [
        writers.start(spelled, name, f"w{w}", stop, 1, TIMEOUT) for w, name in enumerate(names)
    ]
    victim = own_cluster.primary_of_slot(key_slot(names[0].encode()))
    try:
        # Each writer writing (a machine under load starts them slowly), then a moment more.
        writers.wait_until(lambda: all(writers.acknowledged(w) for w in procs), "the writers")
        time.sleep(0.5)
        killed_at = time.time()
        own_cluster.kill(victim)
        own_cluster.wait_for_promotion(victim)
        own_cluster.restart(victim)  # back, as the new primary's replica
        back_at = time.time()
        time.sleep(2.0)
    finally:
        stop.touch()
        logs = writers.finish(procs)
    for w, (name, log) in enumerate(zip(names, logs, strict=True)):
        writers.check(log, f"w{w}", store_state(spelled, name), TIMEOUT)
        failed = [line for line in log if line["outcome"] != "ok"]
        assert all(killed_at - 1 <= line["at"] <= back_at + 2 * TIMEOUT for line in failed)
        after = [line for line in log if line["at"] > back_at + TIMEOUT]
        assert after and all(line["outcome"] == "ok" for line in after), (
            w,
            killed_at,
            back_at,
            [(x["op"], x["outcome"], x["took"], x["at"]) for x in log[-5:]],
            [(x["op"], x["outcome"], x["took"], x["at"], x["error"]) for x in failed][-3:],
        )
    assert any(line["outcome"] != "ok" for line in logs[0])  # it met the kill


@pytest.mark.deployments
def test_a_slot_moved_back_and_forth_under_writes_loses_nothing_and_raises_nothing(
    own_cluster: ClusterDeployment, tmp_path: Path
) -> None:
    # Stores in one slot (one hash tag), written by several processes with
    # and without replicas=1, while the slot moves between two primaries, as
    # redis-cli --cluster reshard moves it. Each move finishes well within
    # the timeout: the writes that meet it wait, the reads follow it.
    spelled = sources.cluster(own_cluster.startup_nodes)
    names = [f"{{moving}}:w{w}" for w in range(PROCESSES)]
    slot = key_slot(b"moving")
    first = own_cluster.primary_of_slot(slot)
    second = next(p for p in own_cluster.primaries() if p is not first)
    stop = tmp_path / "stop"
    procs = [
        writers.start(spelled, name, f"w{w}", stop, w % 2, TIMEOUT) for w, name in enumerate(names)
    ]
    try:
        for source, target in [(first, second), (second, first), (first, second)]:
            time.sleep(0.5)
            own_cluster.migrate_slot(slot, source, target)
        time.sleep(0.5)
    finally:
        stop.touch()
        logs = writers.finish(procs)
    assert own_cluster.primary_of_slot(slot) is second
    assert int(second.cli("CLUSTER", "COUNTKEYSINSLOT", str(slot))) >= len(names)
    for w, (name, log) in enumerate(zip(names, logs, strict=True)):
        writers.check(log, f"w{w}", store_state(spelled, name), TIMEOUT)
        failed = [line for line in log if line["outcome"] != "ok"]
        assert not failed, failed[:5]
        assert len(log) > 30, f"w{w} hardly wrote"


@pytest.mark.deployments
def test_a_slot_held_half_moved_past_the_timeout_fails_writes_clearly_and_loses_nothing(
    own_cluster: ClusterDeployment,
) -> None:
    # Redis refuses a script of two keys while their slot moves and they are
    # not both on one node (TRYAGAIN): a write waits for the move, and one
    # that outlasts the timeout raises. Reads of the one hash follow it (ASK).
    slot = key_slot(b"held")
    source = own_cluster.primary_of_slot(slot)
    target = next(p for p in own_cluster.primaries() if p is not source)

    async def main() -> None:
        async with RedisKV(
            sources.source(sources.cluster(own_cluster.startup_nodes), 0.5),
            name="{held}:store",
            timeout=0.5,
            close_client=True,
        ) as kv:
            await kv.set("k", 1)
            with own_cluster.migrating(slot, source, target) as migration:
                migration.move_keys()  # the store's hash is on the target now
                for write in (lambda: kv.set("k", 2), lambda: kv.incr("n")):
                    started = time.monotonic()
                    # In redis-py's own tries (TRYAGAIN), or in aiokv's after them.
                    with pytest.raises(UnavailableError, match=r"reconfiguring|no answer in time"):
                        await write()
                    assert time.monotonic() - started < 1.5
                assert await kv.get("k") == 1  # nothing was applied
                assert await kv.keys() == ["k"]
            await kv.set("k", 3)  # moved: as before
            assert await kv.get_all() == {"k": 3}

    asyncio.run(main())


@pytest.mark.deployments
def test_a_frozen_primary_s_stores_come_back_on_its_promoted_replica(
    own_cluster: ClusterDeployment,
) -> None:
    # SIGSTOP, not kill: connections hang rather than fail. The client's own
    # socket timeouts (within half the store's, as RedisKV asks) make redis-py
    # look for the new primary.
    [name] = own_cluster.names_on_every_primary(1, "frozen:")[:1]
    victim = own_cluster.primary_of_slot(key_slot(name.encode()))

    async def main() -> None:
        async with RedisKV(
            sources.source(sources.cluster(own_cluster.startup_nodes), TIMEOUT),
            name=name,
            timeout=TIMEOUT,
            close_client=True,
        ) as kv:
            await kv.set("k", 1)
            own_cluster.freeze(victim)
            try:
                with pytest.raises(UnavailableError):
                    await kv.set("k", 2)
                await asyncio.to_thread(own_cluster.wait_for_promotion, victim)
                await writers.until_it_works(
                    lambda: kv.set("k", 3), "never found the new primary", 15
                )
                assert await kv.get("k") == 3
            finally:
                own_cluster.thaw(victim)


@pytest.mark.deployments
def test_a_cluster_client_that_reaches_no_node_raises_unavailable(
    own_cluster: ClusterDeployment,
) -> None:
    # A client whose only known node is down cannot learn the cluster's slots:
    # redis-py says so with a RedisClusterException ("cannot be connected"),
    # not a ConnectionError. It is the cluster out of reach, as a URL's server
    # that refuses connections: UnavailableError, and the same store works
    # once the node is back. (Met by test_a_primary_killed_under_writes...
    # when a writer process first connected after the kill.)
    host, port = own_cluster.startup_nodes[0]
    first = next(node for node in own_cluster.nodes if node.port == port)
    own_cluster.kill(first)

    async def main() -> None:
        client = sources.source(sources.cluster([(host, port)]), TIMEOUT)
        async with contextlib.AsyncExitStack() as stack:
            kv = RedisKV(client, name="unreachable", timeout=TIMEOUT, close_client=True)
            stack.push_async_callback(kv.aclose)
            for operation in (kv.__aenter__, lambda: kv.set("k", 1), lambda: kv.get("k")):
                with pytest.raises(UnavailableError, match="unreachable"):
                    await operation()
            await asyncio.to_thread(own_cluster.restart, first)
            await kv.set("k", 2)
            assert await kv.get("k") == 2

    asyncio.run(main())
