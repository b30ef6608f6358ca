"""aiokv's benchmark: every system side by side with the floor, in one run.

    python -m benchmarks.run            # full run, writes docs/performance.md + .png
    python -m benchmarks.run --quick    # smoke run with tiny sizes (< 60 s)

The machine is shared and noisy, so each figure is a ratio to the floor
measured in the same repetition, systems interleaved, and the reported ratio
is the median over the repetitions. Absolute times are context only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.systems import ALL, AioKVSystem, FloorSystem, PickleDBSystem, System

ROOT = Path(__file__).resolve().parent.parent
FLOOR = FloorSystem.name
STREAM_CAP = 0.5  # (c): max_flush_delay, and the period others are flushed at
AIOKV = AioKVSystem.name


@dataclass
class Sizes:
    """How big each workload is; --quick shrinks everything."""

    reps: int
    get_keys: int  # (a), (c), (d) store size
    gets: int  # (a) gets per repetition
    sets: int  # (b)
    stream_s: float  # (c)
    set_flush: int  # (d) iterations
    open_sizes: list[int]  # (e)
    flush_sizes: list[int]  # (f)
    stall_keys: int  # (g)
    stall_s: float  # (g)
    memory_keys: int  # (h)
    budget_s: float  # most time one system may spend on one measurement


FULL = Sizes(
    5,
    10_000,
    200_000,
    10_000,
    2.0,
    200,
    [1_000, 100_000],
    [1_000, 10_000, 100_000, 1_000_000],
    100_000,
    3.0,
    100_000,
    0.6,
)
QUICK = Sizes(
    2, 1_000, 5_000, 1_000, 0.2, 10, [1_000, 5_000], [1_000, 5_000], 5_000, 0.3, 5_000, 0.1
)


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
    values: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, system: str, value: float) -> None:
        self.values.setdefault(system, []).append(value)

    def ratio(self, system: str) -> float:
        """Median over repetitions of system / floor (floor / system for rates)."""
        mine, floor = self.values[system], self.values[FLOOR]
        pairs = zip(mine, floor, strict=False)
        if self.lower_is_better:
            return statistics.median(m / f for m, f in pairs)
        return statistics.median(f / m for m, f in pairs)

    def median(self, system: str) -> float:
        return statistics.median(self.values[system])


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
        for n in s.open_sizes:
            table = Table(f"(e) open a {n:,}-key store and read one key", "ms")
            data = dataset(n)
            paths = {cls: self.prefilled(cls, data) for cls in self.systems}
            for rep in range(s.reps):
                for cls in self.rotation(self.systems, rep):
                    gc.collect()
                    store = cls(paths[cls])

                    async def open_and_read(store: System = store) -> None:
                        await store.open()
                        await store.get("k1")

                    table.add(cls.name, 1e3 * await self.timed(open_and_read))
                    await store.close()
            self.tables.append(table)

    async def f_flush_one_change(self) -> None:
        s = self.sizes
        whole_file = [
            cls for cls in (FloorSystem, AioKVSystem, PickleDBSystem) if cls in self.systems
        ]
        for n in s.flush_sizes:
            table = Table(f"(f) flush after changing one key, {n:,} keys", "ms")
            data = dataset(n)
            stores = []
            for cls in whole_file:
                store = cls(self.prefilled(cls, data), flush_every=3600)
                await store.open()
                stores.append(store)
            del data
            for rep in range(s.reps):
                for store in self.rotation(stores, rep):
                    await store.set("k1", rep)
                    gc.collect()
                    table.add(store.name, 1e3 * await self.timed(store.flush))
            for store in stores:
                await store.close()
            del stores
            gc.collect()
            table.notes["ns/key"] = ", ".join(
                f"{name} {1e6 * statistics.median(v) / n:.0f}" for name, v in table.values.items()
            )
            self.tables.append(table)

    async def g_stall(self) -> None:
        s = self.sizes
        p99 = Table(
            f"(g) event-loop stall: a 1 ms ticker's lateness while sets arrive at "
            f"~10k/s for {s.stall_s} s on a {s.stall_keys:,}-key store, flushing "
            "every 0.5 s at most: p99",
            "ms",
        )
        worst = Table("(g) ticker lateness: max", "ms")
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
                lateness = await self._ticker_under_load(stores[name], s.stall_s)
                lateness.sort()
                p99.add(name, 1e3 * lateness[int(len(lateness) * 0.99)])
                worst.add(name, 1e3 * lateness[-1])
        for store in stores.values():
            if store is not None:
                await store.close()
        # Against the idle loop, not the floor: the noise floor of the machine.
        for table in (p99, worst):
            table.notes["idle"] = "the same driver with no store: the machine's noise floor"
        self.tables += [p99, worst]

    async def _ticker_under_load(self, store: System | None, seconds: float) -> list[float]:
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
                for _ in range(10):  # 10 sets per ms: ~10k/s
                    i += 1
                    if store is not None:
                        await store.set(f"k{i % 1000}", i)
                await asyncio.sleep(0.001)

        await asyncio.gather(ticker(), driver())
        if store is not None:
            await store.flush()
        return lateness

    def h_memory(self) -> None:
        s = self.sizes
        table = Table(f"(h) RSS of a fresh process holding a {s.memory_keys:,}-key store", "MiB")
        data = dataset(s.memory_keys)
        paths = {cls: self.prefilled(cls, data) for cls in self.systems}
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for rep in range(s.reps):
            for cls in self.rotation(self.systems, rep):
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.memory", cls.name, paths[cls]],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                    timeout=300,
                )
                table.add(cls.name, int(out.stdout.split()[-1]) / 2**20)
        self.tables.append(table)

    async def run_async(self, only: set[str]) -> None:
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("a", self.a_gets),
            ("b", self.b_sets_then_flush),
            ("c", self.c_stream),
            ("d", self.d_set_flush),
            ("e", self.e_open),
            ("f", self.f_flush_one_change),
            ("g", self.g_stall),
        ]
        for key, step in steps:
            if key in only:
                t = time.perf_counter()
                await step()
                print(f"  ({key}) done in {time.perf_counter() - t:.1f} s", file=sys.stderr)


# -- report --------------------------------------------------------------------


Check = Callable[["Bench"], tuple[float | str, bool]]
TARGETS: list[tuple[str, str, Check]] = []


def target(workload: str, goal: str) -> Callable[[Check], Any]:
    def register(check: Check) -> Any:
        TARGETS.append((workload, goal, check))
        return check

    return register


def find(bench: Bench, prefix: str) -> Table:
    return next(t for t in bench.tables if t.title.startswith(prefix))


@target("(a) get, str value", "<= 1.5x floor")
def _a_str(b: Bench) -> tuple[float | str, bool]:
    r = find(b, "(a) get, str").ratio(AIOKV)
    return r, r <= 1.5


@target("(a) get, small dict value (copy included)", "<= 4x floor")
def _a_dict(b: Bench) -> tuple[float | str, bool]:
    r = find(b, "(a) get, small dict").ratio(AIOKV)
    return r, r <= 4


@target("(b) sets + durable flush", "<= 3x floor, faster than pickledb")
def _b(b: Bench) -> tuple[float | str, bool]:
    t = find(b, "(b)")
    r = t.ratio(AIOKV)
    beats = PickleDBSystem.name not in t.values or t.median(AIOKV) < t.median("pickledb")
    return r, r <= 3 and beats


@target("(c) write stream", ">= 1/3 of floor's sets/s; <= 1 file write per cap period")
def _c(b: Bench) -> tuple[float | str, bool]:
    t = find(b, "(c) back-to-back")
    r = t.ratio(AIOKV)  # floor's rate / aiokv's rate
    writes = max(find(b, "(c) whole-file writes").values[AIOKV])
    return r, r <= 3 and writes <= b.sizes.stream_s / STREAM_CAP + 1


@target("(d) set + flush p50", "<= 1.2x floor")
def _d(b: Bench) -> tuple[float | str, bool]:
    r = find(b, "(d) set one key + flush(), ").ratio(AIOKV)
    return r, r <= 1.2


@target("(e) open the largest store", "<= 1.2x floor")
def _e(b: Bench) -> tuple[float | str, bool]:
    r = [t for t in b.tables if t.title.startswith("(e)")][-1].ratio(AIOKV)
    return r, r <= 1.2


@target("(f) flush after one change, the two largest stores", "<= 1.2x floor")
def _f(b: Bench) -> tuple[float | str, bool]:
    r = max(t.ratio(AIOKV) for t in [t for t in b.tables if t.title.startswith("(f)")][-2:])
    return r, r <= 1.2


@target("(g) loop stall", "max <= 2x idle's max, p99 <= 1.5x idle's p99")
def _g(b: Bench) -> tuple[float | str, bool]:
    p99, worst = find(b, "(g) event-loop"), find(b, "(g) ticker lateness: max")
    r_max = statistics.median(
        a / i for a, i in zip(worst.values[AIOKV], worst.values["idle"], strict=False)
    )
    r_p99 = statistics.median(
        a / i for a, i in zip(p99.values[AIOKV], p99.values["idle"], strict=False)
    )
    return f"max {fmt(r_max)}x idle, p99 {fmt(r_p99)}x idle", r_max <= 2 and r_p99 <= 1.5


@target("(h) memory", "<= 1.5x floor")
def _h(b: Bench) -> tuple[float | str, bool]:
    r = find(b, "(h)").ratio(AIOKV)
    return r, r <= 1.5


NOTES = """### Where a target is missed, and why

