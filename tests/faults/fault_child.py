"""The writer that the syscall-fault campaign injects faults into (run as a child).

python -m tests.faults.fault_child PATH

It reads one JSON command per line. For each: it brings the store to a known
good state, says "ready", waits for SIGUSR1 (the parent has attached strace
with a fault), writes under the fault, signals the parent with SIGUSR1, waits
for SIGUSR1 again (strace detached), recovers, and prints one JSON result.
While the fault is active it makes no syscall of its own beyond the store's:
log records are kept in memory and nothing is printed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

import aiokv.pieces
from aiokv import AioKV

# One piece a buffer: the file is written by one writev() per 1,024 buffers,
# and with groups of 16 pieces only a state of over a million keys would
# take two calls; with one piece a group, 80,000 keys do.
aiokv.pieces.GROUP_PIECES = 1

signals = 0


def on_usr1(signum: int, frame: object) -> None:
    global signals
    signals += 1


class Memory(logging.Handler):
    """Keeps the aiokv logger's records without writing them anywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def wait_signal(count: int) -> None:
    # Polling, not the loop's signal wakeup fd: that fd is written with
    # write(), which may be the very syscall under fault.
    while signals < count:
        await asyncio.sleep(0.002)


def base(size: int) -> dict[str, Any]:
    return {"round": 0, **{f"k{i}": {"i": i, "s": "x" * (i % 5)} for i in range(size)}}


def describe(e: BaseException | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "type": type(e).__name__,
        "errno": getattr(e, "errno", None),
        "filename": getattr(e, "filename", None),
        "text": str(e),
    }


async def run_case(kv: AioKV, memory: Memory, cmd: dict[str, Any]) -> dict[str, Any]:
    global signals
    await kv.clear()  # a known state: nothing left from the previous case
    await kv.update(base(cmd["size"]))
    await kv.flush()
    memory.messages.clear()
    signals = 0
    print(orjson.dumps({"ready": True}).decode(), flush=True)
    await wait_signal(1)
    out: dict[str, Any] = {"op": cmd["op"]}
    if cmd["op"] == "clear":
        out["clear_under_fault"] = await kv.clear()
    else:
        rounds = 0
        for rounds in range(1, cmd["rounds"] + 1):
            await kv.set("round", rounds)
            for _ in range(250):  # the background flush runs within ~10 ms
                await asyncio.sleep(0.002)
                if memory.messages or not kv.stats().dirty:
                    break
            if memory.messages:
                break
        out["rounds"] = rounds
        try:
            await kv.flush()
        except OSError as e:
            out["flush_error"] = describe(e)
        try:
            await kv.aclose()
        except OSError as e:
            out["close_error"] = describe(e)
        else:
            out["closed_under_fault"] = True
    out["logged"] = list(memory.messages)
    os.kill(os.getppid(), signal.SIGUSR1)
    await wait_signal(2)
    if cmd["op"] == "clear":
        out["clear_after"] = await kv.clear()
        out["state"] = await kv.get_all()
    elif out.get("closed_under_fault"):
        out["state"] = None  # aclose() returned: everything was already durable
    else:
        await kv.flush()
        out["state"] = await kv.get_all()
    return out


async def main(path: str) -> None:
    signal.signal(signal.SIGUSR1, on_usr1)
    # The parent blocks SIGUSR1 to sigwait() for it, and children inherit masks.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
    memory = Memory()
    logging.getLogger("aiokv").addHandler(memory)
    loop = asyncio.get_running_loop()
    # One worker thread: strace counts a syscall's occurrences per thread
    # (per tracee), so a "from the Nth call on" fault only means what it
    # says when every write runs on the same thread.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    kv = None
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if kv is None or kv.stats().state == "closed":
            # aclose() succeeded under the fault (it came later): a new opener.
            kv = await AioKV(path, flush_delay=0.005, max_flush_delay=0.02).__aenter__()
        result = await run_case(kv, memory, orjson.loads(line))
        print(orjson.dumps(result).decode(), flush=True)
    if kv is not None:
        await kv.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
