"""Hostile tests of the pieces read at open (pieces.read, the whole pieces, the byte search).

Everything goes through the public API on real files: after any sequence of
operations, flushes and reopens, the file read back with the standard
library's json equals the store's get_all(), in the same key order, with no
key twice, and nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from aiokv import AioKV, pieces
from tests.helpers import child, encoded_keys

VERSION_KEY = "__aiokv__"
QUIET = {"flush_delay": 3600, "max_flush_delay": 3600}

# Keys whose JSON form holds quotes, backslashes, escapes, or bytes that look
# like a member of another key (`,"k1":`), so the byte search for a key's
# member meets them in other keys and values.
HOSTILE_KEYS = [
    'k1":',
    '"',
    "\\",
    '\\"',
    "\x00",
    "\x1f",
    "\u2028",
    "😀",
    'a,"b":',
    ',"k2":',
    '":1,"k3',
    "é",
    "",
    " ",
    "k1\\",
]


def file_pairs(path: Path) -> list[tuple[str, Any]]:
    """The file's top-level members in order, read by the standard library, duplicates kept."""
    raw = path.read_bytes()
    top = json.loads(raw, object_pairs_hook=lambda members: members)
    loaded = json.loads(raw)  # the values as plain JSON
    return [(key, loaded[key]) for key, _ in top]


def assert_file_is(path: Path, state: dict[str, Any], version: int | None = None) -> None:
    """path holds exactly state (and its version record first), in order, each key once."""
    if not state:
        assert not path.exists(), "an empty store has no file"
        return
    pairs = file_pairs(path)
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"a key twice in the file: {len(keys) - len(set(keys))}"
    if version is not None:
        assert pairs[0] == (VERSION_KEY, {"version": version})
        pairs = pairs[1:]
    else:
        assert VERSION_KEY not in keys
    assert [k for k, _ in pairs] == list(state), "the file's key order is not the store's"
    assert dict(pairs) == state


def write_file(path: Path, state: dict[str, Any], writer: str, version: int | None) -> None:
    """A state file as another writer would make it (or as aiokv writes it)."""
    doc = ({VERSION_KEY: {"version": version}} if version else {}) | state
    if writer == "json.dump":
        path.write_text(json.dumps(doc))  # spaces after , and :, \\u escapes
    elif writer == "json.compact":
        path.write_bytes(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())
    elif writer == "orjson":
        path.write_bytes(orjson.dumps(doc))
    else:
        raise AssertionError(writer)


async def aiokv_file(path: Path, state: dict[str, Any], version: int | None) -> None:
    async with AioKV(path, version=version) as kv:
        await kv.update(state)


def start_state(n: int, hostile: bool = True, seed: int = 0) -> dict[str, Any]:
    """n plain keys and the hostile ones; a third of the values hold top-level keys."""
    rng = random.Random(seed)
    keys = [f"k{i}" for i in range(n)] + (HOSTILE_KEYS if hostile else [])
    state: dict[str, Any] = {}
    for i, key in enumerate(keys):
        if i % 3 == 0:
            # An object whose members are other keys of the store (and this one):
            # `,"<key>":` appears in the value's bytes too.
            state[key] = {k: i for k in rng.sample(keys, min(3, len(keys)))} | {key: [i]}
        else:
            state[key] = i
    return state