**(b) sets + durable flush.** aiokv checks every value and stores a private copy
(value isolation): for a small dict, one `orjson` round trip and an equality check
(about 0.6 us) plus new objects for the garbage collector to track. The floor and
pickledb keep the caller's own object (a later mutation by the caller silently
changes their state, and NaN is silently written as `null`). The flush itself costs
what the floor's does (see (d) and (f) at 10k keys). Tried: a pure-Python check and
copy for flat dicts, 0.51 us instead of 0.64 us per value in isolation, which could
move this workload by a few percent at most; not kept.

**(f) flush after one change, 100k and 1M keys.** One `orjson.dumps` of the whole
state holds the GIL from start to end (about 12 ms at 100k keys, 0.1 s at 1M): that is
what freezes the floor's event loop in (g). aiokv encodes states over 16,384 keys in
slices of 512 keys, so the loop's thread gets the GIL back between slices; building
each slice's dict costs about 50 ns a key, which is the gap. (g) matters more to a
bot, so the slices stay. Tried and kept: a copy-free snapshot (the state is frozen
for the write and changes go to an overlay), which removed a 2 ms copy on the loop
and 20 ns a key. Tried and dropped: 4,096-key slices (same per-key cost, 8x longer
GIL holds), slices built with `zip` or a comprehension (slower). What would meet
both: re-encoding only the slices whose keys changed, which needs slices that stay
stable across inserts and deletes; not built.

