"""Campaign 3: SIGKILL a writer at random moments, hundreds of times.

The writer applies a deterministic stream of set / delete / update operations
(seeded), each followed by a marker key "__op" holding the operation's index,
with explicit flushes now and then and the background flush running between.
A flush snapshot can only be taken where the writer yields, so every file on
disk must equal exactly the state after operation __op, which the parent
replays. After each kill: the file parses, equals a state the writer had, the
lock is free, and reopening leaves no temp file.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from aiokv import AioKV
from tests.faults.common import LONG, Result, Timer
from tests.helpers import ROOT, temp_files

WRITER = """
import asyncio, os, sys
from aiokv import AioKV
from tests.faults.kills import apply, operations

async def main(path, seed):
    async with AioKV(path, flush_delay=0.002, max_flush_delay=0.01) as kv:
        start = await kv.get("__op", 0)
        os.write(1, b"ready\\n")
        for n, op in operations(seed, start):
            await apply(kv, op)
            await kv.set("__op", n)
            if n % 11 == 0:
                os.write(1, b"F")   # an explicit flush starts
                await kv.flush()
                os.write(1, b"f")   # and is done
            await asyncio.sleep(0)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def operations(seed: int, start: int) -> Any:
    """Operation n+1, n+2, ... after start: the same list for the same seed."""
    n = start
    while True:
        n += 1
        rng = random.Random(seed * 1_000_003 + n)
        kind = rng.choice(["set", "set", "delete", "update"])
        if kind == "set":
            op: tuple[Any, ...] = ("set", f"k{rng.randrange(300)}", [n, "x" * rng.randrange(40)])
        elif kind == "delete":
            op = ("delete", f"k{rng.randrange(300)}")
        else:
            op = ("update", {f"k{rng.randrange(300)}": {"n": n, "i": i} for i in range(20)})
        yield n, op


async def apply(kv: Any, op: tuple[Any, ...]) -> None:
    """Apply one operation to an AioKV (or a DictKV model)."""
    if op[0] == "set":
        await kv.set(op[1], op[2])
    elif op[0] == "delete":
        await kv.delete(op[1])
    else:
        await kv.update(op[1])


class DictKV:
    """The model the parent replays operations on."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = dict(state)

    async def set(self, key: str, value: Any) -> None:
        self.state[key] = value

    async def delete(self, key: str) -> None:
        self.state.pop(key, None)

    async def update(self, mapping: dict[str, Any]) -> None:
        self.state.update(mapping)


def replay(start: dict[str, Any], seed: int, upto: int) -> dict[str, Any]:
    """The writer's state after operation upto, from the state it started with."""
    model = DictKV(start)
    first = start.get("__op", 0)

    async def go() -> None:
        if upto == first:
            return
        for n, op in operations(seed, first):
            await apply(model, op)
            model.state["__op"] = n
            if n == upto:
                return

    asyncio.run(go())
    return model.state


def run(long: bool = LONG) -> Result:
    """Kill the writer 1,000 times (long) or for ~60 s (CI), checking each file."""
    result = Result("kill -9 at random moments")
    kills = 1000 if long else 300
    budget = 3600.0 if long else 40.0
    rng = random.Random(0xC0FFEE)
    directory = Path(tempfile.mkdtemp(prefix="aiokv-kills-"))
    path = directory / "state.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    in_flush = 0
    with_temp = 0
    try:
        with Timer(result):
            deadline = time.monotonic() + budget
            for seed in range(kills):
                if time.monotonic() > deadline:
                    result.notes.append(f"stopped at the {budget:.0f} s time bound")
                    break
                start = orjson.loads(path.read_bytes()) if path.exists() else {}
                proc = subprocess.Popen(
                    [sys.executable, "-c", WRITER, str(path), str(seed)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=env,
                )
                assert proc.stdout is not None
                if proc.stdout.readline() != b"ready\n":
                    result.case(
                        False, f"kill {seed}: writer did not start: {proc.stderr.read()!r}"
                    )  # type: ignore[union-attr]
                    proc.kill()
                    proc.wait()
                    continue
                time.sleep(rng.uniform(0.0, 0.15))
                proc.send_signal(signal.SIGKILL)
                marks = proc.stdout.read()
                proc.wait()
                if marks.rfind(b"F") > marks.rfind(b"f"):
                    in_flush += 1
                if temp_files(directory):
                    with_temp += 1
                problems, corrupt = check_after_kill(path, start, seed)
                result.case(not problems, f"kill {seed}: {'; '.join(problems)}", corrupt=corrupt)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result.notes.append(
        f"{in_flush} kills landed inside an explicit flush(); "
        f"{with_temp} left a temp file mid-write (removed at the next open)"
    )
    return result


def check_after_kill(path: Path, start: dict[str, Any], seed: int) -> tuple[list[str], int]:
    """What is wrong with the file a killed writer left (and whether it is corrupt)."""
    problems: list[str] = []
    if not path.exists():
        return ([] if not start else ["the file disappeared"]), 0
    raw = path.read_bytes()
    try:
        on_disk = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return [f"the file does not parse: {e}"], 1
    upto = on_disk.get("__op", 0)
    if upto < start.get("__op", 0):
        problems.append(f"the file went back in time: op {upto} < {start.get('__op')}")
    elif on_disk != replay(start, seed, upto):
        return [f"the file is not the state after op {upto}"], 1

    async def reopen() -> None:
        async with AioKV(path) as kv:
            if await kv.get_all() != on_disk:
                problems.append("reopening read something else")

    asyncio.run(reopen())
    if temp_files(path.parent):
        problems.append("temp files survived a reopen")
    return problems, 0
