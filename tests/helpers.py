"""What the tests share: reading files independently of aiokv, child processes, loops."""

from __future__ import annotations

import asyncio
import copy
import json
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def read_json(path: Path) -> Any:
    """Read a state file with the standard library, independently of aiokv."""
    return json.loads(path.read_bytes())


def temp_files(directory: Path) -> list[str]:
    """aiokv temp files left in directory."""
    return sorted(n for n in os.listdir(directory) if n.endswith(".aiokv-tmp"))


def child(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start a Python child running code (dedented) with args in sys.argv[1:]."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def run_child(code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a Python child to the end and return its output."""
    proc = child(code, *args)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def loop_in_a_thread() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run an event loop in a daemon thread, as some bots do; return a runner for it.

    The runner runs a coroutine on that loop and waits for its result. A
    process whose loop lives in a thread can fork: the child has only the
    forking thread, so it never runs the parent's loop (asyncio forbids that).
    """
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def on_loop(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    return on_loop


def slow_disk_writes(
    monkeypatch: Any, seconds: float = 0.2, only_first: bool = False
) -> threading.Event:
    """Make every disk write of a store take seconds; the event is set when one starts.

    The real write still happens: this only holds a write under way (its
    snapshot frozen) long enough for a test to act meanwhile. only_first:
    the writes after the first take no longer than usual.
    """
    from aiokv import storage

    real = storage.write
    writing = threading.Event()

    def slow_write(path: str, snapshot: dict[str, Any], *rest: Any) -> int:
        first = not writing.is_set()
        writing.set()
        if first or not only_first:
            time.sleep(seconds)
        return real(path, snapshot, *rest)

    monkeypatch.setattr(storage, "write", slow_write)
    return writing


def held_disk_writes(
    monkeypatch: Any, name: str = "write"
) -> tuple[threading.Event, threading.Event]:
    """While let_go is clear, a call of storage.<name> waits: (started, let_go).

    storage.write by default: a store's disk write then stays under way, its
    snapshot frozen, for as long as the test needs, with no sleep (unlike
    slow_disk_writes). The real call runs once let_go is set (it starts set).
    Set let_go before the store closes (in a finally: a failed check would
    otherwise leave aclose() waiting for the held write).
    """
    from aiokv import storage

    real = getattr(storage, name)
    started, let_go = threading.Event(), threading.Event()
    let_go.set()

    def held(*args: Any) -> Any:
        started.set()
        let_go.wait()
        return real(*args)

    monkeypatch.setattr(storage, name, held)
    return started, let_go


@dataclass
class DiskWrite:
    """One disk write of a store, as recorded_disk_writes saw it."""

    started: float  # time.monotonic()
    ended: float = math.inf  # inf while under way
    state: dict[str, Any] | None = None  # a deep copy of the state it was given, as it ended


def recorded_disk_writes(monkeypatch: Any) -> list[DiskWrite]:
    """Every disk write of a store from now on, in the order they start.

    The real write still happens. A write is in the list once it starts, its
    state once it ends: a change that leaked into the snapshot under way is in
    it. Call it after slow_disk_writes or held_disk_writes, to see and time the
    whole write, its wait included.
    """
    from aiokv import storage

    real = storage.write
    writes: list[DiskWrite] = []

    def recording(path: str, state: dict[str, Any], *rest: Any) -> int:
        write = DiskWrite(time.monotonic())
        writes.append(write)
        try:
            return real(path, state, *rest)
        finally:
            write.state = copy.deepcopy(state)
            write.ended = time.monotonic()

    monkeypatch.setattr(storage, "write", recording)
    return writes


def encoded_keys(monkeypatch: Any) -> list[int]:
    """The number of keys of every encode from now on (the real encode still runs)."""
    from aiokv import codec

    counts: list[int] = []
    real = codec.encode

    def counting(state: dict[str, Any]) -> bytes:
        counts.append(len(state))
        return real(state)

    monkeypatch.setattr(codec, "encode", counting)
    return counts
