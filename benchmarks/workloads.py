"""The workloads (a) to (k): each system side by side with its reference, interleaved.

(l) and (m), the bot frameworks' storages, are in frameworks.py.

Each workload appends Tables to a Bench: one figure per system per repetition.
What the figures are compared against, and what they mean, is in targets.py
and report.py.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.systems import AioKVSystem, FloorSystem, PickleDBSystem, System, atomic_write

ROOT = Path(__file__).resolve().parent.parent
FLOOR = FloorSystem.name
AIOKV = AioKVSystem.name
IO_ALONE = "floor's I/O alone"  # (f): writing the floor's bytes, encoded beforehand
STREAM_CAP = 0.5  # (c): max_flush_delay, and the period others are flushed at
PLAIN_GET_ALL = "get_all(), the small store"  # (i)'s reference
NAMESPACE_GET_ALL = "ns.get_all()"
BY_HAND = "redis.asyncio by hand"  # (j)'s reference: HGET/HSET/HINCRBY/HGETALL with json
REDISKV = "RedisKV"
# (k): the same with each write waiting for a replica; by hand, WAIT 1 after it.
BY_HAND_WAIT = "redis.asyncio by hand, WAIT 1"
REDISKV_WAIT = "RedisKV, replicas=1"
# (k)'s systems by the names benchmarks/redis_worker.py knows them by.
WORKER_SYSTEMS = {BY_HAND: "hand", REDISKV: "kv", BY_HAND_WAIT: "hand-wait", REDISKV_WAIT: "kv-r1"}


def ratios(
    mine: Iterable[float], reference: Iterable[float], lower_is_better: bool = True
) -> list[float]:
    """Each repetition's mine / reference (reference / mine for rates): above 1 is slower."""
    pairs = [(m, r) for m, r in zip(mine, reference, strict=False) if m and r]
    if lower_is_better:
        return [m / r for m, r in pairs]
    return [r / m for m, r in pairs]


def ratio(
    mine: Iterable[float], reference: Iterable[float], lower_is_better: bool = True
) -> float:
    """The median, over repetitions, of mine / reference (reference / mine for rates)."""
    return statistics.median(ratios(mine, reference, lower_is_better))


@dataclass
class Sizes:
    """How big each workload is; the defaults are the full run."""

    reps: int = 5
    get_keys: int = 10_000  # (a), (c), (d) store size
    gets: int = 200_000  # (a) gets per repetition
    sets: int = 10_000  # (b)
    stream_s: float = 2.0  # (c)
    set_flush: int = 200  # (d) iterations
    open_sizes: list[int] = field(default_factory=lambda: [1_000, 100_000, 1_000_000])  # (e)
    flush_sizes: list[int] = field(
        default_factory=lambda: [1_000, 10_000, 100_000, 1_000_000]
    )  # (f)
    stall_keys: int = 1_000_000  # (g)
    scattered: int = 1_000  # (f): keys changed at random before the last flush
    first_flush_sizes: list[int] = field(default_factory=lambda: [100_000, 1_000_000])  # (f)
    first_flushes: int = 5  # (f): flushes timed after each open
    stall_s: float = 3.0  # (g)
    memory_keys: int = 100_000  # (h), every system
    memory_big: int = 1_000_000  # (h), the whole-file systems
    namespaces: int = 1_000  # (i): namespaces of namespace_keys keys each
    namespace_keys: int = 100
    redis_ops: int = 5_000  # (j) awaited operations per repetition
    redis_hashes: list[int] = field(default_factory=lambda: [100, 10_000])  # (j) get_all sizes
    workers: list[int] = field(default_factory=lambda: [1, 2, 4])  # (k) worker processes
    worker_s: float = 1.0  # (k) seconds each system runs, per repetition and count of workers
    worker_slices: int = 4  # (k) the slices it runs in, the systems' interleaved
    stores: int = 300  # (k) the cluster's stores
    fsm_users: list[int] = field(default_factory=lambda: [1_000, 100_000])  # (l)
    fsm_updates: int = 2_000  # (l) updates per repetition, each a random user's
    ptb_chats: int = 100_000  # (m) chats with chat_data
    ptb_changes: list[int] = field(default_factory=lambda: [10, 1_000])  # (m) chats per round
    budget_s: float = 0.6  # most time one system may spend on one measurement


