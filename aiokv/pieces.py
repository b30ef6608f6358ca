"""The state's encoded form, kept between flushes in pieces, re-encoded where it changed.

Every flush writes the whole file, but encoding is what costs, and between
two flushes most of the state did not change. Pieces hold the keys in the
file's order, PIECE_KEYS or fewer each, with the encoded members of those
keys, each preceded by a comma (`,"k":v,"k2":v2`: the file is a head, the
bodies, and `}`). A flush re-encodes only the pieces holding a key changed
since the previous one, and writes the bytes of every piece.

Pieces are kept in groups of up to GROUP_PIECES, each group's bytes joined
in one buffer (the pieces' bodies are views of it, so nothing is held
twice), and the file is written from the groups: a million keys is one
writev() of about a thousand buffers rather than sixteen of 1,024. Each
writev() gives the GIL away and takes it back, and each taking back can
keep the event loop's thread waiting. A changed piece re-joins its group.

A piece is a set of keys, not a range of positions: new keys go into the
last piece and new pieces after it, a deleted one leaves its piece, so no
change shifts the other pieces. A key deleted and stored again moves to the
end, as it does in the store's dict, so the file keeps the store's insertion
order.

An update costs what changed, not the number of pieces: the dirty pieces
are collected as keys are, and the whole list is walked only to merge
pieces that lost keys. Pieces are touched only by the thread that writes
the file; the store hands them the frozen snapshot and the keys changed
since the last update.

That thread holds the GIL while it works, and the event loop's thread waits
for it, so no step may hold it long: the work yields it every millisecond,
no single call walks every key (a list of a million keys, or one dict of
them resizing, is tens of milliseconds in one call), and what is kept per
key is invisible to the garbage collector (tuples of str, dicts of int),
whose passes would otherwise walk a million references while holding it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from itertools import islice
from typing import Any

from . import fileformat

PIECE_KEYS = 64  # small, so scattered changes dirty few keys' worth of encoding
GROUP_PIECES = 16  # pieces joined in one buffer (about 60 KB of small values)
_SHARDS = 1024  # dicts the key -> piece map is split into (a power of two)
_SHARD = _SHARDS - 1  # hash(key) & _SHARD: the key's dict
_GIL_SLICE = 0.001  # seconds of work between two yields of the GIL
_KEYS_PER_CLOCK = 64  # keys (or groups) handled between two looks at the clock
_clock = time.perf_counter


class _Group:
    __slots__ = ("joined", "pieces")

    def __init__(self) -> None:
        self.pieces: list[_Piece] = []  # in the file's order, none empty
        self.joined = b""  # their bodies, joined; b"" while to be joined


class _Piece:
    __slots__ = ("body", "group", "keys", "number")

    def __init__(self, number: int, keys: tuple[str, ...], body: bytes, group: _Group) -> None:
        self.number = number  # what the key map holds for each of its keys
        self.keys = keys  # in the file's order
        self.body: bytes | memoryview = body  # stale while the piece is in Pieces._dirty
        self.group = group


class Pieces:
    """The encoded state in pieces; see the module's docstring."""

    def __init__(self) -> None:
        """No pieces: the first update() encodes the whole state."""
        self._groups: list[_Group] = []  # in the file's order, none empty
        self._numbered: dict[int, _Piece] = {}
        self._shards: list[dict[str, int]] = [{} for _ in range(_SHARDS)]
        self._numbers = 0
        self._mapped = False  # whether _shards is filled: by the first update that needs it
        self._dirty: set[_Piece] = set()
        self._until = 0.0  # when the current slice of work should yield the GIL
        self.ready = True  # False while an update is half done: then drop the pieces

    def update(
        self, state: dict[str, Any], changed: Iterable[str], dropped: Iterable[str]
    ) -> None:
        """Bring the pieces to state, given the keys changed since the last update.

        changed: every key stored or deleted since then, in the order the
        store's dict added them; dropped: keys deleted from the dict outright
        since then (stored again, the dict put them at its end: so do we).
        """
        self.ready = False
        self._until = _clock() + _GIL_SLICE
        if not self._groups:
            self._build(state)
        else:
            if not self._mapped:
                for group in self._groups:
                    for piece in group.pieces:
                        self._map(piece.keys, piece.number)
                    self._yield_gil()
                self._mapped = True
            shards, numbered, dirty, shard_of = self._shards, self._numbered, self._dirty, _SHARD
            shrunk = False
            for key in dropped:
                number = shards[hash(key) & shard_of].pop(key, None)
                if number is not None:
                    self._drop(numbered[number], key)
                    shrunk = True
            new = []
            for n, key in enumerate(changed):
                if n % _KEYS_PER_CLOCK == 0:
                    self._yield_gil()
                shard = shards[hash(key) & shard_of]
                number = shard.get(key)
                if number is None:
                    if key in state:
                        new.append(key)
                elif key in state:
                    dirty.add(numbered[number])
                else:
                    del shard[key]
                    self._drop(numbered[number], key)
                    shrunk = True
            self._append(new)
            if shrunk:
                self._compact()
            self._encode(state)
        self._join()
        self.ready = True

    def _build(self, state: dict[str, Any]) -> None:
        # The first update: every key is new. Walking the dict's items in
        # order is much faster than looking each key up. The key map waits
        # for the next update (a store that flushes once never needs it).
        # Each group is joined as soon as it is full: its pieces' bodies are
        # then let go and their memory serves the next group's, so building
        # never holds the encoded state twice (which the process would keep).
        self._mapped = False
        items = iter(state.items())
        while chunk := dict(islice(items, PIECE_KEYS)):
            group = self._add(tuple(chunk), fileformat.members(chunk)).group
            if len(group.pieces) == GROUP_PIECES:
                self._join_group(group)

    def _append(self, keys: list[str]) -> None:
        # New keys fill the last piece, then new pieces after it.
        start, tail = 0, self._groups[-1].pieces[-1]
        if keys and len(tail.keys) < PIECE_KEYS:
            start = PIECE_KEYS - len(tail.keys)
            tail.keys += tuple(keys[:start])
            self._map(keys[:start], tail.number)
            self._dirty.add(tail)
        for at in range(start, len(keys), PIECE_KEYS):
            piece = self._add(tuple(keys[at : at + PIECE_KEYS]), b"")
            self._map(piece.keys, piece.number)
            self._dirty.add(piece)

    def _add(self, keys: tuple[str, ...], body: bytes) -> _Piece:
        groups = self._groups
        if not groups or len(groups[-1].pieces) >= GROUP_PIECES:
            groups.append(_Group())
        self._numbers += 1
        piece = _Piece(self._numbers, keys, body, groups[-1])
        piece.group.pieces.append(piece)
        piece.group.joined = b""
        self._numbered[piece.number] = piece
        self._yield_gil()
        return piece

    def _map(self, keys: Iterable[str], number: int) -> None:
        shards, shard = self._shards, _SHARD
        for key in keys:
            shards[hash(key) & shard][key] = number

    def _drop(self, piece: _Piece, key: str) -> None:
        at = piece.keys.index(key)
        piece.keys = piece.keys[:at] + piece.keys[at + 1 :]
        self._dirty.add(piece)

    def _compact(self) -> None:
        # Drop empty pieces and merge small neighbours in each group, then
        # empty and small groups likewise, so that deletions never leave many
        # tiny pieces or groups. Clean neighbours join their bytes.
        groups: list[_Group] = []
        for n, group in enumerate(self._groups):
            if n % _KEYS_PER_CLOCK == 0:
                self._yield_gil()
            pieces = self._merged(group.pieces)
            if len(pieces) != len(group.pieces):
                group.pieces, group.joined = pieces, b""
            if not pieces:
                continue
            last = groups[-1] if groups else None
            if (
                last is not None
                and len(last.pieces) + len(pieces) <= GROUP_PIECES
                and min(len(last.pieces), len(pieces)) < GROUP_PIECES // 2
            ):
                for piece in pieces:
                    piece.group = last
                last.pieces += pieces
                last.joined = b""
            else:
                groups.append(group)
        self._groups = groups

    def _merged(self, pieces: list[_Piece]) -> list[_Piece]:
        merged: list[_Piece] = []
        numbered, dirty = self._numbered, self._dirty
        for piece in pieces:
            if piece.keys:  # else it is dropped
                last = merged[-1] if merged else None
                if (
                    last is None
                    or len(last.keys) + len(piece.keys) > PIECE_KEYS
                    or min(len(last.keys), len(piece.keys)) >= PIECE_KEYS // 2
                ):
                    merged.append(piece)
                    continue
                last.keys += piece.keys  # piece joins last
                self._map(piece.keys, last.number)
                if piece in dirty:
                    dirty.add(last)
                elif last not in dirty:
                    last.body = b"".join((last.body, piece.body))
            del numbered[piece.number]
            dirty.discard(piece)
        return merged

    def _encode(self, state: dict[str, Any]) -> None:
        get = state.__getitem__
        for piece in self._dirty:
            piece.body = fileformat.members(
                dict(zip(piece.keys, map(get, piece.keys), strict=True))
            )
            piece.group.joined = b""
            self._yield_gil()
        self._dirty.clear()

    def _join(self) -> None:
        for group in self._groups:
            if not group.joined:
                self._join_group(group)

    def _join_group(self, group: _Group) -> None:
        # The pieces' bodies become views of the joined bytes, so the old
        # ones are let go.
        group.joined = b"".join([piece.body for piece in group.pieces])
        view, at = memoryview(group.joined), 0
        for piece in group.pieces:
            end = at + len(piece.body)
            piece.body, at = view[at:end], end
        self._yield_gil()

    def _yield_gil(self) -> None:
        # Yield the GIL once this slice of work has held it long enough.
        # sleep(0), not os.sched_yield(): measured, a thread waiting for the
        # GIL often failed to take it across sched_yield() (event-loop stalls
        # of 100 ms and more), never across sleep(0), which costs ~70 us.
        if _clock() >= self._until:
            time.sleep(0)
            self._until = _clock() + _GIL_SLICE

    def bodies(self) -> list[bytes]:
        """The encoded members in the file's order, in buffers that each begin with a comma."""
        return [group.joined for group in self._groups]
