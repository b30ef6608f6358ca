"""Campaign 10: RedisKV through a proxy that breaks connections; its server killed and paused.

Each case starts two or three client processes, each with a RedisKV reaching
a real redis-server through a proxy of our own (`redis_proxy.py`), and in
each several tasks writing, editing and listing at random: set, update,
delete, incr, clear of their namespace, edit() blocks (a short one, or a
long one that outlives its first lease and lives on renewals), get, has,
keys and get_all, of the store and of namespaces, and a listing under a
prefix holding a lone surrogate. Edits are cancelled at every await: while
the lease is requested (or waited for), in the block, while the value is
stored, and while a block that raised frees its lease. Meanwhile the parent
breaks things on a seeded schedule: proxy storms (delays, stalls longer
than the timeout, drops and resets of busy and idle connections), the
server kill -9'd and restarted, stopped and restarted, paused shorter or
longer than a lease, and a client process kill -9'd.

What a case runs on is its target's say (a Target: the stores and what the
clients make them of, the faults, how the final state is read): here
OneServer, the server behind the proxy; redis_failovers.py runs the same
clients, model and checks on Sentinel and Cluster deployments, where a
process opens several stores (one client under them) and failovers are
the faults. The clients run until the parent says stop.

Every call is logged by its process just before it is awaited and again
when it ends, so the parent knows, for each one, whether it was
acknowledged, raised, was cancelled, or was cut off by a kill. What must hold:

- Every call either succeeds or raises a documented error: UnavailableError
  (the server out of reach or silent; NotReplicatedError, with replicas=,
  when too few replicas confirmed a write in time), AioKVError for an edit that outlived
  its lease, ClosedError after aclose(), or our own cancellation. A call that
  begins and ends while nothing is broken (no storm, the server up and
  answering) must succeed: "the first operation once the server answers
  succeeds"; so must an edit whose only trouble was a server pause shorter
  than a lease renewal's period plus the timeout. (A timeout with nothing
  broken is counted, not failed: the machine is shared and the server
  fsyncs every write, so an answer may come late; it was bounded.)
- No call hangs: each one is watched by a watchdog of its round trips'
  timeouts plus a margin (and, for writes that wait for leases, the leases
  it may wait for); a whole process is killed and counted as hung past its
  own bound.
- The server's final state is the acknowledged log replayed. What a call
  that raised may have done is the model's one freedom: a write that raised
  UnavailableError, or was cancelled (or killed) while on its way, may or
  may not have been applied, and may even be applied after a later write
  of the same task was acknowledged (a request the client gave up on can sit
  in a stalled network or a paused server's buffer). So the final value of a
  key is its last acknowledged write's, or one of the ambiguous writes' to
  it; never a value no one wrote, never an older acknowledged one (each
  write's value is unique). Counters end between the acknowledged
  increments and those plus the ambiguous ones. Each edit appends a unique
  token to a list: every acknowledged edit's token is there, once; an edit
  that raised before its value was sent (in the block, for its lease, at
  lease expiry, on a closed store) is not; an edit whose store call raised or
  was cancelled may be. Reads must agree with the same model at their time,
  and a read of a shared list must see every edit acknowledged (by any
  process) before the read began. The one other freedom is a target's loss
  windows (Case.losses; redis_failovers.py, replicas=0 only): a write
  acknowledged in one is "lossy", possible but not sure (a failover may undo
  it), and each one the final state undid is counted, not failed.
- No lease outlives its edit: right after every edit of a task's own key
  ends (stored, raised, cancelled anywhere) and after aclose(), when nothing
  was broken meanwhile, the server holds no live lease on it; and at the end
  every live lease left (a killed process's, or one granted while the server
  or network was broken) must end within edit_lease of the last fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from tests.faults.common import LONG, Result, Timer
from tests.faults.redis_proxy import KINDS, Faults, Proxy
from tests.helpers import child
from tests.redis.server import INSTALL, RedisServer, available

TIMEOUT = 0.3  # every client's timeout
LEASE = 1.8  # every client's edit_lease; renewed every LEASE / 3
SETTLE = 0.25  # after a fault ends, the server's time to answer again
MARGIN = 3.0  # the watchdog's slack on a shared, loaded machine
# The round trips a call may make (EVALSHA, SCRIPT LOAD after a restart,
# EVALSHA again, and an HSCAN page more), each a connect and a command.
PLAIN_BOUND = 4 * 2 * TIMEOUT + MARGIN
EDIT_BOUND = PLAIN_BOUND + 6 * LEASE  # may wait for leases (a killed process's, a stale one)
# A pause the renewals must ride out: one renewal fails after TIMEOUT, the
# next LEASE / 3 later must reach the server before the lease ends.
SHORT_PAUSE = (TIMEOUT + 0.2, TIMEOUT + LEASE / 3 - 0.15)
LONG_PAUSE = (LEASE, LEASE + 0.4)  # an edit under way outlives its lease
STORM = (0.15, 0.5)  # how long a storm lasts
STALL = (TIMEOUT * 1.2, TIMEOUT * 3)  # a stalled chunk: the client gives up before it moves
SHORT_BODY = (0.0, 0.004)
LONG_BODY = (LEASE + 0.2, LEASE + 0.6)  # longer than a lease: only renewals keep the edit alive
SLACK = 0.1  # a lease's time on the server's clock, read back on ours
QUIET_END = 0.7  # the last part of a case has no fault: everything must work again
KEYS = 4  # each task's own keys
SHARED = ("shared:e0", "shared:e1")  # lists every task edits


def leases_of(name: str, cluster: bool) -> str:
    """The hash of store name's edit leases (on a cluster, in the store's slot)."""
    from aiokv.redis import scripts

    return scripts.keys(name, cluster=cluster)[1]


def edit_key(writer: str) -> str:
    """The list only this task edits, in a namespace of its own (e.<writer>:list)."""
    return f"e.{writer}:list"


COUNTER = "shared:n"  # every task increments it
# The ms a lease in KEYS[1] (a store's leases' hash; a lease "<token> <deadline ms>")
# on field ARGV[1] has to live, on the clock of the server that holds it; nil: none.
LEASE_LEFT = """
local lease = redis.call('HGET', KEYS[1], ARGV[1])
if not lease then return nil end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return tonumber(string.match(lease, ' (%d+)$')) - now
"""
HOSTILE_PREFIX = "\ud800"  # a lone surrogate: the file store answers, so must Redis
PLANS = ("none", "none", "none", "begin", "body", "end", "raise", "cleanup")
SCENARIOS = ("short pauses", "proxy storms", "crashes", "mixed")
FIRST = {"short pauses": "short pause", "mixed": "long pause"}  # their first fault

CHILD = """
import sys
from tests.faults.redis_faults import child_main
child_main(sys.argv[1])
"""


class Deliberate(Exception):
    """Raised inside an edit block on purpose: nothing may be stored."""


# -- the client processes -----------------------------------------------------


class Log:
    """A client process's calls, one JSON line when each begins and one when it ends."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115
        self.n = 0

    def write(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")  # one write(): a kill keeps whole lines

    def begin(self, writer: str, op: str, **fields: Any) -> int:
        self.n += 1
        self.write({"i": self.n, "w": writer, "op": op, "t0": time.monotonic(), **fields})
        return self.n

    def end(self, i: int, out: str, **fields: Any) -> None:
        self.write({"i": i, "end": out, "t1": time.monotonic(), **fields})


def outcome(e: BaseException) -> str:
    """The log's name for how a call raised: documented ones by name, others in full."""
    from aiokv import AioKVError, ClosedError, NotReplicatedError, UnavailableError

    if isinstance(e, asyncio.CancelledError):
        return "cancelled"
    if isinstance(e, ClosedError):
        return "closed"
    if isinstance(e, NotReplicatedError):  # an UnavailableError: first
        return "not replicated"
    if isinstance(e, UnavailableError):
        return "unavailable (timeout)" if "no answer in time" in str(e) else "unavailable"
    if isinstance(e, AioKVError) and "outlived its lease" in str(e):
        return "lease expired"
    if isinstance(e, Deliberate):
        return "deliberate"
    return f"undocumented {type(e).__name__}: {e}"[:400]


@dataclass
class Client:
    """One client process's stores, log and watchdog."""

    stores: dict[str, Any]  # store name -> its RedisKV
    homes: dict[str, str]  # a task (or "close <name>") -> the name of the store it uses
    direct: Any  # a redis.asyncio client of the server or deployment, for the lease checks
    cluster: bool  # whether direct is a RedisCluster (the leases' hash is named for its slot)
    log: Log
    stop: bool = False
    # call number -> its deadline, what it is, and the task awaiting it
    watched: dict[int, tuple[float, str, asyncio.Task[Any] | None]] = field(default_factory=dict)

    def store(self, writer: str) -> Any:
        """The store a task writes to."""
        return self.stores[self.homes[writer]]

    def uncancel(self) -> None:
        # A cancellation we made and caught: the task goes on (3.11+ counts them).
        task = asyncio.current_task()
        if task is not None and hasattr(task, "uncancel"):
            task.uncancel()

    async def call(
        self,
        writer: str,
        op: str,
        awaitable: Awaitable[Any],
        *,
        cancel: float | None = None,
        bound: float = PLAIN_BOUND,
        shape: Callable[[Any], Any] = lambda r: r,
        **fields: Any,
    ) -> None:
        """Log, await (cancelled after cancel seconds, if given), log how it ended."""
        i = self.log.begin(writer, op, s=self.homes[writer], **fields)
        self.watched[i] = (time.monotonic() + bound, op, asyncio.current_task())
        handle = None
        if cancel is not None:
            task = asyncio.current_task()
            assert task is not None
            handle = asyncio.get_running_loop().call_later(cancel, task.cancel)
        try:
            result = shape(await awaitable)
        except BaseException as e:  # our cancellation too: it is logged, then the task goes on
            out, result, why = outcome(e), None, str(e)[:300]
            if out == "cancelled":
                self.uncancel()
        else:
            out, why = "ok", None
        finally:
            if handle is not None:
                handle.cancel()
            del self.watched[i]
        self.log.end(i, out, result=result, why=why)

    async def edit(
        self, writer: str, target: Any, key: str, full: str, token: str, body: float, plan: str
    ) -> None:
        """One edit() appending token, cancelled (or raising) where plan says; log its phases."""
        rng = random.Random(token)
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        handles = []

        def cancel_within(seconds: float) -> None:
            handles.append(loop.call_later(rng.uniform(0, seconds), task.cancel))

        shared = full in SHARED
        home = self.homes[writer]
        i = self.log.begin(writer, "edit", s=home, key=full, token=token, plan=plan, shared=shared)
        self.watched[i] = (time.monotonic() + EDIT_BOUND + body, f"edit {plan}", task)
        phase, times, why = "begin", {}, None
        if plan == "begin":
            cancel_within(0.004)
        try:
            async with target.edit(key, default=[]) as items:
                phase, times["tb"] = "body", time.monotonic()
                try:
                    if plan == "body":
                        cancel_within(body + 0.002)
                    await asyncio.sleep(body)
                    items.append(token)
                    if plan in ("raise", "cleanup"):
                        phase = "cleanup"  # the block raises: the edit frees its lease
                        if plan == "cleanup":
                            cancel_within(0.004)
                        raise Deliberate
                    if plan == "end":
                        cancel_within(0.004)
                    phase = "end"  # the value is on its way
                finally:
                    times["tx"] = time.monotonic()
            out = "ok"
        except BaseException as e:
            out, why = outcome(e), str(e)[:300]
            if out == "cancelled":
                self.uncancel()
        finally:
            for handle in handles:
                handle.cancel()
            del self.watched[i]
        lease = None if shared else await self.lease_left(home, full)
        self.log.end(i, out, phase=phase, lease=lease, tl=time.monotonic(), why=why, **times)

    async def lease_left(self, name: str, key: str) -> float | str | None:
        """Milliseconds the lease on key in store name has to live (<= 0: dead); None: no lease.

        Asked of the primary that holds the store, in one script, so the
        lease and the clock it is measured on come from one server.
        """
        try:
            left = await asyncio.wait_for(
                self.direct.eval(LEASE_LEFT, 1, leases_of(name, self.cluster), key), PLAIN_BOUND
            )
        except Exception:  # the server is down: the parent judges only calm checks
            return "unknown"
        return None if left is None else int(left)


async def worker(c: Client, writer: str, seed: int) -> None:
    """A task's random calls on its own keys, its counter, its edit list and the shared ones."""
    rng = random.Random(seed)
    kv = c.store(writer)
    ns, own = kv.namespace(writer), kv.namespace(f"e.{writer}")
    seq = 0
    while not c.stop:
        seq += 1
        r = rng.random()
        k = f"k{rng.randrange(KEYS)}"
        full = f"{writer}:{k}"
        via_ns = rng.random() < 0.5
        cancel = rng.uniform(0, 0.003) if rng.random() < 0.06 else None
        value = [writer, seq]
        if r < 0.16:
            call = ns.set(k, value) if via_ns else kv.set(full, value)
            await c.call(writer, "set", call, cancel=cancel, key=full, value=value)
        elif r < 0.24:
            other = f"k{(int(k[1:]) + 1) % KEYS}"
            mapping = {full: value, f"{writer}:{other}": value}
            call = ns.update({k: value, other: value}) if via_ns else kv.update(mapping)
            await c.call(writer, "update", call, cancel=cancel, mapping=mapping)
        elif r < 0.32:
            call = ns.delete(k) if via_ns else kv.delete(full)
            await c.call(writer, "delete", call, cancel=cancel, key=full)
        elif r < 0.35:
            prefix = f"{writer}:"
            call = ns.clear() if via_ns else kv.clear(prefix)
            await c.call(writer, "clear", call, cancel=cancel, prefix=prefix)
        elif r < 0.45:
            await c.call(writer, "incr", kv.incr(f"n.{writer}"), cancel=cancel, key=f"n.{writer}")
        elif r < 0.50:
            await c.call(writer, "incr", kv.incr(COUNTER), cancel=cancel, key=COUNTER)
        elif r < 0.65:
            body, plan, token = rng.uniform(*SHORT_BODY), rng.choice(PLANS), f"{writer}#{seq}"
            if rng.random() < 0.5:
                key = rng.choice(SHARED)
                await c.edit(writer, kv, key, key, token, body, plan)
            elif via_ns:
                await c.edit(writer, own, "list", edit_key(writer), token, body, plan)
            else:
                await c.edit(writer, kv, edit_key(writer), edit_key(writer), token, body, plan)
        elif r < 0.73:
            call = ns.get(k) if via_ns else kv.get(full)
            await c.call(writer, "get", call, cancel=cancel, key=full)
        elif r < 0.77:
            call = ns.has(k) if via_ns else kv.has(full)
            await c.call(writer, "has", call, cancel=cancel, key=full)
        elif r < 0.84:
            prefix = f"{writer}:"
            if via_ns:
                await c.call(
                    writer,
                    "get_all",
                    ns.get_all(),
                    cancel=cancel,
                    shape=lambda got, p=prefix: {p + key: v for key, v in got.items()},
                    prefix=prefix,
                )
            else:
                await c.call(writer, "get_all", kv.get_all(prefix), cancel=cancel, prefix=prefix)
        elif r < 0.90:
            prefix = f"{writer}:"
            call = ns.keys() if via_ns else kv.keys(prefix)
            shape = (lambda got, p=prefix: [p + key for key in got]) if via_ns else list
            await c.call(writer, "keys", call, cancel=cancel, shape=shape, prefix=prefix)
        elif r < 0.93:
            key = rng.choice((edit_key(writer), *SHARED))
            await c.call(writer, "get", kv.get(key), cancel=cancel, key=key)
        elif r < 0.97:
            # A burst: more calls at once than were under way, so it takes
            # connections from the pool that sat idle through the last fault.
            calls = [
                c.call(
                    writer,
                    "set",
                    kv.set(f"{writer}:k{j}", [writer, seq, j]),
                    key=f"{writer}:k{j}",
                    value=[writer, seq, j],
                )
                for j in range(KEYS)
            ]
            calls += [c.call(writer, "incr", kv.incr(COUNTER), key=COUNTER) for _ in range(4)]
            calls += [c.call(writer, "get", kv.get(key), key=key) for key in SHARED * 2]
            await asyncio.gather(*calls)  # fmt: skip
        else:
            prefix = rng.choice((HOSTILE_PREFIX, f"{writer}:{HOSTILE_PREFIX}"))
            call = rng.choice((kv.keys, kv.get_all, ns.keys))(prefix)
            await c.call(writer, "hostile", call, shape=lambda got: len(got), prefix=prefix)
        await asyncio.sleep(rng.choice((0, 0, 0.001, 0.004)))


async def long_editor(c: Client, writer: str, seed: int) -> None:
    """Edits of its own key that outlive a lease (they live on renewals), until told to stop."""
    rng = random.Random(seed)
    kv = c.store(writer)
    seq = 0
    while not c.stop:
        body = rng.uniform(*LONG_BODY)
        seq += 1
        plan = rng.choice(("none", "none", "none", "body", "raise"))
        key = edit_key(writer)
        await c.edit(writer, kv, key, key, f"{writer}#{seq}", body, plan)


async def watchdog(c: Client) -> None:
    """Log each call still running past its bound, once, with where its task waits."""
    told: set[int] = set()
    while True:
        await asyncio.sleep(0.05)
        now = time.monotonic()
        for i, (deadline, op, task) in list(c.watched.items()):
            if now > deadline and i not in told:
                told.add(i)
                stack = io.StringIO()
                if task is not None:
                    task.print_stack(file=stack)
                c.log.write({"hang": i, "op": op, "t": now, "stack": stack.getvalue()[-3000:]})


async def client_main(cfg: dict[str, Any]) -> None:
    """A client process: its tasks until the parent says stop, then aclose() and lease checks.

    cfg["source"] says what its stores run on (a URL: each store its own
    connections; a Sentinel or Cluster spelling of tests/redis/sources.py:
    one client that every store shares), cfg["names"] the stores.
    """
    import redis.asyncio as aioredis

    from aiokv.redis import RedisKV
    from tests.redis import sources

    given = sources.source(cfg["source"], TIMEOUT)
    stores = {
        name: RedisKV(given, name, timeout=TIMEOUT, edit_lease=LEASE, replicas=cfg["replicas"])
        for name in cfg["names"]
    }
    if cfg["direct"].startswith("redis://"):
        direct = aioredis.Redis.from_url(cfg["direct"], socket_timeout=2, socket_connect_timeout=2)
    else:
        direct = sources.source(cfg["direct"], 2.0)
    p, rng, names = cfg["process"], random.Random(cfg["seed"]), cfg["names"]
    writers = [f"p{p}t{n}" for n in range(cfg["tasks"])]
    # The tasks spread over the stores (on a cluster, over its nodes); each
    # store is shared by tasks of every process.
    homes = {w: names[n % len(names)] for n, w in enumerate(writers)}
    homes[f"p{p}L"] = names[p % len(names)]
    homes.update({f"close {name}": name for name in names})
    c = Client(stores, homes, direct, cfg["source"].startswith("cluster:"), Log(cfg["log"]))
    print("ready", flush=True)
    sys.stdin.readline()  # every client starts at once, when the parent says so
    tasks = [asyncio.create_task(worker(c, w, rng.randrange(2**32))) for w in writers]
    tasks.append(asyncio.create_task(long_editor(c, f"p{p}L", rng.randrange(2**32))))
    dog = asyncio.create_task(watchdog(c))
    await asyncio.to_thread(sys.stdin.readline)  # until the parent says stop (or is gone)
    c.stop = True

    async def close_all() -> None:
        closes = [
            c.call(f"close {name}", "aclose", kv.aclose(), bound=EDIT_BOUND)
            for name, kv in stores.items()
        ]
        await asyncio.gather(*closes)

    if cfg["close_early"]:  # aclose() meets the calls and edits under way
        await close_all()
    done, running = await asyncio.wait(tasks, timeout=EDIT_BOUND + max(LONG_BODY))
    for task in running:
        c.log.write({"hang": 0, "op": "a task did not stop", "t": time.monotonic()})
        task.cancel()
    for task in done:
        if task.exception() is not None:
            c.log.write({"crash": repr(task.exception())})
    if not cfg["close_early"]:
        await close_all()
    for w in [*writers, f"p{p}L"]:
        left = await c.lease_left(homes[w], edit_key(w))
        c.log.write(
            {"after_close": edit_key(w), "s": homes[w], "lease": left, "tl": time.monotonic()}
        )
    dog.cancel()
    if not isinstance(given, str):
        await given.aclose()
    await direct.aclose()


def child_main(config: str) -> None:
    """The entry point of a client process: config is its JSON settings."""
    asyncio.run(client_main(json.loads(config)))


# -- the parent: faults and the final check -------------------------------------


@dataclass
class Fault:
    """A span of time when the network, the server or a node was broken (settling included)."""

    kind: str
    start: float
    end: float


@dataclass
class Loss:
    """A span in which a write acknowledged without replicas= may be undone by a failover.

    Redis replicates asynchronously: a primary that dies (or freezes, and is
    replaced) may have acknowledged writes its replicas never received.
    """

    kind: str  # the fault that led to the failover
    at: float  # when the primary died or froze
    start: float  # LOSS_BOUND before `at`
    end: float  # when it could no longer acknowledge a write the new primary lacks


@dataclass
class Case:
    """What one case did and what its check found."""

    seed: int
    faults: list[Fault] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)  # none with replicas=1: the model is exact
    kills: list[float] = field(default_factory=list)  # when a client process was killed
    tally: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    lost: int = 0
    # Each acknowledged write a failover undid (allowed in a loss window): the
    # window's kind, and how long before its primary died or froze (its `at`)
    # the write was acknowledged, in seconds.
    undone: list[tuple[str, float]] = field(default_factory=list)

    def broken(self, start: float, end: float, *, allow: tuple[str, ...] = ()) -> bool:
        """Whether a fault (other than those allowed) touched [start, end]."""
        return any(f.start < end and start < f.end and f.kind not in allow for f in self.faults)

    def lease_outlives(self, left_ms: Any, at: float) -> bool:
        """Whether a lease seen at `at` with left_ms to live outlives every edit it can be.

        A lease may live edit_lease past the last fault (or client kill) before
        `at`: a request for it sent then may reach the server until the fault
        ends (a stalled network, a paused server), after its edit gave up; and
        one granted or renewed on a primary before it died lives on the replica
        promoted in its place until its deadline.
        """
        if not isinstance(left_ms, (int, float)) or left_ms <= 0:
            return False  # none, dead, or unknown (the server was down)
        last = max([f.end for f in self.faults if f.start < at] + self.kills, default=-LEASE)
        return at + left_ms / 1000 > last + LEASE + SLACK

    def loss_at(self, t: float) -> Loss | None:
        """The loss window t falls in, if any."""
        return next((loss for loss in self.losses if loss.start <= t <= loss.end), None)

    def state(self, rec: dict[str, Any]) -> str:
        """status(rec), or "lossy": acknowledged in a loss window, so a failover may undo it."""
        state = status(rec)
        if state == "ok" and self.loss_at(rec["t1"]) is not None:
            return "lossy"
        return state

    def undo(self, t1: float | None, n: int = 1) -> None:
        """Count n lossy acknowledgements the final state undid (t1: when one was given)."""
        self.tally["acknowledged writes lost in a failover"] += n
        loss = None if t1 is None else self.loss_at(t1)
        if t1 is not None and loss is not None:
            self.undone.append((loss.kind, loss.at - t1))

    def fail(self, what: str) -> None:
        self.problems.append(f"seed {self.seed}: {what}")