FULL = Sizes()
QUICK = Sizes(
    reps=2,
    get_keys=1_000,
    gets=5_000,
    sets=1_000,
    stream_s=0.2,
    set_flush=10,
    open_sizes=[1_000, 5_000],
    flush_sizes=[1_000, 5_000],
    stall_keys=5_000,
    stall_s=0.3,
    memory_keys=5_000,
    memory_big=20_000,
    scattered=50,
    first_flush_sizes=[5_000],
    first_flushes=3,
    namespaces=50,
    namespace_keys=20,
    redis_ops=200,
    redis_hashes=[100, 1_000],
    workers=[1, 2],
    worker_s=0.2,
    worker_slices=2,
    stores=30,
    fsm_users=[100, 1_000],
    fsm_updates=50,
    ptb_chats=1_000,
    ptb_changes=[2, 20],
    budget_s=0.1,
)


def child(module: str, *args: str) -> str:
    """Run python -m module args in a fresh process; return the last word it printed."""
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )
    return out.stdout.split()[-1]


async def lateness_while(
    seconds: float, each_ms: Callable[[int], Awaitable[None]] | None
) -> list[float]:
    """A 1 ms ticker's lateness for seconds, while each_ms(i) runs once a millisecond."""
    lateness: list[float] = []
    stop = time.perf_counter() + seconds

    async def ticker() -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lateness.append(time.perf_counter() - t - 0.001)

    async def driver() -> None:
        i = 0
        while time.perf_counter() < stop:
            if each_ms is not None:
                await each_ms(i)
            i += 1
            await asyncio.sleep(0.001)

    await asyncio.gather(ticker(), driver())
    return lateness


def sets_of(store: System) -> Callable[[int], Awaitable[None]]:
    """(g)'s load: 10 sets each call, ~10k/s at one call a millisecond."""

    async def sets(i: int) -> None:
        for j in range(10 * i, 10 * i + 10):
            await store.set(f"k{j % 1000}", j)

    return sets


def str_value(i: int) -> str:
    return f"value-{i:08d}"


def dict_value(i: int) -> dict[str, Any]:
    # The shape of typical bot state: a few scalars per key.
    return {"user": f"user{i}", "count": i, "ts": 1795000000.5 + i}


def nested_value(i: int) -> dict[str, Any]:
    return {"user": f"user{i}", "tags": ["a", "b"], "meta": {"n": i}}


def dataset(n: int, make: Callable[[int], Any] = dict_value) -> dict[str, Any]:
    return {f"k{i}": make(i) for i in range(n)}


@dataclass
class Table:
    """One workload's figures: per system, one value per repetition."""

    title: str
    unit: str
    lower_is_better: bool = True
    compare: bool = True  # whether a ratio to the reference means anything
    reference: str = FLOOR  # the row every ratio is to
    spread: bool = False  # whether the report shows the worst figure beside the median
    values: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, system: str, value: float) -> None:
        self.values.setdefault(system, []).append(value)

    def ratio(self, system: str, reference: str | None = None) -> float:
        """Median over repetitions of system / reference (reference / system for rates)."""
        reference = reference or self.reference
        return ratio(self.values[system], self.values[reference], self.lower_is_better)

    def worst(self, system: str, reference: str | None = None) -> float:
        """The worst repetition's system / reference (reference / system for rates)."""
        reference = reference or self.reference
        return max(ratios(self.values[system], self.values[reference], self.lower_is_better))

    def median(self, system: str) -> float:
        return statistics.median(self.values[system])


@dataclass
class Throughput(Table):
    """(k): one deployment's aggregate ops/s with a number of worker processes, per system.

    pairs: (label, system, reference) each compared in the report; costs: the
    same, for what replicas=1 costs each side; cpu: per system, each
    repetition's CPU time of the workers per operation. Every Throughput of a
    run is one section of the report, headed heading, introduced by intro.
    """

    deployment: str = ""
    workers: int = 0
    pairs: list[tuple[str, str, str]] = field(default_factory=list)
    costs: list[tuple[str, str, str]] = field(default_factory=list)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # the workers' CPU µs per op
    heading: str = ""
    intro: str = ""


