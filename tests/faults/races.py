"""Campaign 8: the lifecycle under races, from other threads and forked children.

Part 1, tasks. Many tasks write at random (set, update, incr, delete, clear
while no edit is under way, edit() blocks that await inside, now and then a
hostile value that must be refused) while others call flush() and aclose()
and cancel tasks at random moments. An operation on an open
store changes memory the moment it is called, so each task logs its call
just before awaiting it and drops the entry if the call is refused with
ClosedError. After the final close the file, reopened, must equal the log
replayed: every write that returned normally is on disk, none that raised is.

Part 2, threads. A second thread reads while the loop writes: every read
gives a value that was set at some time, and the final file equals the
last value of every key.

Part 3, forks. A child forked at a random moment while the parent's loop
(in a thread) writes must be refused by the store it inherited and exit
normally without touching the file: the parent's final file equals its
state, whatever the child did.
"""

from __future__ import annotations

import asyncio
import enum
import json
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiokv import AioKV, ClosedError
from tests.faults.common import LONG, Result, Timer
from tests.helpers import run_child

# Values a store must refuse at set(), whatever else is going on.
HOSTILE_KINDS = ("too deep", "cycle", "enum inside", "huge int inside", "nan inside")


def hostile(rng: random.Random) -> Any:
    """A value set() must refuse."""
    kind = rng.choice(HOSTILE_KINDS)
    if kind == "too deep":
        value: Any = []
        for _ in range(254 + rng.randrange(50)):
            value = [value]
        return value
    if kind == "cycle":
        loop: list[Any] = [1]
        loop.append({"back": loop})
        return loop
    if kind == "enum inside":
        level = enum.IntEnum("Level", "LOW HIGH")
        return {"ok": 1, "level": [level.LOW]}
    if kind == "huge int inside":
        return {"n": [2**64 + rng.randrange(1000)]}
    return {"x": [1.5, float("nan")]}


def deep_but_fine(rng: random.Random) -> Any:
    """A value nested to the very limit a store accepts."""
    value: Any = {"leaf": rng.randrange(100)}
    for _ in range(252):
        value = [value]
    return value


