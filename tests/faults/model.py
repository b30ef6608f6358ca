"""Campaign 5: a Hypothesis state machine with restarts and crashes, against a dict.

Rules drive set / delete / update / incr / edit / clear, of the whole store
or of one namespace / flush / reopen / crash on a
real store, and a flush left running in the background (or held there until
a rule waits for it) while other rules go on (so reads and writes meet a
write in progress, with its frozen snapshot),
and flushes that fail (a real EFBIG from the kernel: the process's file size
limit is lowered for the write). Pieces of two keys (pieces.py) make every
flush after the first reuse most of the encoded state; after each flush the
file must hold exactly the store's state, in its order.
The model keeps the in-memory state and the durable state (as of the last
flush(), clear() or close). A crash drops the store without aclose()
(memory gone, lock freed as by the OS); after any reopen the store must equal
the model's durable state, and in between it must always equal the live model,
in the dict's order, in every listing (the store's and its namespaces').
"""

from __future__ import annotations

import asyncio
import errno
import resource
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import aiokv.exits
import aiokv.pieces
from aiokv import AioKV
from tests.faults.common import LONG, Result, Timer, json_values
from tests.helpers import held_disk_writes

# Plain keys, and keys of nested namespaces with neighbours a prefix test
# would confuse ("g:1" and "g:12").
keys = st.sampled_from(
    [f"k{i}" for i in range(8)] + ["g:1:a", "g:1:b", "g:2:a", "g:12:a", "g:1:x:y", "g:1"]
)
NAMESPACES = ["g", "g:1", "g:2", "g:1:x"]
values = json_values(8, 6)