class Bench:
    """Runs the workloads and collects their tables."""

    def __init__(self, sizes: Sizes, systems: list[type[System]], workdir: Path) -> None:
        self.sizes = sizes
        self.systems = systems
        self.workdir = workdir
        self.tables: list[Table] = []
        self.extra: dict[str, Any] = {}
        self._n = 0

    def fresh_path(self, cls: type[System]) -> str:
        self._n += 1
        d = self.workdir / f"{cls.name}-{self._n}"
        d.mkdir()
        return str(d / "store")

    def prefilled(self, cls: type[System], data: dict[str, Any]) -> str:
        path = self.fresh_path(cls)
        cls.prefill(path, data)
        return path

    async def timed(self, op: Callable[[], Awaitable[Any]]) -> float:
        t = time.perf_counter()
        await op()
        return time.perf_counter() - t

    async def per_op(self, op: Callable[[Any], Awaitable[Any]], args: list[Any], n: int) -> float:
        """Seconds per awaited op, over n ops or the time budget, whichever ends first."""
        done, start = 0, time.perf_counter()
        deadline = start + self.sizes.budget_s
        while done < n:
            chunk = args[done % len(args) : done % len(args) + 1000]
            for a in chunk:
                await op(a)
            done += len(chunk)
            if time.perf_counter() > deadline:
                break
        return (time.perf_counter() - start) / done

    async def opened(self, data: dict[str, Any], flush_every: float = 2.0) -> list[System]:
        stores = []
        for cls in self.systems:
            store = cls(self.prefilled(cls, data), flush_every)
            await store.open()
            stores.append(store)
        return stores

    async def close_all(self, stores: list[System]) -> None:
        for store in stores:
            await store.close()

    def rotation(self, stores: list[Any], rep: int) -> list[Any]:
        k = rep % len(stores)
        return stores[k:] + stores[:k]

    # -- the workloads --------------------------------------------------------

    async def a_gets(self) -> None:
        s = self.sizes
        for label, make in (
            ("str", str_value),
            ("small dict", dict_value),
            ("nested dict", nested_value),
        ):
            table = Table(
                f"(a) get, {label} value: {s.gets:,} awaited gets, {s.get_keys:,}-key store",
                "ns/get",
            )
            stores = await self.opened(dataset(s.get_keys, make))
            keys = [f"k{(i * 7919) % s.get_keys}" for i in range(s.gets)]
            for rep in range(s.reps):
                for store in self.rotation(stores, rep):
                    table.add(store.name, 1e9 * await self.per_op(store.get, keys, s.gets))
            await self.close_all(stores)
            self.tables.append(table)

    async def b_sets_then_flush(self) -> None:
        s = self.sizes
        table = Table(f"(b) {s.sets:,} sets then one durable flush, empty store", "ms")
        data = dataset(s.sets)
        items = list(data.items())
        for rep in range(s.reps):
            for cls in self.rotation(self.systems, rep):
                store = cls(self.prefilled(cls, {}))
                await store.open()
                start = time.perf_counter()
                done = 0
                deadline = start + s.budget_s * 2
                for k, v in items:
                    await store.set(k, v)
                    done += 1
                    if done % 200 == 0 and time.perf_counter() > deadline:
                        break
                sets_time = time.perf_counter() - start
                flush_time = await self.timed(store.flush)
                if done < len(items):
                    table.notes[cls.name] = f"extrapolated from {done:,} sets"
                total = sets_time * len(items) / done + flush_time
                table.add(cls.name, 1e3 * total)
                await store.close()
        self.tables.append(table)

    async def c_stream(self) -> None:
        s = self.sizes
        rate = Table(
            f"(c) back-to-back sets for {s.stream_s} s, {s.get_keys:,}-key store, "
            f"flushing every {STREAM_CAP} s at most",
            "sets/s",
            lower_is_better=False,
        )
        writes = Table("(c) whole-file writes during the stream", "writes", compare=False)
        stores = await self.opened(dataset(s.get_keys), flush_every=STREAM_CAP)
        keys = [f"k{(i * 7919) % s.get_keys}" for i in range(10_000)]
        for rep in range(s.reps):
            for store in self.rotation(stores, rep):
                driver = None
                if not store.self_flushing:
                    driver = asyncio.create_task(self._flush_every(store, STREAM_CAP))
                before = store.file_writes
                n, start = 0, time.perf_counter()
                end = start + s.stream_s
                while time.perf_counter() < end:
                    for k in keys[n % 10_000 : n % 10_000 + 100]:
                        await store.set(k, n)
                    n += 100
                    # A real program yields now and then; background work
                    # (timers, flushes) only runs when it does.
                    await asyncio.sleep(0)
                elapsed = time.perf_counter() - start
                if driver is not None:
                    driver.cancel()
                rate.add(store.name, n / elapsed)
                writes.add(store.name, store.file_writes - before)
                await store.flush()
        await self.close_all(stores)
        self.tables += [rate, writes]

    async def _flush_every(self, store: System, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            await store.flush()

    async def d_set_flush(self) -> None:
        s = self.sizes
        p50 = Table(
            f"(d) set one key + flush(), {s.set_flush} times, {s.get_keys:,}-key store: p50", "ms"
        )
        p99 = Table("(d) set one key + flush(): p99", "ms")
        stores = await self.opened(dataset(s.get_keys))
        for rep in range(s.reps):
            for store in self.rotation(stores, rep):
                lat = []
                deadline = time.perf_counter() + s.budget_s * 2
                for i in range(s.set_flush):
                    t = time.perf_counter()
                    await store.set(f"k{i % s.get_keys}", i)
                    await store.flush()
                    lat.append(time.perf_counter() - t)
                    if time.perf_counter() > deadline and len(lat) >= 20:
                        break
                lat.sort()
                p50.add(store.name, 1e3 * lat[len(lat) // 2])
                p99.add(store.name, 1e3 * lat[min(len(lat) - 1, int(len(lat) * 0.99))])
        await self.close_all(stores)
        self.tables += [p50, p99]

    async def e_open(self) -> None:
        s = self.sizes
        small = {cls: self.prefilled(cls, dataset(2)) for cls in self.systems}
        for n in s.open_sizes:
            table = Table(f"(e) open a {n:,}-key store and read one key, in a fresh process", "ms")
            data = dataset(n)
            paths = {cls: self.prefilled(cls, data) for cls in self.systems}
            del data
            for rep in range(s.reps):
                for cls in self.rotation(self.systems, rep):
                    ms = child("benchmarks.open_once", cls.name, paths[cls], small[cls])
                    table.add(cls.name, float(ms))
            self.tables.append(table)

    async def f_flush_one_change(self) -> None:
        s = self.sizes
        whole_file = [
            cls for cls in (FloorSystem, AioKVSystem, PickleDBSystem) if cls in self.systems
        ]
        for n in s.flush_sizes:
            data = dataset(n)
            paths: dict[type[System], str] = {cls: self.prefilled(cls, data) for cls in whole_file}
            if n in s.first_flush_sizes:
                await self._first_flushes(n, paths)
            stores = []
            for cls in whole_file:
                store = cls(paths[cls], flush_every=3600)
                await store.open()
                # As in a running program, past the first flushes (above).
                for warm_up in range(cls.warm_flushes):
                    await store.set("k1", -warm_up)
                    await store.flush()
                stores.append(store)
            encoded = orjson.dumps(data)
            io_path = self.fresh_path(FloorSystem)
            del data
            changes = [("one change", ["k1"])]
            if n == max(s.flush_sizes):
                rng = random.Random(n)
                changes.append((f"{s.scattered:,} random keys changed", None))
            for label, fixed in changes:
                table = Table(f"(f) flush after {label}, {n:,} keys", "ms", spread=True)
                for rep in range(s.reps):
                    keys = fixed or [f"k{rng.randrange(n)}" for _ in range(s.scattered)]
                    for store in self.rotation([*stores, None], rep):
                        gc.collect()
                        if store is None:  # the floor's flush without its encode
                            t = time.perf_counter()
                            await asyncio.to_thread(atomic_write, io_path, encoded)
                            table.add(IO_ALONE, 1e3 * (time.perf_counter() - t))
                            continue
                        for key in keys:
                            await store.set(key, rep)
                        table.add(store.name, 1e3 * await self.timed(store.flush))
                table.notes["ns/key"] = ", ".join(
                    f"{name} {1e6 * statistics.median(v) / n:.0f}"
                    for name, v in table.values.items()
                )
                self.tables.append(table)
            for store in stores:
                await store.close()
            del stores, encoded
            gc.collect()

    async def _first_flushes(self, n: int, paths: dict[type[System], str]) -> None:
        # A restarted program's first flushes, one change each, on a store
        # opened afresh every repetition: the first as its own row, then
        # the next ones (aiokv builds its key map during them).
        s = self.sizes
        first = Table(
            f"(f) the first flush after opening, one change, {n:,} keys", "ms", spread=True
        )
        next_ = Table(
            f"(f) flushes 2 to {s.first_flushes} after opening, one change each, {n:,} keys",
            "ms",
            spread=True,
        )
        for rep in range(s.reps):
            for cls in self.rotation(list(paths), rep):
                store = cls(paths[cls], flush_every=3600)
                await store.open()
                times = []
                for i in range(s.first_flushes):
                    await store.set("k1", i)
                    gc.collect()
                    times.append(1e3 * await self.timed(store.flush))
                await store.close()
                del store
                gc.collect()
                first.add(cls.name, times[0])
                for ms in times[1:]:  # each paired with the floor's of the same place
                    next_.add(cls.name, ms)
        self.tables += [first, next_]

    async def g_stall(self) -> None:
        s = self.sizes
        p99 = Table(
            f"(g) event-loop stall: a 1 ms ticker's lateness while sets arrive at "
            f"~10k/s for {s.stall_s} s on a {s.stall_keys:,}-key store, flushing "
            "every 0.5 s at most: p99",
            "ms",
            reference="idle",
        )
        worst = Table("(g) ticker lateness: max", "ms", reference="idle")
        data = dataset(s.stall_keys)
        stores: dict[str, System | None] = {"idle": None}
        for cls in (FloorSystem, AioKVSystem):
            store = cls(self.prefilled(cls, data), flush_every=0.5)
            await store.open()
            stores[cls.name] = store
        del data
        gc.collect()
        names = list(stores)
        for rep in range(s.reps):
            for name in self.rotation(names, rep):
                store = stores[name]
                load = None if store is None else sets_of(store)
                lateness = sorted(await lateness_while(s.stall_s, load))
                if store is not None:
                    await store.flush()
                p99.add(name, 1e3 * lateness[int(len(lateness) * 0.99)])
                worst.add(name, 1e3 * lateness[-1])
        for store in stores.values():
            if store is not None:
                await store.close()
        # Against the idle loop, not the floor: the noise floor of the machine.
        for table in (p99, worst):
            table.notes["idle"] = "the same driver with no store: the machine's noise floor"
        self.tables += [p99, worst]

    async def i_namespaces(self) -> None:
        # aiokv only: a namespace's listing in a big store beside the same
        # listing of a store that holds only those keys.
        s = self.sizes
        total = s.namespaces * s.namespace_keys
        table = Table(
            f"(i) get_all() of a {s.namespace_keys}-key namespace in a {total:,}-key store "
            f"({s.namespaces:,} namespaces), beside get_all() of a {s.namespace_keys}-key store",
            "µs",
            reference=PLAIN_GET_ALL,
        )
        values = [dict_value(i) for i in range(s.namespace_keys)]
        big = {f"guild:{g}:k{i}": v for g in range(s.namespaces) for i, v in enumerate(values)}
        small = {f"k{i}": v for i, v in enumerate(values)}
        systems = []
        for data in (big, small):
            system = AioKVSystem(self.prefilled(AioKVSystem, data), flush_every=3600)
            await system.open()
            systems.append(system)
        del big
        kv, small_kv = (system.kv for system in systems)
        first = await self.timed(lambda: kv.namespace("guild:0").keys())
        table.notes[NAMESPACE_GET_ALL] = (
            f"the first listing indexes the store once: {1e3 * first:.1f} ms"
        )
        spaces = [kv.namespace(f"guild:{g}") for g in range(s.namespaces)]
        rows: dict[str, tuple[Callable[[Any], Awaitable[Any]], list[Any]]] = {
            PLAIN_GET_ALL: (lambda store: store.get_all(), [small_kv]),
            NAMESPACE_GET_ALL: (lambda ns: ns.get_all(), spaces),
            "ns.keys()": (lambda ns: ns.keys(), spaces),
            "get_all(prefix) that is no namespace: a scan": (
                lambda g: kv.get_all(f"guild:{g}"),
                list(range(s.namespaces)),
            ),
        }
        for rep in range(s.reps):
            for name in self.rotation(list(rows), rep):
                op, args = rows[name]
                table.add(name, 1e6 * await self.per_op(op, args, len(args)))
        for system in reversed(systems):  # each undoes its own patch of storage.write
            await system.close()
        self.tables.append(table)

    async def j_redis(self) -> None:
        # RedisKV beside the client a user would write by hand with redis-py
        # (HGET/HSET/HINCRBY/HGETALL, values through json), on one server;
        # the file store beside them for scale. The server writes no AOF or
        # RDB here, so the figures are the clients' and the round trips.
        import json

        import redis.asyncio as aioredis

        from aiokv import AioKV
        from aiokv.redis import RedisKV
        from tests.redis.server import RedisServer, available

        if not available():
            print("  (j) skipped: redis-server is not installed", file=sys.stderr)
            return
        s = self.sizes
        server = RedisServer(self.workdir / "redis", "--appendonly", "no").start()
        hand = aioredis.Redis.from_url(server.url)
        kv = RedisKV(server.url, name="j")
        clients = [kv]  # every RedisKV, closed at the end
        files: list[AioKVSystem] = []

        async def file_store(data: dict[str, Any]) -> AioKV:
            system = AioKVSystem(self.prefilled(AioKVSystem, data), flush_every=3600)
            await system.open()
            files.append(system)
            return system.kv

        try:
            keys = [f"k{i % 1000}" for i in range(s.redis_ops)]
            value = dict_value(1)
            await kv.update({k: value for k in keys[:1000]})
            file = await file_store({k: value for k in keys[:1000]})

            async def hand_get(k: str) -> Any:
                return json.loads(await hand.hget("j", k))  # type: ignore[arg-type]

            async def hand_set(k: str) -> None:
                await hand.hset("j", k, json.dumps(value))  # type: ignore[misc]

            async def hand_incr(k: str) -> int:
                return await hand.hincrby("j", "n:" + k, 1)  # type: ignore[misc,no-any-return]

            async def hand_get_all(name: str) -> dict[str, Any]:
                raw = await hand.hgetall(name)  # type: ignore[misc]
                return {k.decode(): json.loads(v) for k, v in raw.items()}

            Row = tuple[Callable[[Any], Awaitable[Any]], list[Any]]
            ops: dict[str, dict[str, Row]] = {
                "get, small dict value": {
                    BY_HAND: (hand_get, keys),
                    REDISKV: (kv.get, keys),
                    AIOKV: (file.get, keys),
                },
                "set, small dict value": {
                    BY_HAND: (hand_set, keys),
                    REDISKV: (lambda k: kv.set(k, value), keys),
                    AIOKV: (lambda k: file.set(k, value), keys),
                },
                "incr": {
                    BY_HAND: (hand_incr, keys),
                    REDISKV: (lambda k: kv.incr("n:" + k), keys),
                    AIOKV: (lambda k: file.incr("n:" + k), keys),
                },
            }
            for size in s.redis_hashes:
                data = {f"k{i}": dict_value(i) for i in range(size)}
                big = RedisKV(server.url, name=f"all{size}")
                clients.append(big)
                await big.update(data)
                small = await file_store(data)
                ops[f"get_all(), {size:,} keys"] = {
                    BY_HAND: (hand_get_all, [big.name]),
                    REDISKV: (lambda _, big=big: big.get_all(), [None]),
                    AIOKV: (lambda _, small=small: small.get_all(), [None]),
                }
            for op, rows in ops.items():
                table = Table(
                    f"(j) Redis, {op}: RedisKV beside redis.asyncio by hand on one server "
                    "(and the file store)",
                    "µs/op",
                    reference=BY_HAND,
                )
                n = s.redis_ops if "get_all" not in op else max(20, s.redis_ops // 50)
                for rep in range(s.reps):
                    for row in self.rotation(list(rows), rep):
                        fn, args = rows[row]
                        table.add(row, 1e6 * await self.per_op(fn, args, n))
                self.tables.append(table)
        finally:
            for client in clients:
                await client.aclose()
            for system in reversed(files):  # each undoes its own patch of storage.write
                await system.close()
            await hand.aclose()
            server.stop()

    async def k_throughput(self) -> None:
        # Worker processes, each a stream of bot-like operations: on one
        # primary with two replicas (RedisKV with and without replicas=1), then
        # on a cluster of three primaries with the state split into many
        # stores; each system beside redis.asyncio by hand doing the same
        # commands. Every node runs without persistence, as in (j).
        from benchmarks.redis_worker import WAIT_MS
        from tests.redis import sources
        from tests.redis.deployments import REPLICATION, ClusterDeployment
        from tests.redis.server import RedisServer, available

        if not available():
            print("  (k) skipped: redis-server is not installed", file=sys.stderr)
            return
        s = self.sizes
        no_persistence = ("--appendonly", "no")  # RedisServer's own --save "": no RDB either
        users, cluster_users = 1_000, 100  # keys of each kind in a store
        replicated = "one primary, two replicas"
        in_cluster = f"Cluster of 3 primaries (each with a replica), {s.stores:,} stores"
        *fewer, most = map(str, s.workers)
        counts = f"{', '.join(fewer)} and {most}" if fewer else most
        intro = (
            f"{counts} worker processes at once, from a common start, each running "
            "rounds of three operations, awaited one at a time: a `set` of a small dict "
            "at a random user's key, an `incr` of a counter, a `get` of another user's "
            f"key; {s.worker_s:g} s per system and repetition, in {s.worker_slices} "
            "slices that alternate the systems. On one primary with two replicas "
            f"(`--replicaof`): one store of {users:,} users. On a Redis Cluster of 3 "
            f"primaries, each with a replica: {s.stores:,} stores (`guild:<n>`, "
            f"{cluster_users} users each), one picked at random each round, through one "
            "`RedisCluster` client per process and side (without retries, as `RedisKV` "
            "asks). By hand, the same commands: `HSET` of the value's `orjson` text, "
            "`HINCRBY`, `HGET` and `orjson.loads`; beside `replicas=1`, each write and "
            f"`WAIT 1 {WAIT_MS}` in one pipeline on one connection, WAIT's count checked. "
            "No `edit()`: nothing by hand does what it does. Every node runs without "
            "persistence (`appendonly no`, no RDB snapshots), for both sides. "
            "Throughput: the operations the workers answered over the time from their "
            "start to the last answer, summed over the slices. A ratio is by hand's "
            "ops/s over RedisKV's in the same repetition (an operation's time, x by "
            f"hand's: above 1 is slower), median and worst of {s.reps} repetitions."
        )

        def tables(
            deployment: str, pairs: list[tuple[str, str, str]], costs: list[tuple[str, str, str]]
        ) -> dict[int, Throughput]:
            return {
                n: Throughput(
                    f"(k) {deployment}, {n} worker process{'es' if n > 1 else ''}",
                    "ops/s",
                    lower_is_better=False,
                    reference=BY_HAND,
                    deployment=deployment,
                    workers=n,
                    pairs=pairs,
                    costs=costs,
                    heading="(k) Throughput of worker processes: RedisKV beside "
                    "redis.asyncio by hand",
                    intro=intro,
                )
                for n in s.workers
            }

        # (1) One primary, two replicas.
        directory = self.workdir / "k-replicated"
        options = (*no_persistence, *REPLICATION)
        primary = RedisServer(directory / "primary", *options)
        replicas = [RedisServer(directory / f"replica{i}", *options) for i in range(2)]
        try:
            primary.start()
            for replica in replicas:
                replica.start("--replicaof", "127.0.0.1", str(primary.port))
            # Written once both replicas have it: they are in sync from then on.
            await self._prefill(primary.url, ["bot"], users, replicas=2)
            one = tables(
                replicated,
                pairs=[
                    ("replicas=0", REDISKV, BY_HAND),
                    ("replicas=1 (by hand: WAIT 1)", REDISKV_WAIT, BY_HAND_WAIT),
                ],
                costs=[("RedisKV", REDISKV_WAIT, REDISKV), ("by hand", BY_HAND_WAIT, BY_HAND)],
            )
            spec = {"source": primary.url, "stores": ["bot"], "users": users}
            self._measure(spec, one, directory, [BY_HAND, REDISKV, BY_HAND_WAIT, REDISKV_WAIT])
        finally:
            for server in (*replicas, primary):
                server.stop()

        # (2) A cluster, the state split into many stores.
        cluster = ClusterDeployment(self.workdir / "k", more=no_persistence)
        try:
            cluster.start()
            spelled = sources.cluster(cluster.startup_nodes)
            names = [f"guild:{n}" for n in range(s.stores)]
            await self._prefill(spelled, names, cluster_users, replicas=1)
            split = tables(in_cluster, pairs=[("", REDISKV, BY_HAND)], costs=[])
            spec = {"source": spelled, "stores": names, "users": cluster_users}
            self._measure(spec, split, cluster.directory, [BY_HAND, REDISKV])
        finally:
            cluster.stop()
        self.tables += [*one.values(), *split.values()]

    async def _prefill(self, spelled: str, names: list[str], users: int, replicas: int) -> None:
        # Every user's value in every store, acknowledged once replicas have it.
        from aiokv.redis import RedisKV
        from benchmarks.redis_worker import user_key
        from tests.redis import sources

        source = sources.source(spelled, timeout=30)
        values = {user_key(u): dict_value(u) for u in range(users)}
        for name in names:
            kv = RedisKV(source, name=name, replicas=replicas, timeout=30)
            await kv.update(values)
            await kv.aclose()
        if not isinstance(source, str):
            await source.aclose()

    def _measure(
        self,
        spec: dict[str, Any],
        tables: dict[int, Throughput],
        directory: Path,
        systems: list[str],
    ) -> None:
        # Each repetition: for each number of workers, every system in turn
        # (rotated) for a slice of the time, slice after slice, so that the
        # machine's bursts of load fall on all of them; each on the same
        # streams of keys within a slice.
        from benchmarks.redis_worker import Workers

        s = self.sizes
        workers = Workers(
            {**spec, "systems": [WORKER_SYSTEMS[name] for name in systems]},
            max(s.workers),
            directory / "workers",
        )
        try:
            for rep in range(s.reps):
                for n in s.workers:
                    ops = dict.fromkeys(systems, 0)
                    took = dict.fromkeys(systems, 0.0)
                    cpu = dict.fromkeys(systems, 0.0)
                    for i in range(s.worker_slices):
                        for system in self.rotation(systems, rep + i):
                            done, seconds, cpu_s = workers.run(
                                WORKER_SYSTEMS[system],
                                n,
                                s.worker_s / s.worker_slices,
                                seed=1000 * (rep * s.worker_slices + i),
                            )
                            ops[system] += done
                            took[system] += seconds
                            cpu[system] += cpu_s
                    for system in systems:
                        tables[n].add(system, ops[system] / took[system])
                        tables[n].cpu.setdefault(system, []).append(
                            1e6 * cpu[system] / ops[system]
                        )
        finally:
            workers.stop()

    def h_memory(self) -> None:
        s = self.sizes
        whole_file = [c for c in (FloorSystem, AioKVSystem, PickleDBSystem) if c in self.systems]
        for n, systems in ((s.memory_keys, self.systems), (s.memory_big, whole_file)):
            table = Table(
                f"(h) RSS of a fresh process holding a {n:,}-key store, after its first flushes",
                "MiB",
            )
            data = dataset(n)
            paths = {cls: self.prefilled(cls, data) for cls in systems}
            del data
            for rep in range(s.reps):
                for cls in self.rotation(systems, rep):
                    rss = child("benchmarks.memory", cls.name, paths[cls])
                    table.add(cls.name, int(rss) / 2**20)
            self.tables.append(table)

    async def run_async(self, only: set[str]) -> None:
        from benchmarks import frameworks  # (l) and (m), which import this module

        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("a", self.a_gets),
            ("b", self.b_sets_then_flush),
            ("c", self.c_stream),
            ("d", self.d_set_flush),
            ("e", self.e_open),
            ("f", self.f_flush_one_change),
            ("g", self.g_stall),
            ("i", self.i_namespaces),
            ("j", self.j_redis),
            ("k", self.k_throughput),
            ("l", lambda: frameworks.l_aiogram(self)),
            ("m", lambda: frameworks.m_telegram(self)),
        ]
        for key, step in steps:
            if key in only:
                t = time.perf_counter()
                await step()
                print(f"  ({key}) done in {time.perf_counter() - t:.1f} s", file=sys.stderr)
