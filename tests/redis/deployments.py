"""Redis Sentinel and Redis Cluster deployments of real redis-servers on loopback.

For tests and benchmarks: no pytest here. Each node is a RedisServer (AOF on,
fsync on every write); admin goes through sync redis-py clients that fail fast.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from tests.redis.server import RedisServer

HOST = "127.0.0.1"
SLOTS = 16384
Address = tuple[str, int]

# Not 1000: then a Sentinel that learned of a failover from another one now and then
# took the new primary for down a second later, and failed over again (2 runs in 16).
DOWN_AFTER_MS = 2000
# Sentinel waits twice this before retrying a failover whose election split.
FAILOVER_TIMEOUT_MS = 3000
NODE_TIMEOUT_MS = 1000
# Redis waits 5 s by default for more replicas to share one full sync's transfer.
REPLICATION = ("--repl-diskless-sync-delay", "0")
START_TIMEOUT = 30.0
MIGRATE_BATCH = 100
MIGRATE_TIMEOUT_MS = 5000

T = TypeVar("T")


class SentinelServer(RedisServer):
    """A redis-server in Sentinel mode: no data of its own, and a config file it rewrites."""

    mode = ("--sentinel",)


class SentinelDeployment:
    """A primary, two replicas and three Sentinels (quorum 2) on loopback ports."""

    service = "aiokv"

    def __init__(self, directory: Path) -> None:
        """Lay out the deployment in directory/sentinel (nothing runs before start())."""
        self.directory = directory / "sentinel"
        ports = _ports(6)
        self.nodes = [
            RedisServer(self.directory / f"node{i}", *REPLICATION, port=ports[i]) for i in range(3)
        ]
        self.sentinel_servers = [
            SentinelServer(
                self.directory / f"sentinel{i}",
                port=ports[3 + i],
                config=(self.directory / f"sentinel{i}" / "sentinel.conf").absolute(),
            )
            for i in range(3)
        ]
        self._admin = _Admin()

    @property
    def sentinels(self) -> list[Address]:
        """The Sentinels' addresses, for redis-py's Sentinel."""
        return [(HOST, s.port) for s in self.sentinel_servers]

    def start(self) -> SentinelDeployment:
        """Start the nodes; once the replicas are in sync, the Sentinels, until each knows all."""
        primary, *replicas = self.nodes
        try:
            primary.start()
            for replica in replicas:
                replica.start("--replicaof", HOST, str(primary.port))

            def in_sync() -> None:
                for replica in replicas:
                    self._in_sync(replica, primary)

            self._poll(in_sync, "the replicas in sync")
            for sentinel in self.sentinel_servers:
                assert sentinel.config is not None
                sentinel.directory.mkdir(parents=True, exist_ok=True)
                sentinel.config.write_text(
                    f"sentinel monitor {self.service} {HOST} {primary.port} 2\n"
                    f"sentinel down-after-milliseconds {self.service} {DOWN_AFTER_MS}\n"
                    f"sentinel failover-timeout {self.service} {FAILOVER_TIMEOUT_MS}\n"
                    f"sentinel parallel-syncs {self.service} 1\n"
                )
                sentinel.start()
            self._poll(lambda: self._known(primary), "the Sentinels aware of every process")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the Sentinels, then the nodes (killed or paused ones too)."""
        self._admin.close()
        _stop_all(self.sentinel_servers)  # first: none fails over while the nodes go
        _stop_all(self.nodes)

    def primary(self, timeout: float = 10) -> RedisServer:
        """The node a majority of the Sentinels name as the primary."""
        return self._poll(
            self._named_primary, "a majority of the Sentinels naming one primary", timeout
        )

    def replicas(self) -> list[RedisServer]:
        """The nodes a Sentinel lists as the primary's replicas and does not see down."""
        primary = self.primary()
        for sentinel in self.sentinel_servers:
            if not sentinel.running:
                continue
            listed = self._admin(sentinel.port, "SENTINEL", "REPLICAS", self.service)
            fields = [_pairs(entry) for entry in listed]
            return [
                self._node(int(f["port"]))
                for f in fields
                if not {"s_down", "o_down", "disconnected"} & set(f["flags"].split(","))
                and int(f["master-port"]) == primary.port
            ]
        raise RuntimeError("no Sentinel runs")

    def kill_primary(self) -> RedisServer:
        """SIGKILL the current primary; return it."""
        primary = self.primary()
        primary.kill()
        return primary

    def wait_for_failover(self, old: RedisServer, timeout: float = 30) -> RedisServer:
        """Wait until a majority of Sentinels name a new primary, and it answers ROLE as one.

        The other replica may still be moving over to it.
        """

        def promoted() -> RedisServer:
            named = self._named_primary()
            if named is old:
                raise _NotYet(f"the Sentinels still name {old.port}")
            role = self._admin(named.port, "ROLE")[0]
            if role != "master":
                raise _NotYet(f"{named.port}, named primary, answers ROLE {role}")
            return named

        return self._poll(promoted, f"a failover from {old.port}", timeout)

    def restart(self, node: RedisServer, timeout: float = 30) -> RedisServer:
        """Start a killed node again on its port, as a replica of the current primary.

        Sentinel itself turns a returning old primary into a replica only some 8 s after
        it answers; started with --replicaof it never serves as a second primary.
        """
        primary = self.primary()
        if primary is node:  # killed, but no failover happened: it is still the primary
            node.start()
        else:
            node.start("--replicaof", HOST, str(primary.port))
            self.wait_in_sync(node, timeout)
        self._poll(
            lambda: self._seen_up(node, primary), f"the Sentinels seeing {node.port} up", timeout
        )
        return node

    def wait_in_sync(self, node: RedisServer, timeout: float = 30) -> RedisServer:
        """Wait until node replicates the current primary, in sync; return that primary.

        A paused old primary, resumed after a failover, gets there once Sentinel
        demotes it (some 10 s after it answers again).
        """
        primary = self.primary()
        self._poll(lambda: self._in_sync(node, primary), f"{node.port} in sync", timeout)
        return primary

    def _named_primary(self) -> RedisServer:
        named: Counter[int] = Counter()
        for sentinel in self.sentinel_servers:
            if sentinel.running:
                with contextlib.suppress(redis.RedisError, OSError):
                    _, port = self._admin(
                        sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service
                    )
                    named[int(port)] += 1
        if named:
            port, count = named.most_common(1)[0]
            if count > len(self.sentinel_servers) // 2:
                return self._node(port)
        raise _NotYet(f"the Sentinels name {dict(named)} (port: how many)")

    def _in_sync(self, replica: RedisServer, primary: RedisServer) -> None:
        info = self._admin(replica.port, "INFO", "replication")
        if info.get("master_port") != primary.port or info.get("master_link_status") != "up":
            raise _NotYet(
                f"{replica.port}: master {info.get('master_port')}, link "
                f"{info.get('master_link_status')}"
            )
        _aof_written(self._admin, replica)
        info = self._admin(primary.port, "INFO", "replication")
        online = [
            value.get("port")
            for key, value in info.items()
            if key.startswith("slave")
            and isinstance(value, dict)
            and value.get("state") == "online"
        ]
        if replica.port not in online:
            raise _NotYet(f"{primary.port} has {online} online, not {replica.port}")

    def _known(self, primary: RedisServer) -> None:
        for sentinel in self.sentinel_servers:
            master = _pairs(self._admin(sentinel.port, "SENTINEL", "MASTER", self.service))
            seen = (master["flags"], int(master["port"]))
            knows = (int(master["num-slaves"]), int(master["num-other-sentinels"]))
            if seen != ("master", primary.port) or knows != (2, 2):
                raise _NotYet(
                    f"Sentinel {sentinel.port} sees {seen}, knows {knows} (replicas, Sentinels)"
                )

    def _seen_up(self, node: RedisServer, primary: RedisServer) -> None:
        seen: tuple[str, ...]
        expected: tuple[str, ...]
        for sentinel in self.sentinel_servers:
            if not sentinel.running:
                continue
            master = _pairs(self._admin(sentinel.port, "SENTINEL", "MASTER", self.service))
            if node is primary:
                seen = (master["flags"], master["port"])
                expected = ("master", str(node.port))
            else:
                listed = self._admin(sentinel.port, "SENTINEL", "REPLICAS", self.service)
                entry = next((f for f in map(_pairs, listed) if int(f["port"]) == node.port), {})
                seen = tuple(
                    entry.get(k, "?") for k in ("flags", "master-port", "master-link-status")
                )
                expected = ("slave", str(primary.port), "ok")
            if seen != expected:
                raise _NotYet(f"Sentinel {sentinel.port} sees {node.port} as {seen}")

    def _node(self, port: int) -> RedisServer:
        for node in self.nodes:
            if node.port == port:
                return node
        raise LookupError(f"no node of the deployment has port {port}")

    def _poll(self, check: Callable[[], T], what: str, timeout: float = START_TIMEOUT) -> T:
        return _poll(check, what, timeout, [*self.nodes, *self.sentinel_servers])