def replay(log: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The state a log of applied operations leaves."""
    state: dict[str, Any] = {}
    for op, *args in log:
        if op == "set":
            state[args[0]] = args[1]
        elif op == "update":
            state.update(args[0])
        elif op == "incr":
            state[args[0]] = state.get(args[0], 0) + args[1]
        elif op == "delete":
            state.pop(args[0], None)
        else:
            state.clear()
    return state


async def one_program(path: Path, seed: int) -> list[str]:
    """Run one random program; return what went wrong (nothing, if it held)."""
    rng = random.Random(seed)
    problems: list[str] = []
    log: list[tuple[Any, ...]] = []
    kv = AioKV(path, flush_delay=rng.choice([0, 0.001, 0.01]), max_flush_delay=0.02, fsync=False)
    pad = {f"pad{i}": "x" * 20 for i in range(rng.choice([10, 5_000, 30_000]))}
    log.append(("update", pad))
    await kv.update(pad)
    keys = [f"k{i}" for i in range(12)]
    editing = 0  # edit() blocks under way

    async def writer(n: int) -> None:
        nonlocal editing
        wrng = random.Random(seed * 100 + n)
        counter = f"n{n}"  # only this writer's incr touches it
        while True:
            r = wrng.random()
            key = wrng.choice(keys)
            entry: tuple[Any, ...]
            if r < 0.45:
                value = deep_but_fine(wrng) if wrng.random() < 0.02 else [n, wrng.randrange(99)]
                entry, call = ("set", key, value), kv.set(key, value)
            elif r < 0.6:
                batch = {key: n, wrng.choice(keys): {"by": n}}
                entry, call = ("update", batch), kv.update(batch)
            elif r < 0.75:
                entry, call = ("incr", counter, 1), kv.incr(counter)
            elif r < 0.88:
                entry, call = ("delete", key), kv.delete(key)
            elif r < 0.9:
                if editing:
                    # clear() would wait for the edits to end: it is logged
                    # at its call, so it runs only when none is under way
                    # (test_namespace covers clear() meeting an edit).
                    continue
                entry, call = ("clear",), kv.clear()
            elif r < 0.95:
                # edit() keys are apart: a write to a key being edited waits
                # for the edit, so logging at the call would misorder it.
                edit_key = f"e{wrng.randrange(3)}"
                edited: tuple[Any, ...] | None = None
                editing += 1
                try:
                    async with kv.edit(edit_key, default=[]) as items:
                        await asyncio.sleep(wrng.choice([0, 0.0005]))
                        items.append([n, wrng.randrange(99)])
                        del items[:-8]
                        edited = ("set", edit_key, json.loads(json.dumps(items)))
                        log.append(edited)  # stored as the block ends, at once
                except ClosedError:
                    if edited is not None:  # refused as the block ended
                        assert log[-1] is edited
                        log.pop()
                    return
                finally:
                    editing -= 1
                continue
            else:
                bad = hostile(wrng)
                try:
                    await kv.set(key, bad)
                except (TypeError, ValueError):
                    pass
                except ClosedError:
                    return
                else:
                    problems.append(f"seed {seed}: a hostile value was accepted")
                continue
            log.append(entry)
            try:
                await call
            except ClosedError:
                # Refused before it changed anything, and before any other
                # task could log: the entry is still the last one.
                assert log[-1] is entry
                log.pop()
                return
            await asyncio.sleep(wrng.choice([0, 0, 0.0005]))

    async def flusher() -> None:
        while True:
            await asyncio.sleep(rng.uniform(0, 0.01))
            try:
                await kv.flush()
            except ClosedError:
                return

    tasks = [asyncio.create_task(writer(n)) for n in range(rng.randrange(3, 9))]
    tasks.append(asyncio.create_task(flusher()))
    for _ in range(rng.randrange(1, 6)):
        await asyncio.sleep(rng.uniform(0, 0.02))
        victim = rng.choice(tasks)
        victim.cancel()  # a cancelled write either happened or never began
    closer = asyncio.create_task(kv.aclose())
    if rng.random() < 0.3:
        await asyncio.sleep(rng.uniform(0, 0.003))
        closer.cancel()  # the close is abandoned: the store stays open
    await asyncio.gather(closer, return_exceptions=True)
    await asyncio.sleep(rng.uniform(0, 0.01))
    await kv.aclose()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            problems.append(f"seed {seed}: a task raised {outcome!r}")
    async with AioKV(path) as again:
        on_disk = await again.get_all()
    expected = replay(log)
    if on_disk != expected:
        missing = {k for k in expected if on_disk.get(k) != expected[k]}
        extra = set(on_disk) - set(expected)
        problems.append(
            f"seed {seed}: file differs from the acknowledged writes: {missing=} {extra=}"
        )
    return problems


THREAD_READER = """
import asyncio, json, sys, threading
from aiokv import AioKV

async def main(path, seed):
    import random
    rng = random.Random(seed)
    async with AioKV(path, flush_delay=0.001, max_flush_delay=0.005) as kv:
        await kv.set("k", {"v": 0})
        seen, stop = [], threading.Event()
        def reader():
            while not stop.is_set():
                coro = kv.get("k")
                try:
                    coro.send(None)
                except StopIteration as done:
                    seen.append(done.value["v"])
        thread = threading.Thread(target=reader)
        thread.start()
        for v in range(1, 3000):
            await kv.set("k", {"v": v})
            if rng.random() < 0.1:
                await asyncio.sleep(0)
        stop.set()
        thread.join()
        print(json.dumps({"seen": len(seen), "ordered": seen == sorted(seen),
                          "last": (await kv.get("k"))["v"]}))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""

FORKER = """
import asyncio, json, os, random, sys, threading, time
from aiokv import AioKV, ClosedError
from tests.helpers import loop_in_a_thread

on_loop = loop_in_a_thread()
kv = AioKV(sys.argv[1], flush_delay=0.001, max_flush_delay=0.005)
rng = random.Random(int(sys.argv[2]))
on_loop(kv.__aenter__())  # open before any fork
state = {}

async def write(n):
    for i in range(n):
        await kv.set(f"k{i % 50}", i)
        state[f"k{i % 50}"] = i
        if i % 7 == 0:
            await asyncio.sleep(0)

writing = threading.Thread(target=on_loop, args=(write(5000),), daemon=True)
writing.start()
time.sleep(rng.uniform(0, 0.05))
pid = os.fork()
if pid == 0:
    try:
        asyncio.run(kv.set("child", 1))
        print("child wrote", flush=True)
    except ClosedError:
        pass
    sys.exit(0)
os.waitpid(pid, 0)
writing.join()
on_loop(kv.aclose())
print(json.dumps(state))
"""


def run(long: bool = LONG) -> Result:
    """Random task programs, thread readers and forks; each case must hold."""
    result = Result("lifecycle races (tasks, threads, forks)")
    programs, threads, forks = (2_000, 50, 200) if long else (150, 5, 20)
    directory = Path(tempfile.mkdtemp(prefix="aiokv-races-"))
    try:
        with Timer(result):
            for seed in range(programs):
                path = directory / f"s{seed}.json"
                problems = asyncio.run(one_program(path, seed))
                result.case(not problems, "; ".join(problems), lost=len(problems))
            for seed in range(threads):
                path = directory / f"t{seed}.json"
                done = run_child(THREAD_READER, str(path), str(seed), timeout=120)
                ok = done.returncode == 0
                if ok:
                    report = json.loads(done.stdout)
                    ok = report["ordered"] and report["last"] == 2999
                    ok = ok and json.loads(path.read_bytes()) == {"k": {"v": 2999}}
                result.case(ok, f"thread seed {seed}: {done.stdout.strip()} {done.stderr[-300:]}")
            for seed in range(forks):
                path = directory / f"f{seed}.json"
                done = run_child(FORKER, str(path), str(seed), timeout=120)
                ok = done.returncode == 0 and "child wrote" not in done.stdout
                ok = ok and json.loads(path.read_bytes()) == json.loads(done.stdout)
                result.case(ok, f"fork seed {seed}: {done.stdout[-200:]} {done.stderr[-300:]}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result.notes.append(
        f"{programs:,} task programs (3-8 writers, a flusher, random cancels and "
        f"closes, hostile values among the writes), {threads} thread readers, {forks} forks"
    )
    return result
