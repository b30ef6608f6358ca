"""Campaign 10 on deployments: failovers and node kills under many tasks writing and editing.

The client processes, their tasks, their logs, the model and every check are
redis_faults.py's; what differs is the target. On a Sentinel deployment (a
primary, two replicas, three Sentinels) the clients' stores share the client
Sentinel's master_for gives; on a Redis Cluster (three primaries, a replica
each) a RedisCluster, and each process opens a store on every primary, its
tasks spread over them. No proxy: the faults are the deployment's own.

At seeded random moments the parent breaks the deployment, one fault after
another, each healed before the next:

- Sentinel: the primary kill -9'd (the Sentinels promote a replica; the old
  primary is then started again, as a replica); the primary paused (SIGSTOP)
  longer than the Sentinels' down-after, so a replica is promoted while it is
  frozen, and resumed at a random moment after: it answers as a primary
  until Sentinel demotes it, some 10 s later; a replica kill -9'd and
  restarted; a client process kill -9'd.
- Cluster: the primary of a node serving a case's store kill -9'd (its replica
  promoted, the node restarted, as the new primary's replica); a store's
  slot migrated to another primary, live; a client process kill -9'd.

Half the cases run with replicas=1: the model is then the exact one
(NotReplicatedError an ambiguous outcome, like UnavailableError): no
acknowledged write may be lost, whatever fails over. The other half run
with replicas=0, where Redis's asynchronous replication may lose the writes
a dying primary acknowledged before its replicas had them: an acknowledged
write there may be undone only if it was acknowledged in a loss window:
from LOSS_BOUND before the primary died or froze to AFTER_DEATH after (its
answer logged late; no replica is promoted that soon), and, for a frozen
primary, from its resume to its demotion (it acknowledges writes that it
then throws away when it takes the new primary's data: the README's
partition). Each undone write is counted, with how long before the fault it
was acknowledged.

Every fault is a window (from the fault to the deployment healed, plus
SETTLE) in which calls may fail; outside, a call that fails for anything but
slowness fails the case, as on one server. Leases: one granted on a primary
that died may live on the replica promoted (replicated) or be gone with it;
either way it must end by its deadline, at most edit_lease after the window.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.crc import key_slot

from aiokv import AioKVError, NotReplicatedError, UnavailableError
from aiokv.redis import RedisKV
from tests.faults.common import LONG, Result
from tests.faults.redis_faults import (
    QUIET_END,
    Case,
    Fault,
    Final,
    Loss,
    Plan,
    calls,
    kill_a_client,
    leases_of,
    read_hash,
    run_cases,
    slow,
)
from tests.redis import sources
from tests.redis.deployments import ClusterDeployment, SentinelDeployment
from tests.redis.server import INSTALL, RedisServer, available

# How long before its primary died (or froze) a write acknowledged without
# replicas= may still be undone by the failover. Redis sends a write to its
# replicas in the same event-loop turn as the client's answer, and on
# loopback they read it within a millisecond; only a write still in the
# dying primary's socket buffers is lost. A second leaves room for a loaded
# machine (a replica descheduled a while); a loss from before it would mean
# a write never reached the replicas at all. The campaign reports the
# longest it saw.
LOSS_BOUND = 1.0
# After the death: an answer is logged a moment after it came, and no
# replica is promoted this soon (Sentinel's down-after is 2 s; a cluster
# node's timeout 1 s, then an election).
AFTER_DEATH = 1.0
SETTLE = 0.5  # after a fault healed: the clients learn the new primary at their next call
LEAD = (0.8, 1.6)  # seconds before the first fault
GAP = (0.6, 1.4)  # seconds of calm between faults: calls must work again in them
RESUME = (0.0, 1.2)  # a frozen primary resumes this long after its replacement answers
REPLICA_DOWN = (0.0, 0.5)  # a killed replica stays down this long
# How long a primary whose replicas were cut off acknowledges writes they
# lack before it is killed: within LOSS_BOUND, so what it loses is allowed.
BEHIND = (0.1, 0.6)
KILL = "primary kill -9"
BEHIND_KILL = "primary kill -9 (replicas behind)"


class Deployed:
    """What both deployments do: a case's faults in a seeded order, each healed before the next."""

    kind = ""  # "sentinel" or "cluster": the prefix of its faults' names in the tally

    def faults(self, seed: int) -> list[str]:
        """The faults of case seed, in no order yet."""
        raise NotImplementedError

    def inject(self, kind: str, case: Case, plan: Plan, rng: random.Random) -> float:
        """Break the deployment (kind), wait until it healed; return when it had."""
        raise NotImplementedError

    def break_things(
        self, case: Case, plan: Plan, rng: random.Random, clients: list[subprocess.Popen[str]]
    ) -> None:
        """The case's faults at seeded random moments, with calm between; then the quiet end."""
        kinds = self.faults(case.seed)
        rng.shuffle(kinds)
        time.sleep(rng.uniform(*LEAD))
        for kind in kinds:
            if kind == "client kill -9":
                kill_a_client(case, rng, clients)
            else:
                start = time.monotonic()
                healed = self.inject(kind, case, plan, rng)
                # A slot moved changes no primary: the clients follow it at once.
                settle = 0.0 if kind == "slot migration" else SETTLE
                case.faults.append(Fault(kind, start, healed + settle))
                case.tally[f"{self.kind} {kind}"] += 1
            time.sleep(rng.uniform(*GAP))
        time.sleep(QUIET_END)

    def kill(
        self,
        primary: RedisServer,
        replicas: list[RedisServer],
        how: Callable[[], None],
        kind: str,
        case: Case,
        plan: Plan,
        rng: random.Random,
    ) -> None:
        """kill -9 primary (how); for BEHIND_KILL, once its replicas have fallen behind.

        Behind: the replicas are frozen and their links cut, so none of them
        has what the primary acknowledges from then on; they are resumed
        after the kill, in time to be promoted. With replicas=1 those writes
        raise NotReplicatedError; without, they are acknowledged, and lost.
        """
        behind = replicas if kind == BEHIND_KILL else []
        try:
            for replica in behind:
                replica.pause()
            if behind:
                primary.cli("CLIENT", "KILL", "TYPE", "replica")
                time.sleep(rng.uniform(*BEHIND))
            self.died(case, plan, kind, how)
        finally:
            for replica in behind:
                replica.resume()

    def died(self, case: Case, plan: Plan, kind: str, how: Callable[[], None]) -> None:
        """Kill or freeze a primary (how); without replicas=, a loss window around it."""
        how()
        at = time.monotonic()
        if not plan.replicas:
            case.losses.append(Loss(kind, at, at - LOSS_BOUND, at + AFTER_DEATH))