class _View(NamedTuple):
    """One node of CLUSTER NODES, as every node should see it."""

    id: str
    port: int
    master: bool
    primary_id: str | None  # the node a replica replicates
    slots: tuple[tuple[int, int], ...]  # first and last of each range
    down: bool  # fail, or fail? (this node's own suspicion)

    def owns(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)


class ClusterDeployment:
    """A Redis Cluster of primaries, each with its replicas, on loopback ports."""

    def __init__(
        self,
        directory: Path,
        primaries: int = 3,
        replicas_per_primary: int = 1,
        more: tuple[str, ...] = (),
        server: type[RedisServer] = RedisServer,
    ) -> None:
        """Lay out the deployment in directory/cluster (nothing runs before start()).

        more: more redis-server arguments for every node (("--appendonly", "no"):
        no persistence); server: the nodes' kind (ValkeyServer: nodes with WAITAOF).
        """
        self.directory = directory / "cluster"
        self.replicas_per_primary = replicas_per_primary
        count = primaries * (1 + replicas_per_primary)
        ports = _ports(2 * count)  # a data port and a cluster bus port each
        self.nodes: list[RedisServer] = []
        for i in range(count):
            node_directory = self.directory / f"node{i}"
            options = (
                "--cluster-enabled", "yes",
                "--cluster-config-file", str((node_directory / "nodes.conf").absolute()),
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                # The default, port + 10000, may be past 65535 or taken.
                "--cluster-port", str(ports[count + i]),
                *REPLICATION,
                *more,
            )  # fmt: skip
            self.nodes.append(server(node_directory, *options, port=ports[i]))
        self._admin = _Admin()
        self._ids: dict[int, str] = {}
        self._replicas_at_kill: dict[int, list[RedisServer]] = {}
        self._frozen: set[int] = set()  # the ports of the nodes freeze() stopped

    @property
    def startup_nodes(self) -> list[Address]:
        """Every node's address, for a cluster client."""
        return [(HOST, node.port) for node in self.nodes]

    def start(self) -> ClusterDeployment:
        """Start the nodes, join them with redis-cli --cluster create, wait until it settles."""
        try:
            for node in self.nodes:
                node.start()
            create = subprocess.run(
                ["redis-cli", "--cluster", "create",
                 *(f"{HOST}:{node.port}" for node in self.nodes),
                 "--cluster-replicas", str(self.replicas_per_primary), "--cluster-yes"],
                capture_output=True, text=True, timeout=START_TIMEOUT,
            )  # fmt: skip
            if create.returncode != 0:
                raise RuntimeError(
                    f"redis-cli --cluster create failed:\n{create.stdout}{create.stderr}\n"
                    + _tails(self.nodes)
                )
            self._poll(self._settled, "the cluster settled")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node (killed or paused ones too)."""
        self._admin.close()
        _stop_all(self.nodes)

    def node_id(self, node: RedisServer) -> str:
        """The node's cluster ID (it keeps it across restarts, in its nodes.conf)."""
        if node.port not in self._ids:
            self._ids[node.port] = self._admin(node.port, "CLUSTER", "MYID")
        return self._ids[node.port]

    def primaries(self) -> list[RedisServer]:
        """The primaries serving slots, as a running node sees them, in slot order."""
        owners = [
            v
            for v in self._view_of(self._live()[0]).values()
            if v.master and v.slots and not v.down
        ]
        return [self._node(v.port) for v in sorted(owners, key=lambda v: v.slots[0])]

    def replica_of(self, primary: RedisServer) -> RedisServer:
        """A replica of primary that is up, as a running node sees them."""
        primary_id = self.node_id(primary)
        for v in self._view_of(self._live()[0]).values():
            if v.primary_id == primary_id and not v.down:
                return self._node(v.port)
        raise LookupError(f"{primary.port} has no replica that is up")

    def names_on_every_primary(self, per_primary: int, prefix: str) -> list[str]:
        """Store names, per_primary of them on each primary (by their hash slots)."""
        wanted = {p.port: per_primary for p in self.primaries()}
        names = []
        for n in itertools.count():
            name = f"{prefix}{n}"
            port = self.primary_of_slot(key_slot(name.encode())).port
            if wanted[port]:
                wanted[port] -= 1
                names.append(name)
            if not any(wanted.values()):
                return names
        raise AssertionError("unreachable")

    def primary_of_slot(self, slot: int) -> RedisServer:
        """The primary serving slot, as a running node sees it."""
        for v in self._view_of(self._live()[0]).values():
            if v.master and not v.down and v.owns(slot):
                return self._node(v.port)
        raise LookupError(f"no primary serves slot {slot}")

    def kill(self, node: RedisServer, replicas: list[RedisServer] | None = None) -> None:
        """SIGKILL node (its replicas are noted first, for wait_for_promotion).

        replicas: node's, if the caller knows them: asked of the cluster, a node
        the caller paused would leave the question unanswered.
        """
        self._note_replicas(node, replicas)
        node.kill()

    def freeze(self, node: RedisServer) -> None:
        """SIGSTOP node, as a hung host would be (replicas noted first); thaw() ends it."""
        self._note_replicas(node)
        self._frozen.add(node.port)  # asked nothing while frozen: it would not answer
        node.pause()

    def thaw(self, node: RedisServer) -> None:
        """SIGCONT a node freeze() stopped."""
        node.resume()
        self._frozen.discard(node.port)

    def _note_replicas(self, node: RedisServer, replicas: list[RedisServer] | None = None) -> None:
        if replicas is None:
            node_id = self.node_id(node)
            view = self._view_of(next(n for n in self._live() if n is not node))
            replicas = [self._node(v.port) for v in view.values() if v.primary_id == node_id]
        self._replicas_at_kill[node.port] = replicas

    def wait_for_promotion(self, dead_primary: RedisServer, timeout: float = 30) -> RedisServer:
        """Wait until a replica of dead_primary is a primary and cluster_state:ok on every node."""
        candidates = self._replicas_at_kill.get(dead_primary.port)
        if candidates is None:
            raise ValueError(f"{dead_primary.port} was not stopped through kill() or freeze()")

        def promoted() -> RedisServer:
            views = self._views(self._live())
            for candidate in candidates:
                candidate_id = self.node_id(candidate)
                if all(view[candidate_id].master and view[candidate_id].slots for view in views):
                    return candidate
            raise _NotYet(f"no replica of {dead_primary.port} is a primary everywhere yet")

        return self._poll(promoted, f"a replica of {dead_primary.port} promoted", timeout)

    def restart(self, node: RedisServer, timeout: float = 30) -> RedisServer:
        """Start a killed node again on its port and wait until the cluster settles with it."""
        node.start()
        self._poll(self._settled, f"the cluster settled with {node.port} back", timeout)
        return node

    def migrate_slot(self, slot: int, source: RedisServer, target: RedisServer) -> int:
        """Move slot and its keys from source to target, live, as redis-cli --cluster reshard."""
        with self.migrating(slot, source, target) as migration:
            pass
        return migration.moved

    @contextlib.contextmanager
    def migrating(
        self, slot: int, source: RedisServer, target: RedisServer
    ) -> Iterator[Migration]:
        """Slot IMPORTING on target, MIGRATING on source; yield; then move its keys, hand it over.

        Inside, clients meet the ASK / TRYAGAIN window; Migration.move_keys moves keys
        early. An exception inside leaves the slot half-migrated.
        """
        if self.primary_of_slot(slot) is not source:
            raise ValueError(f"{source.port} does not serve slot {slot}")
        others = [p for p in self.primaries() if p not in (source, target)]
        self._admin(target.port, "CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source))
        self._admin(source.port, "CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(target))
        migration = Migration(self._admin, slot, source, target)
        yield migration
        migration.move_keys()
        # The target first: it bumps its config epoch, so its claim wins in gossip.
        for primary in (target, source, *others):
            self._admin(primary.port, "CLUSTER", "SETSLOT", slot, "NODE", self.node_id(target))

        def handed_over() -> None:
            target_id = self.node_id(target)
            for view in self._views(self._live()):
                if not view[target_id].owns(slot):
                    raise _NotYet(f"a node does not see slot {slot} on {target.port} yet")

        self._poll(handed_over, f"slot {slot} handed to {target.port}")

    def _settled(self) -> None:
        live = self._live()
        views = self._views(live)
        seen = views[0]
        if any(view != seen for view in views):
            raise _NotYet("the nodes see the cluster differently")
        running = {node.port for node in live}
        if wrong := [v.port for v in seen.values() if (v.port in running) == v.down]:
            raise _NotYet(f"{wrong} are seen down but run, or seen up but do not run")
        served = sum(
            b - a + 1 for v in seen.values() if v.master and not v.down for a, b in v.slots
        )
        if served != SLOTS:
            raise _NotYet(f"{served} slots served")
        for v in seen.values():
            if not v.master and v.port in running:
                info = self._admin(v.port, "INFO", "replication")
                if info.get("master_link_status") != "up":
                    raise _NotYet(f"replica {v.port}: link {info.get('master_link_status')}")
        for node in live:
            _aof_written(self._admin, node)

    def _views(self, nodes: Iterable[RedisServer]) -> list[dict[str, _View]]:
        """Each node's CLUSTER NODES, after it says cluster_state:ok."""
        views = []
        for node in nodes:
            if "cluster_state:ok" not in self._admin(node.port, "CLUSTER", "INFO"):
                raise _NotYet(f"{node.port}: cluster_state is not ok")
            views.append(self._view_of(node))
        return views

    def _view_of(self, node: RedisServer) -> dict[str, _View]:
        view = {}
        for line in self._admin(node.port, "CLUSTER", "NODES").splitlines():
            node_id, address, flags_text, primary_id, _, _, _, _, *slots = line.split()
            flags = set(flags_text.split(","))
            if flags & {"handshake", "noaddr"}:
                raise _NotYet(f"{node.port} sees a node in {flags_text}")
            ranges = []
            for text in slots:
                if not text.startswith("["):  # [slot->-id]: a migration, seen by its nodes only
                    first, _, last = text.partition("-")
                    ranges.append((int(first), int(last or first)))
            view[node_id] = _View(
                id=node_id,
                port=int(address.split("@")[0].rpartition(":")[2]),
                master="master" in flags,
                primary_id=None if primary_id == "-" else primary_id,
                slots=tuple(ranges),
                down=bool(flags & {"fail", "fail?"}),
            )
        return view

    def _live(self) -> list[RedisServer]:
        live = [node for node in self.nodes if node.running and node.port not in self._frozen]
        if not live:
            raise RuntimeError("no node of the cluster runs")
        return live

    def _node(self, port: int) -> RedisServer:
        for node in self.nodes:
            if node.port == port:
                return node
        raise LookupError(f"no node of the deployment has port {port}")

    def _poll(self, check: Callable[[], T], what: str, timeout: float = START_TIMEOUT) -> T:
        return _poll(check, what, timeout, self.nodes)


class Migration:
    """A slot MIGRATING on its source and IMPORTING on its target (ClusterDeployment.migrating)."""

    def __init__(self, admin: _Admin, slot: int, source: RedisServer, target: RedisServer) -> None:
        """Not made directly: ClusterDeployment.migrating yields one."""
        self._admin = admin
        self.slot, self.source, self.target = slot, source, target
        self.moved = 0

    def move_keys(self, limit: int | None = None) -> int:
        """MIGRATE up to limit (default: all) of the slot's keys to the target; return how many.

        Keys written into the slot meanwhile are moved too: it asks GETKEYSINSLOT again
        until the source has none left.
        """
        moved = 0
        while limit is None or moved < limit:
            count = MIGRATE_BATCH if limit is None else min(MIGRATE_BATCH, limit - moved)
            keys = self._admin(
                self.source.port, "CLUSTER", "GETKEYSINSLOT", self.slot, count, raw=True
            )
            if not keys:
                break
            self._admin(
                self.source.port,
                "MIGRATE", HOST, self.target.port, "", 0, MIGRATE_TIMEOUT_MS, "KEYS", *keys,
                raw=True,
            )  # fmt: skip
            moved += len(keys)
        self.moved += moved
        return moved


class _NotYet(Exception):
    """A polled condition does not hold yet; the message says how."""


class _Admin:
    """Sync redis-py clients to the deployment's processes, one per port, failing fast."""

    def __init__(self) -> None:
        self._clients: dict[tuple[int, bool], redis.Redis] = {}

    def __call__(self, port: int, *args: str | int | bytes, raw: bool = False) -> Any:
        """Send one command: decoded, or as bytes when raw (keys need not be UTF-8).

        A multi-word command goes as separate words: redis-py then applies none of its
        reply parsing (which differs between its versions) except INFO's.
        """
        client = self._clients.get((port, raw))
        if client is None:
            client = self._clients[port, raw] = redis.Redis(
                HOST,
                port,
                decode_responses=not raw,
                protocol=2,  # redis-py 8 speaks RESP3 by default, 7.2 RESP2: one reply shape
                socket_timeout=2,
                socket_connect_timeout=2,
                retry=Retry(NoBackoff(), 0),  # a poll retries; a dead node must not stall it
            )
        execute: Callable[..., Any] = client.execute_command  # untyped in redis-py 8
        return execute(*args)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _poll(check: Callable[[], T], what: str, timeout: float, servers: Iterable[RedisServer]) -> T:
    """check() until it returns; TimeoutError, with the servers' log tails, after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (_NotYet, redis.RedisError, OSError) as error:
            why = f"{type(error).__name__}: {error}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s ({why})\n{_tails(servers)}")
        time.sleep(0.05)


def _aof_written(admin: _Admin, node: RedisServer) -> None:
    """Raise _NotYet while node rewrites its AOF (after a full sync): it refuses SIGTERM then."""
    info = admin(node.port, "INFO", "persistence")
    if info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled"):
        raise _NotYet(f"{node.port} is rewriting its AOF")


def _tails(servers: Iterable[RedisServer]) -> str:
    return "\n".join(
        f"--- {server.directory / 'redis.log'} ---\n{server.log_tail(1500)}" for server in servers
    )


def _pairs(flat: list[str]) -> dict[str, str]:
    """A Sentinel reply [name, value, name, value, ...] as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _stop_all(servers: Iterable[RedisServer], timeout: float = 10) -> None:
    """SIGTERM every running server at once; SIGKILL whichever still runs after timeout."""
    running = [server for server in servers if server.running]
    for server in running:
        server.resume()  # a paused server would not act on SIGTERM
    deadline = time.monotonic() + timeout
    while left := [server for server in running if server.running]:
        if time.monotonic() > deadline:
            for server in left:
                server.kill()
            return
        processes = [server.process for server in left if server.process is not None]
        for process in processes:
            # Again each round: a server writing its first AOF after a sync refuses one.
            process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            processes[0].wait(0.25)


_handed_out: set[int] = set()


def _ports(count: int) -> list[int]:
    """count free loopback ports, none handed out before, below the ephemeral range.

    A killed node restarts on its port; one in the ephemeral range might meanwhile be
    some client connection's own port.
    """
    low, high = 10000, max(_ephemeral_start(), 20000)
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(low, high)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            ports.append(port)
    return ports


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152  # macOS's, and IANA's


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server binds
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True