class StoreMachine(RuleBasedStateMachine):
    """One store, one model; every step checked."""

    steps = 0  # checked steps, over all programs, for the report
    # While clear, a disk write waits, its snapshot frozen: start_flush(hold=True)
    # keeps it under way until a rule that waits for it lets it go (run() holds
    # the writes with held_disk_writes and puts its let_go here).
    let_go = threading.Event()

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="aiokv-model-"))
        self.path = self.dir / "state.json"
        self.loop = asyncio.new_event_loop()
        self.live: dict[str, Any] = {}
        self.durable: dict[str, Any] = {}
        self.pending: asyncio.Task[None] | None = None  # a flush still running
        self.pending_state: dict[str, Any] | None = None
        self.kv = self.open()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def open(self) -> AioKV:
        # No background flush: what is durable is exactly what the model says.
        kv = AioKV(self.path, flush_delay=3600, max_flush_delay=3600)
        self.run(kv.__aenter__())
        return kv

    @rule(key=keys, value=values)
    def set(self, key: str, value: Any) -> None:
        self.run(self.kv.set(key, value))
        self.live[key] = value

    @rule(key=keys)
    def delete(self, key: str) -> None:
        assert self.run(self.kv.delete(key)) is True
        self.live.pop(key, None)

    @rule(key=keys, value=values)
    def delete_and_set(self, key: str, value: Any) -> None:
        # A key stored again after its deletion, without a rule between
        # (while a held write runs, the two must meet it).
        self.delete(key)
        self.set(key, value)

    @rule(mapping=st.dictionaries(keys, values, max_size=4))
    def update(self, mapping: dict[str, Any]) -> None:
        self.run(self.kv.update(mapping))
        self.live.update(mapping)

    @rule(key=keys, by=st.integers(-1000, 1000))
    def incr(self, key: str, by: int) -> None:
        current = self.live.get(key, 0)
        if type(current) is not int or not -(2**63) <= current + by <= 2**64 - 1:
            return  # incr refuses these; test_store covers the refusals
        assert self.run(self.kv.incr(key, by)) == current + by
        self.live[key] = current + by

    @rule(key=keys, item=values)
    def edit(self, key: str, item: Any) -> None:
        current = self.live.get(key, [])
        if type(current) is not list:
            return  # edit() refuses scalars; test_edit covers the refusals

        async def append() -> None:
            async with self.kv.edit(key, default=[]) as value:
                value.append(item)

        self.run(append())
        self.live[key] = [*current, item]

    @rule(name=st.sampled_from(NAMESPACES))
    def clear_namespace(self, name: str) -> None:
        self.let_go.set()  # clear() waits for a write under way
        assert self.run(self.kv.namespace(name).clear()) is True
        self.live = {k: v for k, v in self.live.items() if not k.startswith(name + ":")}
        self.durable = dict(self.live)  # clear() flushes
        self.pending_state = None

    @rule()
    def clear(self) -> None:
        # Also while a flush runs: clear() waits for it, then removes the file.
        self.let_go.set()
        assert self.run(self.kv.clear()) is True
        self.live = {}
        self.durable = {}
        self.pending_state = None

    @precondition(lambda self: self.pending is None)
    @rule(hold=st.booleans())
    def start_flush(self, hold: bool) -> None:
        if hold:
            self.let_go.clear()
        self.pending = self.loop.create_task(self.kv.flush())
        self.pending_state = dict(self.live)
        self.run(asyncio.sleep(0))  # the write starts; the rules that follow meet it

    @precondition(lambda self: self.pending is not None)
    @rule()
    def finish_flush(self) -> None:
        assert self.pending is not None
        self.let_go.set()
        self.run(self.pending)
        if self.pending_state is not None:
            self.durable = self.pending_state
        self.pending = self.pending_state = None

    @rule()
    def flush(self) -> None:
        self.let_go.set()  # a flush shares a write under way
        self.run(self.kv.flush())
        self.durable = dict(self.live)
        self.pending_state = None  # newer than what a running flush() promised
        # The file is the state, in the store's order, from pieces reused or not.
        on_disk = orjson.loads(self.path.read_bytes()) if self.path.exists() else {}
        assert list(on_disk.items()) == list(self.run(self.kv.get_all()).items())

    @precondition(lambda self: self.pending is None)
    @rule()
    def failed_flush(self) -> None:
        # The kernel refuses to grow any file past 1 byte: the write fails
        # midway, the file keeps its last good version, the memory its changes.
        before = self.path.read_bytes() if self.path.exists() else None
        # Only a write fails: an empty state's flush removes the file instead.
        writes = self.kv.stats().dirty and bool(self.live)
        limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, limits[1]))
        try:
            self.run(self.kv.flush())
        except OSError as e:
            assert writes and e.errno == errno.EFBIG, e
            assert (self.path.read_bytes() if self.path.exists() else None) == before
        else:
            assert not writes
            self.durable = dict(self.live)
            self.pending_state = None
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        # The store retries by itself; the model says when writes happen.
        writes = self.kv._writes
        if writes.timer is not None:
            writes.timer.cancel()
            writes.timer = None

    @precondition(lambda self: self.pending is None)
    @rule()
    def reopen(self) -> None:
        self.run(self.kv.aclose())
        self.durable = dict(self.live)
        self.kv = self.open()
        assert list(self.run(self.kv.get_all()).items()) == list(self.durable.items())

    @precondition(lambda self: self.pending is None)
    @rule()
    def crash(self) -> None:
        # As a process death: memory and pending changes gone, the OS drops
        # the lock (what a forked child does with its parent's stores).
        aiokv.exits.disown(self.kv)
        self.live = dict(self.durable)
        self.kv = self.open()
        assert list(self.run(self.kv.get_all()).items()) == list(self.durable.items())

    @invariant()
    def matches_the_model(self) -> None:
        # In order too: the store's listings, its namespaces' and the file
        # keep a dict's order (a key deleted and stored again goes to the
        # end), whether a flush runs meanwhile or not.
        StoreMachine.steps += 1
        assert list(self.run(self.kv.get_all()).items()) == list(self.live.items())
        assert self.run(self.kv.keys()) == list(self.live)
        for name in NAMESPACES:
            prefix = name + ":"
            under = [k for k in self.live if k.startswith(prefix)]
            ns = self.kv.namespace(name)
            expected = [(k[len(prefix) :], self.live[k]) for k in under]
            assert list(self.run(ns.get_all()).items()) == expected
            assert self.run(ns.keys()) == [k for k, _ in expected]
            assert self.run(self.kv.keys(prefix)) == under

    def teardown(self) -> None:
        self.let_go.set()
        if self.pending is not None:
            self.run(self.pending)
        self.run(self.kv.aclose())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run(long: bool = LONG) -> Result:
    """Run the state machine for many example programs; count steps as cases."""
    result = Result("stateful model with restarts")
    examples = 3000 if long else 300
    case = StoreMachine.TestCase
    case.settings = settings(
        max_examples=examples,
        stateful_step_count=40,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    StoreMachine.steps = 0
    # Over a file size limit, the kernel sends SIGXFSZ (which would end the
    # process) before it fails the write with EFBIG.
    xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # Pieces of 2 keys in groups of 2 pieces: small programs use them all.
    saved = aiokv.pieces.PIECE_KEYS, aiokv.pieces.GROUP_PIECES
    held = pytest.MonkeyPatch()
    _, StoreMachine.let_go = held_disk_writes(held)
    aiokv.pieces.PIECE_KEYS = aiokv.pieces.GROUP_PIECES = 2
    with Timer(result):
        try:
            case().runTest()
            result.cases = result.survived = StoreMachine.steps
        except Exception as e:
            result.case(False, f"{type(e).__name__}: {e}")
        finally:
            aiokv.pieces.PIECE_KEYS, aiokv.pieces.GROUP_PIECES = saved
            held.undo()
            signal.signal(signal.SIGXFSZ, xfsz)
    result.notes.append(f"{examples} programs of up to 40 steps")
    return result
