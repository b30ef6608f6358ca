"""The targets aiokv's figures are held to, each a check over a finished Bench."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.frameworks import AIOKV_FILE, AIOKV_PTB, AIOKV_REDIS, DICT, MEMORY, PICKLE, REDIS
from benchmarks.systems import PickleDBSystem
from benchmarks.workloads import (
    AIOKV,
    NAMESPACE_GET_ALL,
    REDISKV,
    STREAM_CAP,
    Bench,
    Table,
    Throughput,
)


def fmt(x: float) -> str:
    """A figure with as many digits as its size deserves."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


Check = Callable[["Bench"], tuple[float | str, bool]]
TARGETS: list[tuple[str, str, Check]] = []


def target(workload: str, goal: str) -> Callable[[Check], Any]:
    """Register a check of aiokv's figure for workload against goal."""

    def register(check: Check) -> Any:
        TARGETS.append((workload, goal, check))
        return check

    return register


def find(bench: Bench, prefix: str) -> Table:
    """The table whose title starts with prefix."""
    return next(t for t in bench.tables if t.title.startswith(prefix))


@target("(a) get, str value", "<= 1.5x floor")
def _a_str(b: Bench) -> tuple[float | str, bool]:
    r = find(b, "(a) get, str").ratio(AIOKV)
    return r, r <= 1.5


@target("(a) get, small dict value (copy included)", "<= 4x floor")
def _a_dict(b: Bench) -> tuple[float | str, bool]:
    r = find(b, "(a) get, small dict").ratio(AIOKV)
    return r, r <= 4


@target("(b) sets + durable flush", "<= 4x floor on every CPython 3.10 to 3.13")
def _b(b: Bench) -> tuple[float | str, bool]:
    # pickledb, shown beside it, keeps the caller's object: no check, no copy.
    t = find(b, "(b)")
    r = t.ratio(AIOKV)
    shown = f"{fmt(r)}x"
    if PickleDBSystem.name in t.values:
        shown += f" (pickledb {fmt(t.ratio(PickleDBSystem.name))}x)"
    return shown, r <= 4


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


@target("(e) open, 1M keys", "<= 1.2x floor")
def _e(b: Bench) -> tuple[float | str, bool]:
    r = [t for t in b.tables if t.title.startswith("(e)")][-1].ratio(AIOKV)
    return r, r <= 1.2


def _one_change(b: Bench) -> list[Table]:
    # The "flush after one change" tables, by size (100k and 1M in a full run).
    return [t for t in b.tables if t.title.startswith("(f) flush after one change")]


@target("(f) flush after one change, 100k keys", "<= 0.8x floor")
def _f100k(b: Bench) -> tuple[float | str, bool]:
    r = _one_change(b)[-2].ratio(AIOKV)
    return r, r <= 0.8


@target("(f) flush after one change, 1M keys", "<= 0.6x floor")
def _f1m(b: Bench) -> tuple[float | str, bool]:
    r = _one_change(b)[-1].ratio(AIOKV)
    return r, r <= 0.6


@target(
    "(f) the first flushes after opening, one change each: 100k and 1M keys",
    "every one <= 1x floor",
)
def _f_first(b: Bench) -> tuple[float | str, bool]:
    # The worst repetition of each table: the first flush, then the next ones.
    worst = [t.worst(AIOKV) for t in b.tables if "after opening" in t.title]
    return "worst " + ", ".join(f"{fmt(r)}x" for r in worst), max(worst) <= 1  # none: not measured


@target("(f) flush after 1,000 random keys changed, 1M keys", "<= 0.8x floor")
def _f_scattered(b: Bench) -> tuple[float | str, bool]:
    r = next(t for t in b.tables if "random keys changed" in t.title).ratio(AIOKV)
    return r, r <= 0.8


@target("(g) loop stall, 1M keys", "max <= 2x idle's max, p99 <= 1.5x idle's p99")
def _g(b: Bench) -> tuple[float | str, bool]:
    p99, worst = find(b, "(g) event-loop"), find(b, "(g) ticker lateness: max")
    r_max = worst.ratio(AIOKV, "idle")
    r_p99 = p99.ratio(AIOKV, "idle")
    return f"max {fmt(r_max)}x idle, p99 {fmt(r_p99)}x idle", r_max <= 2 and r_p99 <= 1.5


@target("(h) memory, 1M keys", "<= 1.5x floor")
def _h(b: Bench) -> tuple[float | str, bool]:
    r = [t for t in b.tables if t.title.startswith("(h)")][-1].ratio(AIOKV)
    return r, r <= 1.5


@target("(i) namespace get_all() in a big store", "<= 2x get_all() of a store of its size")
def _i(b: Bench) -> tuple[float | str, bool]:
    r = find(b, "(i)").ratio(NAMESPACE_GET_ALL)
    return r, r <= 2


@target("(j) RedisKV: get, set, incr, get_all()", "each <= 1.2x redis.asyncio by hand")
def _j(b: Bench) -> tuple[float | str, bool]:
    r = max(t.ratio(REDISKV) for t in b.tables if t.title.startswith("(j)"))
    return r, r <= 1.2


@target(
    "(k) RedisKV's throughput, worker processes: one server (replicas=0, 1), a Cluster",
    "each <= 1.3x redis.asyncio by hand (an op's time)",
)
def _k(b: Bench) -> tuple[float | str, bool]:
    r = max(
        t.ratio(system, reference)
        for t in b.tables
        if isinstance(t, Throughput)
        for _, system, reference in t.pairs
    )
    return r, r <= 1.3


def _updates(b: Bench) -> list[Table]:
    # (l)'s tables of one update's work, by number of users.
    return [t for t in b.tables if t.title.startswith("(l) aiogram FSM, one update")]


@target(
    "(l) aiogram FSM, AioKVStorage on a file: an update's work",
    "<= 2x MemoryStorage, faster than every storage that persists",
)
def _l_file(b: Bench) -> tuple[float | str, bool]:
    tables = _updates(b)
    r = max(t.ratio(AIOKV_FILE) for t in tables)
    ahead = all(
        t.ratio(AIOKV_FILE, other) < 1
        for t in tables
        for other in t.values
        if other not in (MEMORY, AIOKV_FILE)
    )
    return r, r <= 2 and ahead


@target("(l) aiogram FSM, AioKVStorage on RedisKV: an update's work", "<= 1.2x RedisStorage")
def _l_redis(b: Bench) -> tuple[float | str, bool]:
    r = max(t.ratio(AIOKV_REDIS, REDIS) for t in _updates(b))
    return r, r <= 1.2


def _figure(title: str) -> str:
    # Which of (m)'s figures a table of it holds.
    return next(
        (name for word, name in (("bytes", "bytes"), ("p99", "stall p99"), ("max", "stall max"))
         if word in title),
        "round time",
    )  # fmt: skip


@target(
    "(m) python-telegram-bot: a persistence round's time and bytes, the loop stall",
    "each below PicklePersistence's and DictPersistence's",
)
def _m(b: Bench) -> tuple[float | str, bool]:
    worst: dict[str, float] = {}
    for t in b.tables:
        if t.title.startswith("(m)"):
            figure = _figure(t.title)
            r = max(t.ratio(AIOKV_PTB, peer) for peer in (PICKLE, DICT))
            worst[figure] = max(worst.get(figure, 0), r)
    shown = ", ".join(f"{figure} {fmt(r)}x" for figure, r in worst.items())
    return f"x the better peer: {shown}", max(worst.values()) < 1