**(g) loop stall, p99, is on the edge.** The worst lateness stays near the idle
loop's (the floor's single `orjson.dumps` is 10-20x idle), but across runs the 99th
percentile measured 1.45x to 1.55x idle: while a flush runs (about 35 ms of every
500 ms here), each time the loop wakes it may wait for the worker to hand the GIL
back after its current slice.
Slices of 256 keys gave the same p99 (1.50x) and a slower (f) (1.52x), so the
residue is the GIL hand-off itself, not the slice size; 512 stays.

**(c) file writes.** A loop that only ever yields with `await asyncio.sleep(0)`
releases and retakes the GIL every few microseconds, and CPython then never hands it
to a waiting thread, so the background write (in a worker thread) finishes late and
fewer writes than cap periods happen. The target (at most one write per cap period)
holds; the README warns about the starvation.
"""


def fmt(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def render(bench: Bench, command: str, elapsed: float) -> str:
    systems = {cls.name: cls for cls in ALL}
    lines = [
        "# aiokv performance",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} with `{command}` "
        f"({elapsed:.0f} s) on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}.",
        "",
        "Every ratio is the median, over the repetitions, of the system's figure divided by "
        "the floor's figure in the same repetition (systems interleaved, "
        f"{bench.sizes.reps} repetitions). The floor is a plain dict with an `async def` get "
        "and one thread hop per flush (`orjson.dumps`, temp file, fsync, `os.replace`, "
        "directory fsync). Absolute figures are medians, for context only: the machine is "
        "shared and noisy.",
        "",
        "Systems that really fsync on flush: "
        + ", ".join(n for n, c in systems.items() if c.fsyncs)
        + ". Not: "
        + ", ".join(n for n, c in systems.items() if not c.fsyncs)
        + " (their flush stops at the OS cache, so a power loss can lose it).",
        "",
        "## Targets",
        "",
        "| workload | target | aiokv | met |",
        "|---|---|---|---|",
    ]
    for workload, goal, check in TARGETS:
        try:
            value, ok = check(bench)
            shown = value if isinstance(value, str) else f"{fmt(value)}x"
            lines.append(f"| {workload} | {goal} | {shown} | {'yes' if ok else '**no**'} |")
        except (StopIteration, KeyError, IndexError):
            lines.append(f"| {workload} | {goal} | not measured | - |")
    lines += ["", NOTES, "", "![ratios to the floor](performance.png)", ""]
    for table in bench.tables:
        ref = "idle" if "idle" in table.values else FLOOR
        lines += [f"## {table.title}", ""]
        col = (
            "x idle"
            if ref == "idle"
            else ("floor's rate / this" if not table.lower_is_better else "x floor")
        )
        lines += [f"| system | median ({table.unit}) | {col} | note |", "|---|---|---|---|"]
        for name in table.values:
            mine, base = table.values[name], table.values[ref]
            pairs = [(m, f) for m, f in zip(mine, base, strict=False) if m and f]
            if not table.compare or not pairs:
                r = "-"
            elif table.lower_is_better:
                r = fmt(statistics.median(m / f for m, f in pairs))
            else:
                r = fmt(statistics.median(f / m for m, f in pairs))
            lines.append(
                f"| {name} | {fmt(table.median(name))} | {r} | {table.notes.get(name, '')} |"
            )
        if "ns/key" in table.notes:
            lines += ["", f"Flush cost per key (median): {table.notes['ns/key']} ns/key."]
        lines.append("")
    return "\n".join(lines)


def chart(bench: Bench, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = [
        t
        for t in bench.tables
        if t.title[:3] in ("(a)", "(b)", "(d)", "(e)")
        and "p99" not in t.title
        and FLOOR in t.values
    ]
    tables.append(find(bench, "(c) back-to-back"))
    names = [cls.name for cls in bench.systems if cls.name != FLOOR]
    fig, ax = plt.subplots(figsize=(12, 5.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ratios = [t.ratio(name) if name in t.values else float("nan") for t in tables]
        ax.bar([x + i * width for x in range(len(tables))], ratios, width, label=name)
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("time relative to the floor (log; lower is better)")
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(tables))])
    ax.set_xticklabels(
        [t.title.split(":")[0][:34] for t in tables], rotation=20, ha="right", fontsize=8
    )
    ax.legend(fontsize=8, ncol=3)
    ax.set_title("aiokv and peers, each workload as a ratio to the floor (median of runs)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write performance.md and performance.png "
        "(default: docs/ for a full run, a temp dir for --quick)",
    )
    parser.add_argument("--only", default="abcdefgh", help="workloads to run, e.g. 'aeg'")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    out = args.out or (ROOT / "docs" if not args.quick else Path(tempfile.mkdtemp()))
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.run" + (" --quick" if args.quick else "")
    workdir = Path(tempfile.mkdtemp(prefix="aiokv-bench-"))
    start = time.perf_counter()
    try:
        bench = Bench(sizes, list(ALL), workdir)
        asyncio.run(bench.run_async(set(args.only)))
        if "h" in args.only:
            bench.h_memory()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = render(bench, command, time.perf_counter() - start)
    (out / "performance.md").write_text(report)
    chart(bench, out / "performance.png")
    print(report)
    print(f"\nwrote {out / 'performance.md'} and {out / 'performance.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