@pytest.fixture
def small_pieces(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tiny pieces and groups, few searches, a map built over few updates."""
    saved = pieces.PIECE_KEYS, pieces.GROUP_PIECES, pieces._SEARCHES, pieces._MAP_UPDATES
    pieces.PIECE_KEYS, pieces.GROUP_PIECES, pieces._SEARCHES, pieces._MAP_UPDATES = getattr(
        request, "param", (2, 3, 1, 8)
    )
    try:
        yield
    finally:
        pieces.PIECE_KEYS, pieces.GROUP_PIECES, pieces._SEARCHES, pieces._MAP_UPDATES = saved


# -- group boundaries, with the real sizes ------------------------------------------------


SIZES = [0, 1, 100, 1024, 1025, 2049]
# The file read as it is (aiokv's bytes), and one encoded anew (another writer's);
# write_file() also makes "json.compact" and "orjson" files, which read as one of those.
WRITERS = ["aiokv", "json.dump"]


async def open_and(path: Path, version: int | None, ops: str, n: int) -> dict[str, Any]:
    """Open path, apply ops right after the open, flush; return get_all()."""
    async with AioKV(path, version=version, **QUIET) as kv:
        every = list(await kv.keys())
        if ops == "delete first, last, boundaries":
            for i in (0, n - 1, 1023, 1024, 1025, 2047, 2048):
                await kv.delete(f"k{i}")
            await kv.delete(HOSTILE_KEYS[0])
        elif ops == "delete and set again":
            for key in every[:3] + every[-3:] + [f"k{n // 2}"]:
                await kv.delete(key)
                await kv.set(key, "again")
        elif ops == "set existing":
            await kv.update({key: {"new": key} for key in every[::97]})
        elif ops == "new keys":
            for i in range(7):
                await kv.set(f"new{i}", i)
        elif ops == "clear prefix":
            await kv.clear("k1")
        elif ops == "clear":
            await kv.clear()
        elif ops == "delete all":
            for key in every:
                await kv.delete(key)
        elif ops == "nothing":
            pass
        else:
            raise AssertionError(ops)
        await kv.flush()
        state = await kv.get_all()
        assert_file_is(path, state, version)
        return state


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("version", [None, 3])
@pytest.mark.parametrize(
    "ops",
    [
        "delete first, last, boundaries",
        "delete and set again",
        "set existing",
        "new keys",
        "clear prefix",
        "clear",
        "delete all",
        "nothing",
    ],
)
def test_ops_right_after_open_keep_the_file_the_store_at_group_boundaries(
    state: Path, n: int, writer: str, version: int | None, ops: str
) -> None:
    start = start_state(n)
    if writer == "aiokv":
        asyncio.run(aiokv_file(state, start, version))
    else:
        write_file(state, start, writer, version)

    async def main() -> None:
        after = await open_and(state, version, ops, n)
        # And across reopen: what was acknowledged is there, in the same order.
        async with AioKV(state, version=version, **QUIET) as kv:
            assert list((await kv.get_all()).items()) == list(after.items())
            await kv.set("one more", 1)
            after["one more"] = 1
        assert_file_is(state, after, version)

    asyncio.run(main())


# -- emptying the last group right after open ----------------------------------------------


async def last_group_file(path: Path, version: int | None) -> None:
    # 1024 keys fill the first group; the last group holds 100 keys under "tmp:",
    # read back as one whole piece (more than PIECE_KEYS keys).
    async with AioKV(path, version=version) as kv:
        await kv.update({f"keep{i}": i for i in range(1024)})
        await kv.update({f"tmp:{i}": i for i in range(100)})


@pytest.mark.parametrize("version", [None, 4])
def test_clear_prefix_of_the_whole_last_group_right_after_open(
    state: Path, version: int | None
) -> None:
    # Found: the split of the last group's whole piece leaves that group with
    # no pieces, and _append then reads self._groups[-1].pieces[-1]:
    # IndexError out of clear(), which promises True, or False and a log.
    asyncio.run(last_group_file(state, version))

    async def main() -> None:
        async with AioKV(state, version=version, **QUIET) as kv:
            assert await kv.clear("tmp:") is True
            expected = {f"keep{i}": i for i in range(1024)}
            assert_file_is(state, expected, version)

    asyncio.run(main())


@pytest.mark.parametrize("n", [65, 100, 1024])
def test_deleting_every_key_of_a_file_right_after_open_removes_it(state: Path, n: int) -> None:
    # The same defect with the whole store: a file of 65 to 1024 keys is one
    # whole piece; deleting every key, flush() raises IndexError (the retry
    # later removes the file, but the flush the caller awaited failed).
    asyncio.run(aiokv_file(state, {f"k{i}": i for i in range(n)}, None))

    async def main() -> None:
        async with AioKV(state, **QUIET) as kv:
            for i in range(n):
                await kv.delete(f"k{i}")
            await kv.flush()
            assert not state.exists()

    asyncio.run(main())


def test_deleting_the_last_group_then_adding_keys_right_after_open(state: Path) -> None:
    asyncio.run(last_group_file(state, None))

    async def main() -> None:
        async with AioKV(state, **QUIET) as kv:
            for i in range(100):
                await kv.delete(f"tmp:{i}")
            await kv.set("new", 1)
            await kv.flush()
            expected = {f"keep{i}": i for i in range(1024)} | {"new": 1}
            assert_file_is(state, expected)

    asyncio.run(main())


def test_aclose_after_replacing_a_whole_file_right_after_open(state: Path) -> None:
    # Found: aclose() raises IndexError, the file still holds the old keys and
    # the store stays open and dirty (only the exit hook, at interpreter exit,
    # writes the new state; a kill -9 before then loses deletions and a set
    # that the program had every reason to think were saved by aclose()).
    asyncio.run(aiokv_file(state, {f"k{i}": i for i in range(100)}, None))

    async def main() -> None:
        kv = AioKV(state, **QUIET)
        for i in range(100):
            await kv.delete(f"k{i}")
        await kv.set("new", 1)
        try:
            await kv.aclose()
        except IndexError:
            left = json.loads(state.read_bytes())
            await kv.aclose()  # a second close encodes everything anew, and succeeds
            raise AssertionError(
                f"aclose() raised IndexError; the file held {len(left)} keys"
            ) from None
        assert_file_is(state, {"new": 1})

    asyncio.run(main())


# -- a stateful model across many reopens, tiny pieces ------------------------------------

KEYS = st.sampled_from([f"k{i}" for i in range(12)] + HOSTILE_KEYS)
VALUES = st.one_of(
    st.integers(-3, 3),
    st.text(max_size=3),
    st.dictionaries(KEYS, st.integers(0, 2), max_size=3),  # objects holding the store's keys
    st.lists(st.integers(0, 2), max_size=2),
)


class ReopenedStore(RuleBasedStateMachine):
    """A store closed and opened again at random, checked against a dict after every flush."""

    path: Path
    version: int | None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.model: dict[str, Any] = {}
        self.kv: AioKV | None = None

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize(
        start=st.dictionaries(KEYS, VALUES, max_size=20),
        writer=st.sampled_from(["aiokv", "json.dump", "orjson"]),
        version=st.sampled_from([None, 2]),
    )
    def begin(self, start: dict[str, Any], writer: str, version: int | None) -> None:
        self.version = version
        if start:
            if writer == "aiokv":
                self.run(aiokv_file(self.path, start, version))
            else:
                write_file(self.path, start, writer, version)
        self.model = dict(start)
        self.open()

    def open(self) -> None:
        self.kv = AioKV(self.path, version=self.version, **QUIET)
        self.run(self.kv.__aenter__())

    @rule(key=KEYS, value=VALUES)
    def set(self, key: str, value: Any) -> None:
        assert self.kv is not None
        self.run(self.kv.set(key, value))
        self.model[key] = value

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        assert self.kv is not None
        self.run(self.kv.delete(key))
        self.model.pop(key, None)

    @rule(key=KEYS, value=VALUES)
    def delete_and_set_again(self, key: str, value: Any) -> None:
        assert self.kv is not None
        self.run(self.kv.delete(key))
        self.run(self.kv.set(key, value))
        self.model.pop(key, None)
        self.model[key] = value

    @rule(mapping=st.dictionaries(KEYS, VALUES, max_size=5))
    def update(self, mapping: dict[str, Any]) -> None:
        assert self.kv is not None
        self.run(self.kv.update(mapping))
        self.model.update(mapping)

    @rule(key=KEYS)
    def incr(self, key: str) -> None:
        assert self.kv is not None
        current = self.model.get(key, 0)
        if type(current) is not int:
            return
        assert self.run(self.kv.incr(key)) == current + 1
        self.model[key] = current + 1

    @rule(key=KEYS)
    def edit(self, key: str) -> None:
        assert self.kv is not None

        async def go() -> None:
            assert self.kv is not None
            async with self.kv.edit(key, {}) as value:
                if isinstance(value, dict):
                    value["k1"] = 1
                elif isinstance(value, list):
                    value.append(1)
                else:
                    raise LookupError

        try:
            self.run(go())
        except (LookupError, TypeError):
            return
        value = self.model.get(key, {})
        if isinstance(value, dict):
            self.model[key] = {**value, "k1": 1}
        elif isinstance(value, list):
            self.model[key] = [*value, 1]

    @rule(prefix=st.sampled_from(["", "k1", "k", '"', "\\", "a,"]))
    def clear(self, prefix: str) -> None:
        assert self.kv is not None
        assert self.run(self.kv.clear(prefix))
        self.model = {k: v for k, v in self.model.items() if not k.startswith(prefix)}
        assert_file_is(self.path, self.model, self.version)

    @rule(name=st.sampled_from(["g", 'k1":']), key=KEYS, value=st.integers(0, 3))
    def namespace_set(self, name: str, key: str, value: int) -> None:
        assert self.kv is not None
        self.run(self.kv.namespace(name).set(key, value))
        self.model[f"{name}:{key}"] = value

    @rule()
    def flush(self) -> None:
        assert self.kv is not None
        self.run(self.kv.flush())
        assert_file_is(self.path, self.model, self.version)

    @rule()
    def reopen(self) -> None:
        assert self.kv is not None
        self.run(self.kv.aclose())
        assert_file_is(self.path, self.model, self.version)
        self.open()

    @invariant()
    def store_is_the_model(self) -> None:
        if self.kv is not None:
            got = self.run(self.kv.get_all())
            assert list(got.items()) == list(self.model.items())

    def teardown(self) -> None:
        if self.kv is not None:
            self.run(self.kv.aclose())
            assert_file_is(self.path, self.model, self.version)
        self.loop.close()
        shutil.rmtree(self.path.parent, ignore_errors=True)


@pytest.mark.parametrize(
    "small_pieces", [(2, 3, 1, 8), (1, 2, 0, 3), (3, 2, 2, 2), (64, 16, 4, 32)], indirect=True
)
def test_a_store_reopened_at_random_always_has_its_file(
    tmp_path: Path, small_pieces: None
) -> None:
    counter = iter(range(10**9))

    class Machine(ReopenedStore):
        def __init__(self) -> None:
            directory = tmp_path / f"run{next(counter)}"
            directory.mkdir()
            self.path = directory / "state.json"
            super().__init__()

    Machine.TestCase.settings = settings(
        max_examples=int(os.environ.get("AIOKV_HOSTILE_EXAMPLES", "60")),
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Machine.TestCase().runTest()


# -- hostile members: a key's bytes inside other keys' values and names -------------------


@pytest.mark.parametrize("small_pieces", [(2, 3, 1, 8), (64, 16, 4, 32)], indirect=True)
@pytest.mark.parametrize("version", [None, 5])
def test_keys_hidden_in_values_never_fool_the_search(
    state: Path, small_pieces: None, version: int | None
) -> None:
    # Every value is an object holding every top-level key as a member, before
    # the real member in the file, so the first match of `,"<key>":` is in
    # another key's value, in another piece.
    keys = [f"k{i}" for i in range(40)] + HOSTILE_KEYS
    start = {key: {other: key for other in keys} for key in keys}
    asyncio.run(aiokv_file(state, start, version))
    model = dict(start)
    rng = random.Random(7)

    async def main() -> None:
        for _ in range(8):
            async with AioKV(state, version=version, **QUIET) as kv:
                for _ in range(3):
                    for key in rng.sample(keys, 6):
                        if rng.random() < 0.4:
                            await kv.delete(key)
                            model.pop(key, None)
                        else:
                            await kv.set(key, {key: 1})
                            model[key] = {key: 1}
                    await kv.flush()
                    assert_file_is(state, model, version)
            assert_file_is(state, model, version)

    asyncio.run(main())


# -- edits while a flush is under way ------------------------------------------------------


@pytest.mark.parametrize("small_pieces", [(2, 3, 1, 8), (64, 16, 4, 32)], indirect=True)
def test_changes_during_background_writes_after_open_reach_the_file(
    state: Path, small_pieces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiokv import storage

    real = storage.write

    def slow(*args: Any) -> int:
        time.sleep(0.003)
        return real(*args)

    monkeypatch.setattr(storage, "write", slow)
    n = 3000 if pieces.PIECE_KEYS == 64 else 60
    start = start_state(n, seed=1)
    asyncio.run(aiokv_file(state, start, None))
    model = dict(start)
    keys = list(start) + [f"new{i}" for i in range(20)]
    rng = random.Random(11)

    async def main() -> None:
        for _ in range(4):
            async with AioKV(state, flush_delay=0.001, max_flush_delay=0.002) as kv:
                for _ in range(300):
                    key, r = rng.choice(keys), rng.random()
                    if r < 0.3:
                        await kv.delete(key)
                        model.pop(key, None)
                    elif r < 0.5:
                        await kv.delete(key)
                        await asyncio.sleep(rng.choice([0, 0.002]))
                        await kv.set(key, r)
                        model.pop(key, None)
                        model[key] = r
                    else:
                        await kv.set(key, r)
                        model[key] = r
                    if rng.random() < 0.3:
                        await asyncio.sleep(rng.choice([0, 0.001, 0.004]))
                assert list((await kv.get_all()).items()) == list(model.items())
                await kv.flush()
                assert_file_is(state, model)
            assert_file_is(state, model)

    asyncio.run(main())


# -- migrations and quarantine: the open's pieces are not the file's ----------------------


@pytest.mark.parametrize("n", [0, 1, 1025])
def test_a_migrated_store_writes_the_migrated_state_and_then_its_changes(
    state: Path, n: int
) -> None:
    start = start_state(n)
    write_file(state, start, "json.dump", None)

    def migrate(old: int, data: dict[str, Any]) -> dict[str, Any]:
        assert old == 0
        return {"migrated": True} | {k: v for k, v in data.items() if k != "k0"}

    async def main() -> None:
        async with AioKV(state, version=2, migrate=migrate, **QUIET) as kv:
            model = await kv.get_all()
            assert_file_is(state, model, 2)
            await kv.delete("k1")
            model.pop("k1", None)
            await kv.set("k0", 0)
            model["k0"] = 0
            await kv.flush()
            assert_file_is(state, model, 2)
        async with AioKV(state, version=2, **QUIET) as kv:
            assert list((await kv.get_all()).items()) == list(model.items())
            await kv.delete("migrated")
            model.pop("migrated")
        assert_file_is(state, model, 2)

    asyncio.run(main())


def test_a_quarantined_file_opens_empty_and_the_new_state_is_written_whole(state: Path) -> None:
    # A file whose bytes start as aiokv's would, then break.
    good = orjson.dumps(start_state(1030))
    state.write_bytes(good[:-1] + b",}")

    async def main() -> None:
        async with AioKV(state, on_corrupt="quarantine", **QUIET) as kv:
            assert await kv.get_all() == {}
            await kv.update({"a": 1, "k1": 2})
        assert_file_is(state, {"a": 1, "k1": 2})
        assert len(list(state.parent.glob("state.json.corrupt-*"))) == 1

    asyncio.run(main())


# -- the `aiokv` command on a file opened from its bytes ----------------------------------

SCRIPT = shutil.which("aiokv", path=str(Path(sys.executable).parent)) or "aiokv"


def test_the_command_deletes_and_sets_in_a_large_file_keeping_it_the_store(state: Path) -> None:
    start = start_state(2049)
    asyncio.run(aiokv_file(state, start, None))

    def command(*args: str) -> None:
        done = subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    command("delete", str(state), "k1024")
    command("delete", str(state), 'k1":')
    command("set", str(state), "k0", '{"k1": 1, "k2": 2}')
    command("set", str(state), "k2048", "null")
    command("set", str(state), "brand new", "1")
    model = dict(start)
    del model["k1024"], model['k1":']
    model["k0"] = {"k1": 1, "k2": 2}
    model["k2048"] = None
    model["brand new"] = 1
    assert_file_is(state, model)


def test_the_command_load_replace_over_a_whole_last_group(state: Path, tmp_path: Path) -> None:
    # Found: `aiokv load FILE SOURCE --replace` over a file of 65 to 1024 keys
    # (or whose last group is all replaced) exits 70, "internal error, a bug
    # in aiokv (IndexError)", although the file was replaced (the close's retry
    # encodes everything anew): a script is told the load failed.
    asyncio.run(aiokv_file(state, {f"old{i}": i for i in range(100)}, None))
    source = tmp_path / "new.json"
    source.write_text('{"a": 1}')
    done = subprocess.run(
        [SCRIPT, "load", str(state), str(source), "--replace"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert_file_is(state, {"a": 1})


# -- kill -9 in the middle of flushes after open ------------------------------------------

KILLED_WRITER = """
import asyncio, sys
from aiokv import AioKV

async def main():
    async with AioKV(sys.argv[1], flush_delay=0.001, max_flush_delay=0.002) as kv:
        print("open", flush=True)
        i = 0
        while True:
            i += 1
            await kv.delete(f"k{(i * 37) % 3000}")
            await kv.set(f"k{(i * 53) % 3000}", {"k1": i, "i": i})
            await kv.set(f"n{i % 500}", i)
            if i % 50 == 0:
                await kv.flush()
                print(i, flush=True)

asyncio.run(main())
"""


def test_kill_9_during_flushes_after_open_leaves_a_whole_file(state: Path) -> None:
    asyncio.run(aiokv_file(state, start_state(3000, hostile=False), None))
    rng = random.Random(5)
    for _ in range(6):
        proc = child(KILLED_WRITER, str(state))
        assert proc.stdout is not None
        assert proc.stdout.readline() == "open\n", proc.stderr.read() if proc.stderr else ""
        flushed = 0
        deadline = time.monotonic() + rng.uniform(0.3, 1.0)
        while time.monotonic() < deadline:
            flushed = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
        # Whole, in the store's form, and at least as new as the last flush acknowledged.
        raw = state.read_bytes()
        loaded = json.loads(raw)
        assert orjson.dumps(loaded) == raw
        assert loaded[f"n{flushed % 500}"] >= flushed

        async def reopen(loaded: dict[str, Any]) -> None:
            async with AioKV(state, **QUIET) as kv:
                assert list((await kv.get_all()).items()) == list(loaded.items())
                await kv.set("after kill", 1)
                loaded["after kill"] = 1
            assert_file_is(state, loaded)

        asyncio.run(reopen(loaded))


# -- the first flushes after open are cheap ----------------------------------------------

BIG = 100_000


@pytest.fixture
def big_file(state: Path) -> Path:
    asyncio.run(aiokv_file(state, {f"k{i}": i for i in range(BIG)}, None))
    return state


@pytest.mark.parametrize(
    "change",
    ["one new key", "one set", "one delete", "four new keys", "four deletes in the last group"],
)
def test_the_first_flush_after_open_encodes_a_small_share(
    big_file: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    async def main() -> None:
        async with AioKV(big_file, **QUIET) as kv:
            counts = encoded_keys(monkeypatch)
            await apply(kv, change)
            await kv.flush()
            # 1/_MAP_UPDATES of the groups is split a flush, plus the changed pieces.
            assert sum(counts) < BIG // 8, f"{change}: {sum(counts)} keys encoded"
            monkeypatch.undo()

    asyncio.run(main())


async def apply(kv: AioKV, change: str) -> None:
    if change == "one new key":
        await kv.set("new", 1)
    elif change == "one set":
        await kv.set(f"k{BIG // 2}", -1)
    elif change == "one delete":
        await kv.delete(f"k{BIG // 2}")
    elif change == "four new keys":
        await kv.update({f"new{i}": i for i in range(4)})
    elif change == "four deletes in the last group":
        for i in range(4):
            await kv.delete(f"k{BIG - 1 - i}")
    elif change == "five new keys":
        await kv.update({f"new{i}": i for i in range(5)})
    elif change == "five deletes in the first groups":
        for i in range(5):
            await kv.delete(f"k{i * 997}")
    elif change == "five sets in five groups":
        await kv.update({f"k{10_000 + i * 18_000}": -1 for i in range(5)})
    else:
        raise AssertionError(change)


@pytest.mark.parametrize(
    "change",
    ["five new keys", "five deletes in the first groups", "five sets in five groups"],
)
def test_five_changes_right_after_open_do_not_re_encode_the_whole_state(
    big_file: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    # pieces.py: "A restarted program must not pay a full encode on its first
    # changes". Every key the map lacks costs a search of the bytes, a new
    # key (never found) or a key deleted from a group the update's slice
    # already split included; past _SEARCHES (4), the whole map is built at
    # once, which splits, so encodes, every whole piece: the whole state.
    async def main() -> None:
        async with AioKV(big_file, **QUIET) as kv:
            counts = encoded_keys(monkeypatch)
            await apply(kv, change)
            await kv.flush()
            assert sum(counts) < BIG // 2, f"{change}: {sum(counts)} of {BIG} keys encoded"
            monkeypatch.undo()

    asyncio.run(main())