class OnSentinel(Deployed):
    """A Sentinel deployment; clients through master_for."""

    kind = "sentinel"

    def __init__(self, deployment: SentinelDeployment) -> None:
        self.deployment = deployment
        self.spelled = sources.sentinel(deployment.sentinels, deployment.service)

    def plan(self, seed: int, rng: random.Random) -> Plan:
        # Replicas=1 and 0 in turn; each fault of the primary in two cases running.
        replicas = 1 - seed % 2
        return Plan(f"{self.faults(seed)[0]}, replicas={replicas}", [f"case{seed}"],
                    self.spelled, self.spelled, replicas)  # fmt: skip

    def faults(self, seed: int) -> list[str]:
        primary = (BEHIND_KILL, "primary pause", KILL)[seed // 2 % 3]
        return [primary, "replica kill -9", "client kill -9"]

    def inject(self, kind: str, case: Case, plan: Plan, rng: random.Random) -> float:
        sentinel = self.deployment
        if kind == "replica kill -9":
            replicas = sentinel.replicas()
            if replicas:
                node = rng.choice(replicas)
                node.kill()
                time.sleep(rng.uniform(*REPLICA_DOWN))
                sentinel.restart(node)
            return time.monotonic()
        old = sentinel.primary()
        if kind in (KILL, BEHIND_KILL):
            self.kill(old, sentinel.replicas(), old.kill, kind, case, plan, rng)
            sentinel.wait_for_failover(old)
            sentinel.restart(old)  # as the new primary's replica
            return time.monotonic()
        self.died(case, plan, kind, old.pause)
        sentinel.wait_for_failover(old)
        time.sleep(rng.uniform(*RESUME))
        resumed = time.monotonic()
        old.resume()
        probed = probe(old, plan.replicas)
        case.tally[f"resumed primary probe: {probed}"] += 1
        if plan.replicas and probed == "ok":
            case.fail("a resumed old primary confirmed a write with replicas=1")
        new = sentinel.wait_in_sync(old)  # demoted by Sentinel, and a replica in sync
        demoted = time.monotonic()
        if probed == "ok":
            # Acknowledged by a primary that had been replaced: the README's
            # partition, gone once it took the new primary's data.
            with direct(new) as client:
                if client.exists(PROBE):
                    case.fail("a write acknowledged by a replaced primary reached the new one")
                case.tally["resumed primary probe: lost at its demotion"] += 1
        if not plan.replicas:
            # Until then it answers as a primary: what it acknowledges, it loses.
            case.losses.append(Loss("resumed primary", resumed, resumed, demoted))
        case.tally["sentinel resume to demotion, ms"] += round((demoted - resumed) * 1000)
        return demoted

    def read(self, name: str) -> Final:
        with direct(self.deployment.primary()) as client:
            return read_hash(client, name, leases_of(name, cluster=False))


class OnCluster(Deployed):
    """A Redis Cluster; clients through RedisCluster, a store on every primary."""

    kind = "cluster"

    def __init__(self, deployment: ClusterDeployment) -> None:
        self.deployment = deployment
        self.spelled = sources.cluster(deployment.startup_nodes)

    def plan(self, seed: int, rng: random.Random) -> Plan:
        replicas = 1 - seed % 2
        names = self.deployment.names_on_every_primary(1, f"case{seed}:")
        return Plan(f"replicas={replicas}", names, self.spelled, self.spelled, replicas)

    def faults(self, seed: int) -> list[str]:
        kill = (KILL, BEHIND_KILL)[seed // 2 % 2]
        return [kill, "slot migration", "slot migration", "client kill -9"]

    def inject(self, kind: str, case: Case, plan: Plan, rng: random.Random) -> float:
        cluster = self.deployment
        slot = key_slot(rng.choice(plan.names).encode())
        source = cluster.primary_of_slot(slot)
        if kind == "slot migration":
            target = rng.choice([p for p in cluster.primaries() if p is not source])
            cluster.migrate_slot(slot, source, target)
            return time.monotonic()
        replicas = [cluster.replica_of(source)]  # asked before one may be paused
        self.kill(source, replicas, lambda: cluster.kill(source, replicas), kind, case, plan, rng)
        cluster.wait_for_promotion(source)
        cluster.restart(source)  # it comes back as the promoted replica's replica
        return time.monotonic()

    def read(self, name: str) -> Final:
        with direct(self.deployment.primary_of_slot(key_slot(name.encode()))) as client:
            return read_hash(client, name, leases_of(name, cluster=True))


PROBE = "probe"  # the store the parent writes to on a resumed old primary


def probe(node: RedisServer, replicas: int) -> str:
    """A write to a store on node itself (as a client that missed a failover): how it ended.

    "ok", "not replicated" (too few replicas confirmed: with replicas=1, what
    a resumed old primary must answer, its replicas gone to the new one),
    "unavailable", or "refused" (a replica already: READONLY).
    """

    async def write() -> None:
        async with RedisKV(node.url, PROBE, replicas=replicas, timeout=1.0) as kv:
            await kv.set("k", True)

    try:
        asyncio.run(write())
    except NotReplicatedError:
        return "not replicated"
    except UnavailableError:
        return "unavailable"
    except AioKVError:
        return "refused"
    return "ok"


def direct(node: RedisServer) -> Any:
    """A sync client of one node, for the final read (both of a store's hashes are there)."""
    return redis.Redis(port=node.port, socket_timeout=10)


def run(long: bool = LONG) -> Result:
    """Cases on a Sentinel deployment, then on a Cluster: half with replicas=1, half without."""
    return campaign(16 if long else 4, 16 if long else 4)[0]


def campaign(sentinel_cases: int = 4, cluster_cases: int = 4) -> tuple[Result, Counter[str]]:
    """Run the cases; return the row and the tally of what ran."""
    result = Result("Redis failovers (Sentinel, Cluster)")
    if not available():
        result.failures.append(f"redis-server is not installed: {INSTALL}")
        return result, result.tally
    directory = Path(tempfile.mkdtemp(prefix="aiokv-redisfailovers-"))
    undone: list[tuple[str, float]] = []
    try:
        sentinel = SentinelDeployment(directory).start()
        try:
            for case in run_cases(result, OnSentinel(sentinel), range(sentinel_cases), directory):
                undone += case.undone
        finally:
            sentinel.stop()
        cluster = ClusterDeployment(directory).start()
        try:
            for case in run_cases(result, OnCluster(cluster), range(cluster_cases), directory):
                undone += case.undone
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result.notes.append(describe(sentinel_cases, cluster_cases, result.tally, undone))
    return result, result.tally


def describe(
    sentinel: int, cluster: int, tally: Counter[str], undone: list[tuple[str, float]]
) -> str:
    """The report's note: what ran, what was injected, what replicas=0 lost."""
    faults = ", ".join(
        f"{n} {k}" for k, n in sorted(tally.items()) if k.startswith(("sentinel ", "cluster "))
        and not k.endswith(" ms")
    )  # fmt: skip
    demoted = tally["sentinel resume to demotion, ms"] / max(1, tally["sentinel primary pause"])
    before = [d for kind, d in undone if kind != "resumed primary"]
    after = [d for kind, d in undone if kind == "resumed primary"]
    lost = (
        f"{tally['acknowledged writes lost in a failover']} acknowledged writes lost with "
        f"replicas=0 ({len(before)} timed: acknowledged at most "
        f"{max(before, default=0) * 1000:.0f} ms before their primary died or froze; "
        f"{len(after)} acknowledged by a resumed old primary before its demotion), 0 with "
        "replicas=1"
    )
    probes = ", ".join(
        f"{n} {k[23:]}"
        for k, n in sorted(tally.items())
        if k.startswith("resumed primary probe: ")
    )
    return (
        f"{sentinel} Sentinel and {cluster} Cluster cases of 2-3 client processes x 3-5 tasks "
        f"and a long editor, half with replicas=1, {calls(tally)}; faults: {faults}, "
        f"{tally['client kill -9']} client kill -9 (a resumed primary was demoted "
        f"{demoted / 1000:.1f} s after it resumed, on average; a write of the parent's to it "
        f"on its resume: {probes}); {lost}; {tally['hangs']} hangs; "
        f"{slow(tally)}; {tally['late landings']} ambiguous writes applied after a later "
        "acknowledged one (allowed)"
    )


if __name__ == "__main__":
    # python -m tests.faults.redis_failovers [SENTINEL_CASES [CLUSTER_CASES]]: this alone.
    row, _ = campaign(*(int(a) for a in sys.argv[1:3]))
    print(f"{row.cases} cases, {row.survived} survived, {row.lost_writes} lost writes, "
          f"{row.seconds:.0f} s; {row.notes[0] if row.notes else ''}")  # fmt: skip
    for failure in row.failures:
        print(failure)
    sys.exit(1 if row.failures else 0)
