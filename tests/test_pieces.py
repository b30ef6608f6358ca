"""The encoded state in pieces: always the dict's exact encoding, re-encoding only what changed."""

from __future__ import annotations

import asyncio
import gc
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiokv import AioKV, codec, fileformat, piece, pieces
from aiokv.changelog import ChangeLog
from aiokv.pieces import Pieces
from tests.helpers import encoded_keys, slow_disk_writes


def joined(p: Pieces) -> bytes:
    return b"{" + b"".join(p.bodies())[1:] + b"}"


class Tracked:
    """A dict and its change log, kept as the store keeps them (changelog.py)."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.log = ChangeLog()

    def set(self, key: str, value: Any) -> None:
        self.state[key] = value
        self.log.stored(key)

    def delete(self, key: str) -> None:
        if key in self.state:
            del self.state[key]
            self.log.left_dict([key])

    def update(self, p: Pieces) -> None:
        p.update(self.state, *self.log.take())


OPS = st.lists(
    st.tuples(st.sampled_from(["set", "set", "delete"]), st.integers(0, 30), st.integers(0, 9)),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(OPS, min_size=1, max_size=6),
    st.sampled_from([1, 2, 3, 64]),
    st.sampled_from([1, 2, 3, 16]),
)
def test_pieces_always_encode_the_dict_exactly_in_its_order(
    rounds: list[list[tuple[str, int, int]]], size: int, group: int
) -> None:
    saved = pieces.PIECE_KEYS, pieces.GROUP_PIECES
    pieces.PIECE_KEYS, pieces.GROUP_PIECES = size, group
    try:
        tracked, p = Tracked(), Pieces()
        for ops in rounds:
            for op, key, value in ops:
                if op == "set":
                    tracked.set(f"k{key}", value)
                else:
                    tracked.delete(f"k{key}")
            tracked.update(p)
            assert joined(p) == orjson.dumps(tracked.state)  # bytes, so order too
            assert all(body.startswith(b",") for body in p.bodies())
    finally:
        pieces.PIECE_KEYS, pieces.GROUP_PIECES = saved


def test_a_flush_re_encodes_only_the_pieces_whose_keys_changed(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 20_000

    async def main() -> None:
        async with AioKV(state, flush_delay=3600, max_flush_delay=3600) as kv:
            await kv.update({f"k{i}": {"i": i} for i in range(n)})
            counts = encoded_keys(monkeypatch)
            await kv.flush()
            assert sum(counts) == n  # the first flush encodes everything, a piece a call
            assert max(counts) == pieces.PIECE_KEYS
            counts.clear()
            await kv.set("k7", "changed")
            await kv.flush()
            assert counts == [pieces.PIECE_KEYS]  # one change: one piece
            counts.clear()
            # Scattered changes: at most their own pieces.
            rng = random.Random(7)
            changed = rng.sample(range(n), 100)
            await kv.update({f"k{i}": -i for i in changed})
            await kv.delete("k1")
            await kv.set("new", True)
            await kv.flush()
            touched = {i // pieces.PIECE_KEYS for i in [*changed, 1, n - 1]}
            assert len(counts) == len(touched)
            assert sum(counts) < pieces.PIECE_KEYS * len(touched)
            on_disk = orjson.loads(state.read_bytes())
            assert list(on_disk.items()) == list((await kv.get_all()).items())

    asyncio.run(main())


@pytest.mark.parametrize("version", [None, 3])
def test_a_reopened_store_encodes_each_key_once_at_open_and_then_only_what_changed(
    state: Path, monkeypatch: pytest.MonkeyPatch, version: int | None
) -> None:
    # A restarted program's first flushes must not encode the state again:
    # the open's exactness check encodes it once, and its pieces are kept.
    n = 20_000
    whole = pieces.PIECE_KEYS * pieces.GROUP_PIECES

    async def main() -> None:
        async with AioKV(state, version=version) as kv:
            await kv.update({f"k{i}": {"i": i} for i in range(n)})
        counts = encoded_keys(monkeypatch)
        async with AioKV(state, version=version, flush_delay=3600, max_flush_delay=3600) as kv:
            head = version is not None  # the version record, encoded alone
            assert sum(counts) == n + head and max(counts) == whole  # a group a call
            for round in range(3):
                counts.clear()
                await kv.set("k5", round)
                await kv.flush()
                # One change: its piece, and at most its group's keys (split
                # into pieces) and the group the key map's share splits.
                assert 0 < sum(counts) <= pieces.PIECE_KEYS + 2 * whole + head
            on_disk = orjson.loads(state.read_bytes())
            assert on_disk.pop(codec.VERSION_KEY, None) == (
                {"version": version} if version else None
            )
            assert list(on_disk.items()) == list((await kv.get_all()).items())

    asyncio.run(main())


def test_a_key_deleted_and_stored_again_goes_to_the_end_in_the_file_as_in_the_store(
    state: Path,
) -> None:
    async def main() -> None:
        async with AioKV(state, flush_delay=3600, max_flush_delay=3600) as kv:
            await kv.update({"a": 1, "b": 2, "c": 3})
            await kv.flush()
            await kv.delete("a")
            await kv.set("a", 4)
            await kv.set("b", 5)  # stored again without a delete: keeps its place
            await kv.flush()
            assert list(await kv.keys()) == ["b", "c", "a"]
            assert state.read_bytes() == b'{"b":5,"c":3,"a":4}'

    asyncio.run(main())


def test_clear_during_a_write_leaves_no_stale_piece(state: Path) -> None:

    async def main(writing: Any) -> None:
        async with AioKV(state, flush_delay=3600, max_flush_delay=3600) as kv:
            await kv.update({f"k{i}": i for i in range(200)})
            flushing = asyncio.ensure_future(kv.flush())
            await asyncio.to_thread(writing.wait)
            await kv.clear()  # while the write encodes the old keys
            await flushing
            await kv.set("only", 1)
            await kv.flush()
            assert state.read_bytes() == b'{"only":1}'

    with pytest.MonkeyPatch.context() as mp:
        asyncio.run(main(slow_disk_writes(mp)))


def test_what_pieces_keep_per_key_is_invisible_to_the_garbage_collector() -> None:
    # A collector's pass walks every reference of every tracked container,
    # holding the GIL: per-key lists or dicts of objects would make each
    # pass, in any thread, walk a million references more at 1M keys.
    tracked = Tracked()
    for i in range(5_000):
        tracked.set(f"k{i}", {"n": i})
    p = Pieces()
    tracked.update(p)  # builds the pieces
    tracked.set("k7", 0)
    tracked.delete("k9")
    tracked.set("new", 1)
    tracked.update(p)  # maps their keys, changes, merges
    gc.collect()
    kept = [*p._keys.shards, *(piece.keys for group in p._groups for piece in group.pieces)]
    assert len(kept) > 1024 + 5_000 // pieces.PIECE_KEYS
    assert not any(gc.is_tracked(obj) for obj in kept)
    assert joined(p) == orjson.dumps(tracked.state)


def test_the_key_map_is_built_a_slice_an_update_and_then_finds_every_key() -> None:
    # The first update encodes; each later one maps a share of the keys (a
    # changed key the map lacks meanwhile is searched for in the bytes).
    tracked, p = Tracked(), Pieces()
    for i in range(1_000):
        tracked.set(f"k{i}", i)
    tracked.update(p)
    assert not len(p._keys)
    mapped = []
    for i in range(pieces._MAP_UPDATES):
        tracked.set(f"k{i * 7}", -i)
        tracked.update(p)
        mapped.append(len(p._keys))
        assert joined(p) == orjson.dumps(tracked.state)
    assert mapped == sorted(mapped) and mapped[0] < 1_000 // 2 and mapped[-1] == 1_000
    tracked.delete("k500")
    tracked.update(p)
    assert len(p._keys) == 999
    assert joined(p) == orjson.dumps(tracked.state)


def file_of(state: dict[str, Any], version: int | None) -> tuple[bytes, int]:
    """state's file as aiokv writes it, and where its first member's comma (or `{`) is."""
    raw = b"".join(fileformat.frame([piece.members(state)] if state else [], version))
    return raw, raw.index(b",") if version else 0


# Values that hold objects whose members are the store's own keys: the bytes
# of a key's member also appear inside other keys' values.
VALUES = st.one_of(
    st.integers(0, 9),
    st.dictionaries(st.sampled_from([f"k{i}" for i in range(31)]), st.integers(0, 9)),
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from([f"k{i}" for i in range(31)]), VALUES, min_size=1),
    st.lists(OPS, min_size=1, max_size=5),
    st.sampled_from([None, 2]),
    st.sampled_from([(1, 1), (2, 3), (3, 2)]),
    st.sampled_from([(0, 1), (1, 3), (4, 8)]),
)
def test_pieces_read_from_a_file_are_its_bytes_and_then_encode_the_dict_exactly(
    start: dict[str, Any],
    rounds: list[list[tuple[str, int, int]]],
    version: int | None,
    sizes: tuple[int, int],
    slow: tuple[int, int],
) -> None:
    saved = pieces.PIECE_KEYS, pieces.GROUP_PIECES, pieces._SEARCHES, pieces._MAP_UPDATES
    pieces.PIECE_KEYS, pieces.GROUP_PIECES = sizes
    pieces._SEARCHES, pieces._MAP_UPDATES = slow
    try:
        tracked = Tracked()
        tracked.state = dict(start)
        raw, at = file_of(start, version)
        p, exact = pieces.read(tracked.state, raw, at)
        assert exact
        # Nothing copied but the first member of a file without a version record.
        assert all(body.obj is raw for body in p.bodies()[version is None :])  # type: ignore[union-attr]
        assert b"".join(fileformat.frame(p.bodies(), version)) == raw
        for ops in rounds:
            for op, key, value in ops:
                if op == "set":
                    tracked.set(f"k{key}", value)
                else:
                    tracked.delete(f"k{key}")
            tracked.update(p)
            assert joined(p) == orjson.dumps(tracked.state)  # bytes, so order too
            assert all(body.startswith(b",") for body in map(bytes, p.bodies()))
    finally:
        pieces.PIECE_KEYS, pieces.GROUP_PIECES, pieces._SEARCHES, pieces._MAP_UPDATES = saved


def test_a_deletion_after_opening_copies_no_bytes_but_its_groups() -> None:
    # Read from the file, every group is one whole piece, a view of the
    # bytes read: a deletion re-joins its own group, and merges no other.
    state = {f"k{i}": i for i in range(20_000)}
    raw, at = file_of(state, None)
    p, _ = pieces.read(state, raw, at)
    tracked = Tracked()
    tracked.state = state
    tracked.delete("k5000")
    tracked.update(p)
    views = [body for body in p.bodies() if isinstance(body, memoryview) and body.obj is raw]
    assert len(views) == len(p.bodies()) - 2  # but the first group's, and k5000's
    assert joined(p) == orjson.dumps(tracked.state)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "b": [2]}',  # another writer's spacing
        b'{"a":1,"b":[2]} ',  # a byte after the object
        b'{"a":1e2,"b":[2]}',  # a float aiokv writes otherwise (100.0)
    ],
)
def test_a_file_aiokv_would_write_otherwise_is_encoded_anew(raw: bytes) -> None:
    state = orjson.loads(raw)
    p, exact = pieces.read(state, raw, 0)
    assert not exact
    assert joined(p) == orjson.dumps(state)


@pytest.mark.parametrize("again", ["after the write", "during the write"])
def test_a_key_deleted_during_a_write_keeps_the_file_in_the_store_order(
    state: Path, again: str
) -> None:
    # Deleted while a write holds the snapshot, the key leaves the dict when
    # the write ends; stored again after that, the dict puts it at its end,
    # and so must the file. Stored again during the write, it goes to the end
    # too, as with no write under way.
    async def main(writing: Any) -> None:
        async with AioKV(state, flush_delay=3600, max_flush_delay=3600) as kv:
            await kv.update({"a": 1, "b": 2, "c": 3})
            await kv.flush()
            await kv.set("b", 20)
            flushing = asyncio.ensure_future(kv.flush())
            await asyncio.to_thread(writing.wait)
            await kv.delete("a")
            if again == "during the write":
                await kv.set("a", 4)
            await flushing
            await kv.set("new", 5)  # a key added after the write, before "a" again
            await kv.set("a", 4)
            await kv.flush()
            order = ["b", "c", "new", "a"]
            if again == "during the write":
                order = ["b", "c", "a", "new"]
            assert list(await kv.keys()) == order
            assert list(orjson.loads(state.read_bytes())) == order

    with pytest.MonkeyPatch.context() as mp:
        asyncio.run(main(slow_disk_writes(mp)))