@dataclass
class Plan:
    """What a case's clients run on, as a target lays it out."""

    scenario: str  # which faults the target injects
    names: list[str]  # the stores every client process opens
    source: str  # what their stores are made of: a URL, or a spelling of tests/redis/sources.py
    direct: str  # the same for the lease checks' client (one that bypasses a proxy)
    replicas: int = 0  # RedisKV(replicas=)


@dataclass
class Final:
    """A store's hash and its leases' hash as the case left them, and the clock they hold."""

    state: dict[str, Any]
    leases: dict[bytes, bytes]
    server_ms: int  # the server's clock when it was read, in ms
    looked: float  # ours, just after


class Target(Protocol):
    """Where a campaign's cases run: what the clients reach, what breaks, what is read."""

    def plan(self, seed: int, rng: random.Random) -> Plan:
        """Lay out case seed (the scenario, the stores, the clients' sources)."""

    def break_things(
        self, case: Case, plan: Plan, rng: random.Random, clients: list[subprocess.Popen[str]]
    ) -> None:
        """Inject the plan's faults into case, and return after a quiet end, all healed."""

    def read(self, name: str) -> Final:
        """Store name's final hash and leases, from its primary; then remove both."""


def read_hash(client: Any, name: str, leases: str) -> Final:
    """Store name's hash, its leases' hash and the clock, through a sync client; then remove both.

    client: a redis-py client of the one server (or node) that holds both.
    """
    final = {k.decode(): json.loads(v) for k, v in client.hgetall(name).items()}
    found = client.hgetall(leases)
    seconds, micro = client.time()
    looked = time.monotonic()
    client.delete(name, leases)
    return Final(final, found, seconds * 1000 + micro // 1000, looked)


def kill_a_client(case: Case, rng: random.Random, clients: list[subprocess.Popen[str]]) -> bool:
    """kill -9 a client process, if none was yet and it is not the last one running."""
    alive = [c for c in clients if c.poll() is None]
    if case.kills or len(alive) < 2:
        return False  # one client kill a case, and never the last client
    case.kills.append(time.monotonic())
    rng.choice(alive).kill()
    case.tally["client kill -9"] += 1
    return True


@dataclass
class OneServer:
    """One redis-server, reached through our faulty proxy; killed, stopped and paused."""

    server: RedisServer
    proxy: Proxy

    def plan(self, seed: int, rng: random.Random) -> Plan:
        return Plan(SCENARIOS[seed % len(SCENARIOS)], [f"case{seed}"], self.proxy.url,
                    self.server.url)  # fmt: skip

    def break_things(
        self, case: Case, plan: Plan, rng: random.Random, clients: list[subprocess.Popen[str]]
    ) -> None:
        """Inject the scenario's faults, one after another, until the quiet end."""
        scenario, server, proxy = plan.scenario, self.server, self.proxy
        began = time.monotonic()
        duration = 3.0 + (LONG_PAUSE[1] if scenario == "mixed" else 0)  # room for a long pause
        until = began + duration - QUIET_END
        before = Counter(proxy.injected)
        kinds = {
            "short pauses": ("short pause",),
            "proxy storms": ("storm",),
            "crashes": ("kill -9", "restart", "storm", "client kill -9"),
            "mixed": (
                "short pause",
                "long pause",
                "storm",
                "kill -9",
                "restart",
                "client kill -9",
            ),
        }[scenario]
        # The first fault comes while every long edit's first block runs, just
        # before their first renewal (due at LEASE / 3): after a short pause the
        # next renewal must save the edits; a long one outlives their leases.
        time.sleep(LEASE / 3 - rng.uniform(0.05, 0.15))
        first = FIRST.get(scenario)
        while True:
            kind = first or rng.choice(kinds)
            longest = {
                "short pause": SHORT_PAUSE[1],
                "long pause": LONG_PAUSE[1],
                "storm": STORM[1] + STALL[1],
            }.get(kind, 0.5)  # a kill -9 or restart: the restart's time
            if time.monotonic() + longest + SETTLE > until:
                break
            start = time.monotonic()
            if kind == "storm":
                faults = Faults(rate=rng.uniform(0.03, 0.3), stall=STALL)
                proxy.storm(faults)
                time.sleep(rng.uniform(*STORM))
                proxy.calm()
                end = time.monotonic() + faults.longest
            elif kind in ("short pause", "long pause"):
                server.pause()
                time.sleep(rng.uniform(*(SHORT_PAUSE if kind == "short pause" else LONG_PAUSE)))
                server.resume()
                end = time.monotonic()
            elif kind == "kill -9":
                server.kill()
                time.sleep(rng.uniform(0, 0.2))
                server.start()
                end = time.monotonic()
            elif kind == "restart":
                server.stop()
                server.start()
                end = time.monotonic()
            else:
                kill_a_client(case, rng, clients)
                continue
            case.faults.append(Fault(kind, start, end + SETTLE))
            case.tally[f"server {kind}" if kind != "storm" else "proxy storm"] += 1
            # A calm gap (calls must work again in it); after the first short
            # pause, long enough for the first long edits to end in calm.
            time.sleep(LEASE if first == "short pause" else rng.uniform(0.3, 0.8))
            first = None
        for kind, n in (proxy.injected - before).items():
            case.tally[f"proxy {kind}"] += n
        time.sleep(max(0.0, began + duration - time.monotonic()))  # the quiet end

    def read(self, name: str) -> Final:
        import redis

        with redis.Redis(port=self.server.port) as r:
            return read_hash(r, name, leases_of(name, cluster=False))


def one_case(seed: int, target: Target, directory: Path) -> Case:
    """Run one case: client processes under the target's faults; then check everything."""
    rng = random.Random(seed)
    plan = target.plan(seed, rng)
    case = Case(seed)
    logs, clients, errors = [], [], []
    for p in range(rng.choice((2, 3))):
        log = directory / f"case{seed}-p{p}.jsonl"
        cfg = {
            "source": plan.source, "direct": plan.direct, "names": plan.names,
            "replicas": plan.replicas, "process": p, "tasks": rng.randrange(3, 6),
            "seed": rng.randrange(2**32), "log": str(log), "close_early": rng.random() < 0.3,
        }  # fmt: skip
        logs.append(log)
        clients.append(child(CHILD, json.dumps(cfg), stdin=subprocess.PIPE))
        errors.append(Drained(clients[-1].stderr))
    for c, err in zip(clients, errors, strict=True):
        assert c.stdout is not None
        if c.stdout.readline().strip() != "ready":
            for other in clients:
                other.kill()
            case.fail(f"a client did not start: {err.text()[-2000:]}")
            return case
    tell(clients, "go")
    try:
        target.break_things(case, plan, rng, clients)
    finally:
        tell(clients, "stop")  # a deployment that would not heal fails the case after this
    # A client's bound once told to stop: its calls', its close's, and a loaded
    # machine's exit.
    limit = 2 * EDIT_BOUND + max(LONG_BODY) + 30
    for c, drained in zip(clients, errors, strict=True):
        try:
            c.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            c.kill()
            c.wait()
            case.fail(f"a client process hung (killed after {limit:.0f} s)")
            case.tally["hangs"] += 1
        err = drained.text()
        if c.returncode not in (0, -9) or (c.returncode == -9 and not case.kills):
            case.fail(f"a client exited {c.returncode}: {err[-2000:]}")
        elif "Traceback" in err:  # an error logged, by asyncio or anyone: none is expected
            case.fail(f"a client logged an error: {err[:2000]}")
    check(case, [read_log(log) for log in logs], target.read, plan.names)
    return case


class Drained:
    """A child's stderr, read as it comes: a full pipe would block the child's event loop."""

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None
        self.chunks: list[str] = []
        self.thread = threading.Thread(target=self.chunks.extend, args=(stream,), daemon=True)
        self.thread.start()

    def text(self) -> str:
        """What the child wrote, once it exited (its end of the pipe closed)."""
        self.thread.join(10)
        return "".join(self.chunks)


def tell(clients: list[subprocess.Popen[str]], word: str) -> None:
    """Write a line to every client still running (a killed one's pipe is gone)."""
    for c in clients:
        assert c.stdin is not None
        with contextlib.suppress(OSError):
            c.stdin.write(word + "\n")
            c.stdin.flush()


def read_log(path: Path) -> list[dict[str, Any]]:
    """A client's records; a call's begin and end lines joined into one (ends have 'end')."""
    calls: dict[int, dict[str, Any]] = {}
    other: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the last line of a killed process
        if "i" not in record:
            other.append(record)
        elif "end" in record:
            calls[record["i"]].update(record)
        else:
            calls[record["i"]] = record
    return [*calls.values(), *other]


def status(call: dict[str, Any]) -> str:
    """ok (applied), maybe (raised or was cut off on its way) or no (never applied).

    A write that raised NotReplicatedError was applied by the primary but
    may not survive a failover: maybe, as one whose answer was lost.
    """
    end = call.get("end")
    if end == "ok":
        return "ok"
    if end is None:
        return "maybe"  # its process was killed during the call
    if call["op"] == "edit":
        if call.get("phase") == "end" and end.startswith(AMBIGUOUS[:3]):
            return "maybe"
        return "no"  # raised before its value was sent, or the store refused it
    if end.startswith(AMBIGUOUS):
        return "maybe"
    return "no"  # closed, or never sent


# How a call that may or may not have been applied ends (and an undocumented
# error, which is a failure of its own, may have been applied too).
AMBIGUOUS = ("unavailable", "cancelled", "not replicated", "undocumented")
# How many of them, and acknowledged writes in a loss window: maybe applied.
UNSURE = ("maybe", "lossy")


@dataclass
class Writer:
    """The model of one task's own keys, replayed in its order."""

    keys: list[str]
    last: dict[str, Any] = field(default_factory=dict)  # key -> value after the last ack
    last_at: dict[str, int] = field(default_factory=dict)  # key -> that ack's call number
    maybe: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    # key -> (call number, value, acknowledged at) of each lossy acknowledgement
    lossy: dict[str, list[tuple[int, Any, float]]] = field(default_factory=dict)
    acked: int = 0  # acknowledged increments of its counter
    unsure: int = 0  # ambiguous ones (lossy ones included)
    lossy_incrs: int = 0
    edits: list[tuple[str, str]] = field(default_factory=list)  # (token, status)
    lossy_edits: dict[str, float] = field(default_factory=dict)  # token -> acknowledged at

    def allowed(self, key: str) -> list[Any]:
        """The values key may hold now.

        Its last acknowledged value, or that of a write that may have landed
        late, or that of a lossy acknowledgement since (the writes after it
        undone by a failover); never that of a lossy one older than the last
        sure one: a task's writes are sequential, so a later sure write came
        after it.
        """
        after = self.last_at.get(key, -1)
        return [
            self.last.get(key),
            *(v for _, v in self.maybe.get(key, [])),
            *(v for i, v, _ in self.lossy.get(key, []) if i > after),
        ]

    def undone(self, key: str, got: Any) -> list[float]:
        """When each lossy acknowledgement of key that the value got undid was given.

        got is the value of key's latest write that wrote it (a deleted key:
        of the latest delete, or no write): every lossy write after that one
        was lost.
        """
        writes = [(i, v) for i, v in self.maybe.get(key, [])]
        writes += [(i, v) for i, v, _ in self.lossy.get(key, [])]
        if key in self.last_at:
            writes.append((self.last_at[key], self.last[key]))
        if got is None:
            writes.append((0, None))  # never written
        since = max((i for i, v in writes if v == got), default=0)
        return [t1 for i, _, t1 in self.lossy.get(key, []) if i > since]


@dataclass
class Shared:
    """The model of what every task of a store shares: the edited lists and the counter."""

    edits: dict[str, list[tuple[str, str]]] = field(
        default_factory=lambda: {key: [] for key in SHARED}
    )  # (token, status) of each edit of each list
    acks: dict[str, list[tuple[float, str]]] = field(
        default_factory=lambda: {key: [] for key in SHARED}
    )  # (acknowledged at, token)
    lossy_edits: dict[str, float] = field(default_factory=dict)  # token -> acknowledged at
    counter: list[int] = field(default_factory=lambda: [0, 0, 0])  # acknowledged, unsure, lossy


def effects(call: dict[str, Any], writer: Writer) -> dict[str, Any]:
    """What a write does to its task's own keys (None: removes)."""
    op = call["op"]
    if op == "set":
        return {call["key"]: call["value"]}
    if op == "update":
        return dict(call["mapping"])
    if op == "delete":
        return {call["key"]: None}
    return dict.fromkeys(writer.keys)  # clear of its namespace


def tokens_ok(found: Any, edits: list[tuple[str, str]], *, ordered: bool) -> str | None:
    """Why a list read back does not fit the edits (None if it fits)."""
    if not isinstance(found, list) or len(found) != len(set(found)):
        return f"not a list of distinct tokens: {found!r:.200}"
    known = {t: s for t, s in edits}
    if strays := [t for t in found if known.get(t) not in ("ok", *UNSURE)]:
        return f"holds tokens of edits never stored: {strays[:5]}"
    if missing := [t for t, s in edits if s == "ok" and t not in found]:
        return f"lost acknowledged edits {missing[:5]}"
    if ordered:
        order = [t for t, _ in edits]
        if [order.index(t) for t in found] != sorted(order.index(t) for t in found):
            return f"edits out of order: {found}"
    return None


def check(
    case: Case, logs: list[list[dict[str, Any]]], read: Callable[[str], Final], names: list[str]
) -> None:
    """Hangs and crashes; then each store's final state (read(name)) against its calls."""
    for log in logs:
        for rec in log:
            if "hang" in rec:
                case.fail(f"hang: {rec['op']} (call {rec['hang']}) ran past its bound")
                case.tally["hangs"] += 1
            if "crash" in rec:
                case.fail(f"a task crashed: {rec['crash']}")
    for name in names:
        check_store(case, [[rec for rec in log if rec.get("s") == name] for log in logs],
                    read(name))  # fmt: skip


def check_store(case: Case, logs: list[list[dict[str, Any]]], found: Final) -> None:
    """One store's final state against the replayed logs; leases; calm calls; errors."""
    final = dict(found.state)
    writers: dict[str, Writer] = {}
    shared = Shared()
    closes: dict[int, float] = {}  # log number -> when its aclose() began
    for n, log in enumerate(logs):
        for rec in log:
            if rec.get("op") == "aclose":
                closes[n] = rec["t0"]
                if rec.get("end") not in ("ok", None):
                    case.fail(f"aclose() raised {rec['end']}")
            if rec.get("op") == "edit" and rec["shared"]:
                state = case.state(rec)
                shared.edits[rec["key"]].append((rec["token"], state))
                if state == "ok":
                    shared.acks[rec["key"]].append((rec["t1"], rec["token"]))
                elif state == "lossy":
                    shared.lossy_edits[rec["token"]] = rec["t1"]

    for n, log in enumerate(logs):
        for rec in log:
            if "after_close" in rec and case.lease_outlives(rec["lease"], rec["tl"]):
                case.fail(f"a lease on {rec['after_close']} outlived aclose(): {rec['lease']} ms")
            if "i" not in rec or rec["op"] == "aclose":
                continue
            w = rec["w"]
            writer = writers.setdefault(w, Writer([f"{w}:k{i}" for i in range(KEYS)]))
            judge_call(case, rec, writer, shared, closes.get(n))

    for w, writer in writers.items():
        for key in writer.keys:
            got = final.pop(key, None)
            if got not in writer.allowed(key):
                case.lost += 1
                case.fail(f"{key} is {got!r}, acknowledged {writer.last.get(key)!r}")
                continue
            for t1 in writer.undone(key, got):
                case.undo(t1)
            ambiguous = [at for at, v in writer.maybe.get(key, []) if v == got]
            lossy = [i for i, v, _ in writer.lossy.get(key, []) if v == got]
            late = all(at < writer.last_at.get(key, -1) for at in ambiguous)
            if got != writer.last.get(key) and not lossy and late:
                case.tally["late landings"] += 1  # allowed: see the module's docstring
        total = final.pop(f"n.{w}", 0)
        if not writer.acked <= total <= writer.acked + writer.unsure:
            case.lost += 1
            case.fail(f"n.{w} is {total}: {writer.acked} acknowledged, {writer.unsure} ambiguous")
        elif (undone := writer.acked + writer.lossy_incrs - total) > 0:
            case.undo(None, undone)  # at least these lossy increments were lost
        listed = final.pop(edit_key(w), [])
        if (problem := tokens_ok(listed, writer.edits, ordered=True)) is not None:
            case.lost += problem.startswith("lost")
            case.fail(f"{edit_key(w)}: {problem}")
        for token, t1 in writer.lossy_edits.items():
            if token not in listed:
                case.undo(t1)
    for key in SHARED:
        listed = final.pop(key, [])
        if (problem := tokens_ok(listed, shared.edits[key], ordered=False)) is not None:
            case.lost += problem.startswith("lost")
            case.fail(f"{key}: {problem}")
        for token, _ in shared.edits[key]:
            if token in shared.lossy_edits and token not in listed:
                case.undo(shared.lossy_edits[token])
    total = final.pop(COUNTER, 0)
    acked, unsure, lossy_incrs = shared.counter
    if not acked <= total <= acked + unsure:
        case.lost += 1
        case.fail(f"{COUNTER} is {total}: {acked} acknowledged, {unsure} ambiguous")
    elif (undone := acked + lossy_incrs - total) > 0:
        case.undo(None, undone)
    if final:
        case.fail(f"keys no one wrote: {sorted(final)[:10]}")

    for field_, lease in found.leases.items():
        left = int(lease.split()[1]) - found.server_ms
        if case.lease_outlives(left, found.looked):
            case.fail(f"the lease on {field_.decode()} lives {left} ms more, past its edit")


def what(rec: dict[str, Any]) -> Any:
    """The key, prefix or keys a call was about, for its failure's message."""
    return rec.get("key") or rec.get("prefix") or sorted(rec.get("mapping", {}))


# How a call may fail on a loaded machine with nothing broken: an answer
# later than the timeout, or a replica's confirmation later than WAIT's
# share of it. Counted, not failed.
SLOW = ("unavailable (timeout)", "not replicated")


def judge_call(
    case: Case, rec: dict[str, Any], writer: Writer, shared: Shared, closed_at: float | None
) -> None:
    """Check one call against the model and the rules; then apply it to the model."""
    op, end, state = rec["op"], rec.get("end"), case.state(rec)
    case.tally["calls"] += 1
    case.tally[f"calls {end or 'cut off by a kill'}"] += 1
    if end is None:
        apply(case, rec, state, writer, shared)  # cut off by its process's kill
        return
    if end.startswith("undocumented"):
        case.fail(f"{op} {what(rec)!r} raised {end}")
    elif end == "closed" and (closed_at is None or rec["t1"] < closed_at):
        case.fail(f"{op} raised ClosedError before aclose()")
    elif end == "cancelled":
        case.tally[f"cancelled: {rec.get('phase', 'call')}"] += 1
    elif end not in ("ok", "closed"):
        if op == "edit":
            calm = not case.broken(rec["t0"], rec.get("tb", rec["t1"]))
            calm = calm and not case.broken(rec.get("tx", rec["t0"]), rec["t1"])
            # One short pause in the block must not matter: the renewals ride it out.
            calm = calm and not case.broken(rec["t0"], rec["t1"], allow=("short pause",))
            calm = calm and sum(f.start < rec["t1"] and rec["t0"] < f.end for f in case.faults) < 2
            intended = (rec["plan"], end) in (("raise", "deliberate"), ("cleanup", "deliberate"))
            if calm and end in SLOW:
                case.tally[f"{end} with nothing broken"] += 1
            elif calm and not intended:
                case.fail(
                    f"an edit of {rec['key']} ({rec['plan']}) raised {end} with nothing broken: "
                    f"{rec['why']}"
                )
        elif case.broken(rec["t0"], rec["t1"]):
            pass
        elif end in SLOW:
            # Nothing broken but a slow answer: the machine is shared and the
            # server fsyncs every write. Bounded by the timeout, as promised.
            case.tally[f"{end} with nothing broken"] += 1
        else:
            case.fail(f"{op} {what(rec)!r} raised {end} with nothing broken: {rec['why']}")
    # An edit that ends while aclose() is under way leaves its lease to it: checked after it.
    closing = closed_at is not None and rec["t1"] >= closed_at
    if op == "edit" and not closing and case.lease_outlives(rec.get("lease"), rec["tl"]):
        case.fail(
            f"edit of {rec['key']} ({rec['plan']}, ended {end} in {rec['phase']}): its lease "
            f"is still live for {rec['lease']} ms"
        )
    if end == "ok":
        judge_read(case, rec, writer, shared)
    apply(case, rec, state, writer, shared)


def judge_read(case: Case, rec: dict[str, Any], writer: Writer, shared: Shared) -> None:
    """A read that answered must fit the model at its time."""
    op, got = rec["op"], rec.get("result")
    if op == "hostile" and got != 0:
        case.fail(f"a listing under {rec['prefix']!r} found {got} keys")
    elif op == "get" and rec["key"] in SHARED:
        before = {t for at, t in shared.acks[rec["key"]] if at < rec["t0"]}
        problem = tokens_ok(got or [], shared.edits[rec["key"]], ordered=False)
        if missing := before - set(got or []):
            case.lost += 1
            case.fail(f"a read of {rec['key']} misses edits acknowledged before it: {missing}")
        elif problem is not None and not problem.startswith("lost"):
            case.fail(f"a read of {rec['key']}: {problem}")
    elif op == "get" and rec["key"].startswith("e."):
        if (problem := tokens_ok(got or [], writer.edits, ordered=True)) is not None:
            case.lost += problem.startswith("lost")
            case.fail(f"a read of {rec['key']}: {problem}")
    elif op == "get" and got not in writer.allowed(rec["key"]):
        case.lost += 1
        case.fail(f"get {rec['key']} gave {got!r}, acknowledged {writer.last.get(rec['key'])!r}")
    elif op == "has" and got not in [v is not None for v in writer.allowed(rec["key"])]:
        case.fail(f"has {rec['key']} said {got}, acknowledged {writer.last.get(rec['key'])!r}")
    elif op in ("get_all", "keys"):
        if strays := set(got) - set(writer.keys):
            case.fail(f"{op} {rec['prefix']!r} listed keys not its own: {sorted(strays)[:5]}")
        listed = got if op == "get_all" else dict.fromkeys(got, True)  # keys: present or not
        for key in writer.keys:
            allowed = writer.allowed(key)
            if op == "keys":
                allowed = [None if v is None else True for v in allowed]
            if listed.get(key) not in allowed:
                case.lost += 1
                case.fail(
                    f"{op} {rec['prefix']!r}: {key} is {listed.get(key)!r}, "
                    f"acknowledged {writer.last.get(key)!r}"
                )


def apply(case: Case, rec: dict[str, Any], state: str, writer: Writer, shared: Shared) -> None:
    """Replay a call into the model: an acknowledged write is sure, an ambiguous one possible.

    A lossy acknowledgement (replicas=0, in a loss window) is possible too,
    and counted as lost if the final state lacks it.
    """
    op, i = rec["op"], rec["i"]
    if op == "incr":
        if rec["key"] == COUNTER:
            shared.counter[0] += state == "ok"
            shared.counter[1] += state in UNSURE
            shared.counter[2] += state == "lossy"
            return
        result = rec.get("result")
        if (
            rec.get("end") == "ok"
            and not writer.acked < result <= writer.acked + 1 + writer.unsure
        ):
            case.fail(
                f"incr {rec['key']} returned {result}: {writer.acked} acknowledged "
                f"before it, {writer.unsure} ambiguous"
            )
        writer.acked += state == "ok"
        writer.unsure += state in UNSURE
        writer.lossy_incrs += state == "lossy"
    elif op == "edit":
        if not rec["shared"]:
            writer.edits.append((rec["token"], state))
            if state == "lossy":
                writer.lossy_edits[rec["token"]] = rec["t1"]
    elif op in ("set", "update", "delete", "clear"):
        for key, value in effects(rec, writer).items():
            if state == "ok":
                writer.last[key], writer.last_at[key] = value, i
            elif state == "maybe":
                writer.maybe.setdefault(key, []).append((i, value))
            elif state == "lossy":
                writer.lossy.setdefault(key, []).append((i, value, rec["t1"]))


def run(long: bool = LONG) -> Result:
    """Cases of client processes through the faulty proxy, a server killed, restarted, paused."""
    return campaign(64 if long else 8)[0]


def campaign(cases: int = 8, first: int = 0) -> tuple[Result, Counter[str]]:
    """Run cases (seeds first, first + 1, ...); return the row and the tally of what ran."""
    result = Result("Redis under network and server faults")
    if not available():
        result.failures.append(f"redis-server is not installed: {INSTALL}")
        return result, result.tally
    directory = Path(tempfile.mkdtemp(prefix="aiokv-redisfaults-"))
    server = RedisServer(directory / "redis").start()
    proxy = Proxy(server.port, seed=cases).start()
    try:
        run_cases(result, OneServer(server, proxy), range(first, first + cases), directory)
    finally:
        proxy.stop()
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    result.notes.append(describe(cases, result.tally))
    return result, result.tally


def run_cases(result: Result, target: Target, seeds: Iterable[int], directory: Path) -> list[Case]:
    """Run a case of each seed on target into result (its rows, its tally); return them."""
    cases = []
    with Timer(result):
        for seed in seeds:
            case = one_case(seed, target, directory)
            result.tally += case.tally  # += adds in place: the row keeps the tally
            result.case(not case.problems, summary(case.problems), lost=case.lost)
            cases.append(case)
    return cases


def summary(problems: list[str]) -> str:
    """Each kind of problem once (its first instance), with how many times it came."""
    kinds: dict[str, list[str]] = {}
    for problem in problems:
        kinds.setdefault(re.sub(r"'[^']*'|\d+", "#", problem), []).append(problem)
    return "; ".join(f"{found[0]} (x{len(found)})" for found in kinds.values())


def calls(tally: Counter[str]) -> str:
    """The calls a run made, and how they ended, for a report's note."""
    unavailable = tally["calls unavailable"] + tally["calls unavailable (timeout)"]
    replicated = tally["calls not replicated"]
    return (
        f"{tally['calls']:,} calls ({tally['calls ok']:,} acknowledged, {unavailable:,} "
        f"UnavailableError, "
        + (f"{replicated:,} NotReplicatedError, " if replicated else "")
        + f"{tally['calls lease expired']} edits past their lease, {tally['calls closed']:,} "
        f"ClosedError after aclose(), {tally['calls cut off by a kill']} cut off by a client "
        "kill: all documented outcomes)"
    )


def slow(tally: Counter[str]) -> str:
    """The calls that failed with nothing broken (allowed: a loaded machine), for a note."""
    return (
        f"{tally['unavailable (timeout) with nothing broken']} calls timed out and "
        f"{tally['not replicated with nothing broken']} were not confirmed by a replica in time "
        "with nothing broken (a loaded machine: counted, allowed)"
    )


def describe(cases: int, tally: Counter[str]) -> str:
    """The report's note: what ran and what was injected."""
    proxy = sum(n for k, n in tally.items() if k.startswith("proxy ") and k != "proxy storm")
    server = {k[7:]: n for k, n in tally.items() if k.startswith("server ")}
    cancels = {k[11:]: n for k, n in tally.items() if k.startswith("cancelled: ")}
    return (
        f"{cases} cases of 2-3 client processes x 3-5 tasks and a long editor, {calls(tally)}; "
        f"faults: {proxy:,} by the proxy in {tally['proxy storm']} storms ("
        + ", ".join(f"{tally[f'proxy {k}'] + tally[f'proxy {k} (reaper)']} {k}" for k in KINDS)
        + "), server "
        + ", ".join(f"{n} {k}" for k, n in sorted(server.items()))
        + f", {tally['client kill -9']} client kill -9, cancellations "
        + ", ".join(f"{n} in {k}" for k, n in sorted(cancels.items()))
        + f"; {tally['hangs']} hangs; {slow(tally)}; {tally['late landings']} "
        "ambiguous writes applied after a later acknowledged one (allowed)"
    )


if __name__ == "__main__":
    # python -m tests.faults.redis_faults [CASES [FIRST_SEED]]: this campaign alone.
    row, _ = campaign(*(int(a) for a in sys.argv[1:3]))
    print(f"{row.cases} cases, {row.survived} survived, {row.lost_writes} lost writes, "
          f"{row.seconds:.0f} s; {row.notes[0] if row.notes else ''}")  # fmt: skip
    for failure in row.failures:
        print(failure)
    sys.exit(1 if row.failures else 0)
