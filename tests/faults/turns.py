"""Campaign 10: edit turns, under many tasks and random cancellations.

Many tasks mix edit() blocks, set, update, incr, delete, get, clear() and
clear(prefix), on the store and through namespaces (nested ones too), on
overlapping keys, while each call may be cancelled at a random moment: while
it waits for a turn, at any await inside an edit block, during a clear's
flush. The blocks await, write keys nobody edits (set, update, incr, delete,
clear of a prefix holding no edited key), nest edits of other keys (in one
order, as a program must) and try to write their own key (which must raise
RuntimeError). Every case must:

- end: a watchdog fails the case when it has not ended in WATCHDOG seconds
  (a deadlock, or two waiters keeping each other going);
- lose no update: the log of the calls that applied, replayed, explains every
  value read and the final state (then the file must hold that state);
- leave no turn behind: the store's turn table is empty at the end.

The order the replay assumes. set, update, incr, delete, get and an edit's
store (as its block ends) apply at one instant, and none awaits between that
instant and its return to the caller, so the task that called logs it in the
same step of the loop, before any other task runs: the log is in the order
the calls applied. The one order the log does not give is a clear's: it
flushes after it applies, so it is logged at its call and at its return (or
its cancellation), and the replay tries every instant in between. A block
logs the value it got, in the step it begins, and the replay checks that the
key held just that, then and still when the block stores: a write that
landed under an edit is caught there, even if a later write hides it. A
call that raised CancelledError did not apply (none awaits once applied),
except a clear cancelled in its flush: the replay tries both.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import shutil
import signal
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokv import AioKV
from aiokv.protocol import Store
from tests.faults.common import LONG, Result, Timer

# Keys edit() blocks change, in the one order a block may nest edits of them,
# and keys nobody edits, which blocks write. Both sorts live in every
# namespace, so outside writes and clears meet edits.
EDITED = ("a:b:e2", "a:e1", "b:e3", "e4")
PLAIN = ("a:b:p2", "a:p1", "ab", "b:p3", "p4")
# Prefixes cleared from outside the blocks, and from inside (no edited key
# under them: a block clearing another block's key is the one deadlock).
OUTER_PREFIXES = ("", "a:", "a:b:", "a", "b:", "e", "a:e", "p")
INNER_PREFIXES = ("p", "ab", "a:p", "a:b:p")
NAMESPACES = ("a:", "a:b:", "b:")
KEEP = 4  # a block appends a tag and keeps the last KEEP items
WATCHDOG = 5.0  # seconds a case may run; its calls take milliseconds
# A task spinning without an await starves the loop's watchdog; a signal
# then raises Hung into it, every ALARM seconds until the case ends.
ALARM = 3 * WATCHDOG
MAX_HANGS = 3  # a campaign stops after so many hangs (each costs WATCHDOG)
CANCEL = 0.3  # the share of calls cancelled
# Clears under way at once: the replay tries each one's every instant, so
# its work doubles with each.
MAX_CLEARS = 3


class Hung(BaseException):
    """Raised by the alarm into a case whose loop no longer turns."""


def _hung(signum: int, frame: object) -> None:
    raise Hung


def replay(log: list[tuple[Any, ...]], final: dict[str, Any]) -> str | None:
    """None if the log explains every observation and the final state; else the first misfit."""
    prefixes: dict[int, str] = {}
    # Each branch: a state, and the clears called that have not applied in it.
    branches: list[tuple[dict[str, Any], frozenset[int]]] = [({}, frozenset())]
    for at, (op, *args) in enumerate(log):
        if op == "clear-call":
            prefixes[args[0]] = args[1]
            branches = [(state, pending | {args[0]}) for state, pending in branches]
            continue
        branches = _any_clears_now(branches, prefixes)
        if op == "clear-done":  # it applied by now
            branches = [(s, pending) for s, pending in branches if args[0] not in pending]
        elif op == "clear-cancelled":  # it applied by now, or it never will
            branches = [(s, pending - {args[0]}) for s, pending in branches]
        else:
            branches = [
                (after, pending)
                for state, pending in branches
                if (after := _apply(state, op, args)) is not None
            ]
        if not branches:
            what = "a write landed under this edit" if op == "store" else "no order explains it"
            return f"log entry {at} {(op, *args)}: {what}"
    if all(state != final for state, _ in branches):
        return f"the final state {final} is none the log leaves: {[s for s, _ in branches]}"
    return None


def _any_clears_now(
    branches: list[tuple[dict[str, Any], frozenset[int]]], prefixes: dict[int, str]
) -> list[tuple[dict[str, Any], frozenset[int]]]:
    # Every branch, and every branch some of its pending clears applied in
    # now: clears only remove keys, so the order among them does not matter.
    seen: dict[tuple[frozenset[Any], frozenset[int]], tuple[dict[str, Any], frozenset[int]]] = {}
    todo = list(branches)
    while todo:
        state, pending = todo.pop()
        mark = (frozenset(state.items()), pending)
        if mark in seen:
            continue
        seen[mark] = state, pending
        for n in pending:
            kept = {k: v for k, v in state.items() if not k.startswith(prefixes[n])}
            todo.append((kept, pending - {n}))
    return list(seen.values())


def _apply(state: dict[str, Any], op: str, args: list[Any]) -> dict[str, Any] | None:
    # The state after one logged call, or None if what it saw does not fit.
    if op == "set":
        return {**state, args[0]: args[1]}
    if op == "update":
        return {**state, **args[0]}
    if op == "delete":
        return {k: v for k, v in state.items() if k != args[0]}
    if op == "incr":
        key, by, result = args
        current = state.get(key, 0)
        if type(current) is not int or current + by != result:
            return None
        return {**state, key: result}
    if op == "incr-refused":  # incr() raised TypeError: the key holds a list
        return state if isinstance(state.get(args[0]), tuple) else None
    if op == "not-a-list":  # edit() raised TypeError: the key holds a number
        return state if type(state.get(args[0])) is int else None
    if op in ("read", "get"):
        default: Any = () if op == "read" else None  # an edit's default, get()'s
        return state if state.get(args[0], default) == args[1] else None
    assert op == "store", op
    key, read, stored = args
    return {**state, key: stored} if state.get(key, ()) == read else None


def frozen(value: Any) -> Any:
    """A value as the replay keeps it: hashable, a list as a tuple (values hold no dicts)."""
    return tuple(value) if isinstance(value, list) else value


async def one_case(path: Path, seed: int, calls: int) -> tuple[list[str], bool, int]:
    """Run one random program: (what went wrong, whether it hung, calls cancelled)."""
    rng = random.Random(seed)
    log: list[tuple[Any, ...]] = []
    problems: list[str] = []
    tags, clear_ids = itertools.count(), itertools.count()
    cancelled = clearing = 0
    kv = AioKV(path, flush_delay=rng.choice([0, 0.002]), max_flush_delay=0.02, fsync=False)
    views: dict[str, Store] = {"": kv, "a:": kv.namespace("a"), "b:": kv.namespace("b")}
    views["a:b:"] = views["a:"].namespace("b")

    def view(wrng: random.Random, names: Iterable[str]) -> tuple[Store, int]:
        # The store, or a namespace holding every one of names; and the
        # length of the namespace's prefix, to cut off the names.
        names = list(names)
        fits = [""] + [ns for ns in NAMESPACES if all(n.startswith(ns) for n in names)]
        chosen = wrng.choice(fits)
        return views[chosen], len(chosen)

    async def write(wrng: random.Random, keys: tuple[str, ...], prefixes: tuple[str, ...]) -> None:
        nonlocal clearing
        r = wrng.random()
        key = wrng.choice(keys)
        store, cut = view(wrng, [key])
        if r < 0.3:
            value = [next(tags)]
            await store.set(key[cut:], value)
            log.append(("set", key, frozen(value)))
        elif r < 0.55:
            batch = {k: [next(tags)] for k in wrng.sample(keys, wrng.randrange(1, 4))}
            store, cut = view(wrng, batch)
            await store.update({k[cut:]: v for k, v in batch.items()})
            log.append(("update", {k: frozen(v) for k, v in batch.items()}))
        elif r < 0.68:
            by = wrng.randrange(1, 5)
            try:
                result = await store.incr(key[cut:], by)
            except TypeError:
                log.append(("incr-refused", key))
            else:
                log.append(("incr", key, by, result))
        elif r < 0.82:
            await store.delete(key[cut:])
            log.append(("delete", key))
        elif r < 0.9:
            log.append(("get", key, frozen(await store.get(key[cut:]))))
        elif clearing < MAX_CLEARS:
            prefix = wrng.choice(prefixes)
            store, cut = view(wrng, [prefix])
            n = next(clear_ids)
            log.append(("clear-call", n, prefix))
            clearing += 1
            try:
                cleared = await store.clear(prefix[cut:])
            except BaseException:
                log.append(("clear-cancelled", n))
                raise
            finally:
                clearing -= 1
            log.append(("clear-done", n))
            if not cleared:
                problems.append(f"seed {seed}: clear({prefix!r}) returned False")

    async def edit(wrng: random.Random, key: str, depth: int) -> None:
        store, cut = view(wrng, [key])
        began = False
        try:
            async with store.edit(key[cut:], default=[]) as items:
                began = True
                read = frozen(items)
                log.append(("read", key, read))
                for _ in range(wrng.randrange(4)):
                    await asyncio.sleep(0)
                    r = wrng.random()
                    later = [k for k in EDITED if k > key]
                    if r < 0.35:
                        await write(wrng, PLAIN, INNER_PREFIXES)
                    elif r < 0.5 and later and depth < 2:
                        await edit(wrng, wrng.choice(later), depth + 1)
                    elif r < 0.55:
                        await own_key(store, key[cut:])
                items.append(next(tags))
                del items[:-KEEP]
                stored = frozen(items)
        except TypeError:
            if began:
                raise
            log.append(("not-a-list", key))
            return
        log.append(("store", key, read, stored))

    async def own_key(store: Store, key: str) -> None:
        try:
            await store.set(key, [-1])
        except RuntimeError as e:
            if "this very task" not in str(e):
                raise
        else:
            problems.append(f"seed {seed}: a block wrote its own key {key!r}")

    async def call(wrng: random.Random) -> None:
        if wrng.random() < 0.35:
            await edit(wrng, wrng.choice(EDITED), 0)
        else:
            await write(wrng, EDITED + PLAIN, OUTER_PREFIXES)

    running: set[asyncio.Task[None]] = set()

    async def worker(n: int) -> None:
        nonlocal cancelled
        wrng = random.Random(seed * 1_000 + n)
        for _ in range(calls):
            task = asyncio.create_task(call(wrng))
            running.add(task)
            task.add_done_callback(running.discard)
            if wrng.random() < CANCEL:
                for _ in range(wrng.randrange(8)):
                    await asyncio.sleep(0)
                if wrng.random() < 0.2:
                    await asyncio.sleep(wrng.uniform(0, 0.002))  # into a flush
                if task.cancel():
                    cancelled += 1
            # wait(): a cancelled worker (by the watchdog) stops, its call
            # is cancelled with the rest.
            await asyncio.wait([task])
            if not task.cancelled() and (error := task.exception()) is not None:
                problems.append(f"seed {seed}: a call raised {error!r}")

    async def program() -> None:
        start = {k: [next(tags)] for k in EDITED + PLAIN}
        await kv.update(start)
        log.append(("update", {k: frozen(v) for k, v in start.items()}))
        await asyncio.gather(*(worker(n) for n in range(rng.randrange(3, 11))))

    hung = False
    try:
        try:
            await asyncio.wait_for(program(), WATCHDOG)
        except asyncio.TimeoutError:
            hung = True
            problems.append(f"seed {seed}: hung ({len(kv._turns.held())} turns held)")
            for task in list(running):
                task.cancel()
            if running:
                await asyncio.wait(running, timeout=WATCHDOG)
        if not hung:
            if kv._turns.held():
                problems.append(f"seed {seed}: turns left behind: {sorted(kv._turns.held())}")
            final = await kv.get_all()
            if (misfit := replay(log, {k: frozen(v) for k, v in final.items()})) is not None:
                problems.append(f"seed {seed}: {misfit}")
            await kv.flush()
            on_disk = json.loads(path.read_bytes()) if path.exists() else {}
            if on_disk != final:
                problems.append(f"seed {seed}: the file differs from the store")
    finally:
        await kv.aclose()
    return problems, hung, cancelled


def run(long: bool = LONG) -> Result:
    """Random programs of edits, writes and clears with cancellations; each case must hold."""
    result = Result("edit turns (many tasks, cancellations)")
    cases, calls = (2_000, 60) if long else (200, 25)
    hangs = cancels = lost = 0
    directory = Path(tempfile.mkdtemp(prefix="aiokv-turns-"))
    previous = signal.signal(signal.SIGALRM, _hung)
    try:
        with Timer(result):
            for seed in range(cases):
                path = directory / f"s{seed}.json"
                signal.setitimer(signal.ITIMER_REAL, ALARM, ALARM)
                try:
                    problems, hung, cancelled = asyncio.run(one_case(path, seed, calls))
                except Hung:
                    problems, hung, cancelled = [f"seed {seed}: hung, spinning"], True, 0
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                updates_lost = sum("landed under" in p for p in problems)
                hangs, cancels, lost = hangs + hung, cancels + cancelled, lost + updates_lost
                result.case(not problems, "; ".join(problems), lost=updates_lost)
                if hangs >= MAX_HANGS:
                    result.notes.append(f"stopped after {hangs} hangs, at case {seed + 1}")
                    break
    finally:
        signal.signal(signal.SIGALRM, previous)
        shutil.rmtree(directory, ignore_errors=True)
    result.notes.append(
        f"{result.cases:,} programs of 3-10 tasks x {calls} calls (edit blocks that await, "
        f"nest and write, set, update, incr, delete, get, clear, clear(prefix), through "
        f"namespaces too), {cancels:,} calls cancelled, {hangs} hangs, {lost} lost updates"
    )
    return result
