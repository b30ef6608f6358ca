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

A restarted program must not pay a full encode on its first changes: the
open's check that the file is what the store would write encodes every key,
and read() does it a group at a time, keeping a file aiokv wrote as one whole
piece a group, a view of the bytes read (pieces of PIECE_KEYS would double
the open's objects, and start a garbage collector's pass over the state).
A whole piece is split when a changed key lands in it. Mapping a million
keys to their pieces costs more than the floor's flush, so each update maps
1/_MAP_UPDATES of them; a changed key the map lacks meanwhile is found by a
search of the bytes (past _SEARCHES times the bytes, the rest is mapped).

That thread holds the GIL while it works, and the event loop's thread waits
for it: the work yields it every millisecond, no call walks every key (a
list of a million keys, or one dict of them resizing, is tens of ms), and
what is kept per key (tuples of str, dicts of int) is invisible to the
garbage collector, whose passes would otherwise walk a million references.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from itertools import islice, repeat
from typing import Any

from . import codec
from .keymap import SHARD, KeyMap
from .piece import Group, Piece, key_count, members

PIECE_KEYS = 64  # small, so scattered changes dirty few keys' worth of encoding
GROUP_PIECES = 16  # pieces joined in one buffer (about 60 KB of small values)
_GIL_SLICE = 0.001  # seconds of work between two yields of the GIL
_KEYS_PER_CLOCK = 64  # keys (or groups) handled between two looks at the clock
_MAP_UPDATES = 32  # updates that build the key map: 20-40 ms each at 1M keys
# How many times over an update may search the bytes for keys the map lacks
# (all of them: 22 ms at a million keys, a twentieth of mapping them all).
_SEARCHES = 8
_COMMA = b","  # what each member follows in the file, but the first
_GONE = object()  # a key's value in a state that no longer holds it
_clock = time.perf_counter


def read(state: dict[str, Any], raw: bytes, at: int) -> tuple[Pieces, bool]:
    """The pieces of state, just read from raw, and whether raw holds exactly what they encode.

    raw[at] is the byte before state's first member (the file's `{`, or the
    comma after a version record; at < 0: raw does not begin as the store
    would write it). Where raw holds each piece's members as members()
    encodes them and ends with the last one's `}`, the pieces are views of
    raw, nothing copied; else they are encoded anew.
    """
    pieces = Pieces()
    if at >= 0 and pieces._read(state, raw, at):
        return pieces, True
    pieces = Pieces()
    pieces.update(state, state, ())
    return pieces, False


class Pieces:
    """The encoded state in pieces; see the module's docstring."""

    def __init__(self) -> None:
        """No pieces: the first update() encodes the whole state."""
        self._groups: list[Group] = []  # in the file's order, none empty
        self._numbered: dict[int, Piece] = {}
        self._keys = KeyMap()
        self._numbers = 0
        # Pieces numbered _unmapped to _built (the build's or the read's) may
        # have keys the map lacks; each update maps _slice more.
        self._unmapped, self._built, self._slice = 1, 0, 0
        self._searched = 0  # groups this update searched
        self._wholes: set[int] = set()  # the whole pieces read from the file, not yet split
        self._gone: set[str] = set()  # keys this update's splits found deleted
        self._shrunk = False  # whether this update left keys out of pieces
        self._dirty: set[Piece] = set()
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
        self.ready, self._until = False, _clock() + _GIL_SLICE
        if not self._groups:
            self._build(state)
        else:
            self._searched, self._shrunk = 0, False
            self._gone.clear()
            self._map_next(self._slice, state)
            shards, numbered, wholes = self._keys.shards, self._numbered, self._wholes
            for key in dropped:
                number = shards[hash(key) & SHARD].get(key)
                if number is None or number in wholes:  # else the common case: mapped
                    number = self._placed(state, key, number)
                if number is not None:
                    self._drop(numbered[number], key)
            new = []
            for n, key in enumerate(changed):
                if n % _KEYS_PER_CLOCK == 0:
                    self._yield_gil()
                number = shards[hash(key) & SHARD].get(key)
                if number is None or number in wholes:  # else the common case: mapped
                    number = self._placed(state, key, number)
                if number is None:
                    if key in state:
                        new.append(key)
                elif key in state:
                    self._dirty.add(numbered[number])
                else:
                    self._drop(numbered[number], key)
            self._append(new)
            if self._shrunk:
                self._compact()
                self._keys.refit(self._yield_gil)
            self._encode(state)
        self._join()
        self.ready = True

    def _build(self, state: dict[str, Any]) -> None:
        # The first update: every key is new. Walking the dict's items in
        # order is much faster than looking each key up. The key map waits
        # for the next updates (a store that flushes once never needs it).
        # Each group is joined as soon as it is full: its pieces' bodies are
        # then let go and their memory serves the next group's, so building
        # never holds the encoded state twice (which the process would keep).
        first = self._numbers + 1
        items = iter(state.items())
        while chunk := dict(islice(items, PIECE_KEYS)):
            group = self._add(tuple(chunk), members(chunk)).group
            if len(group.pieces) == GROUP_PIECES:
                self._join_group(group)
        self._to_map(first)

    def _read(self, state: dict[str, Any], raw: bytes, at: int) -> bool:
        # read(): a group's keys at a time, encoded and compared with raw
        # where they should be, each group one whole piece, a view of raw (a
        # copy for a first member after the file's `{`, not after a comma).
        self._until = _clock() + _GIL_SLICE
        view = memoryview(raw)
        items = iter(state.items())
        while chunk := dict(islice(items, PIECE_KEYS * GROUP_PIECES)):
            inner = memoryview(codec.encode(chunk))[1:-1]
            end = at + 1 + len(inner)
            if not raw.startswith(inner, at + 1) or (at and raw[at] != _COMMA[0]):
                return False
            group = Group()
            group.joined = view[at:end] if at else _COMMA + inner
            group.pieces.append(self._new(tuple(chunk), group.joined, group))
            if len(chunk) > PIECE_KEYS:
                self._wholes.add(self._numbers)
            self._groups.append(group)
            at = end
        if raw[at:] != b"}":
            return False
        self._to_map(1)
        return True

    def _to_map(self, first: int) -> None:  # pieces numbered first on: over _MAP_UPDATES
        self._unmapped, self._built = first, self._numbers
        self._slice = -(-(self._built - first + 1) // _MAP_UPDATES)

    def _map_next(self, count: int, state: dict[str, Any] | None = None) -> None:
        # Map the next count pieces the build or the read made; with state,
        # split the whole ones (split on demand, a group is encoded for a key).
        stop = min(self._unmapped + count, self._built + 1)
        for number in range(self._unmapped, stop):
            piece = self._numbered.get(number)  # None: merged away, or split
            if piece is not None and state is not None and number in self._wholes:
                self._split(state, piece)
            elif piece is not None:
                self._keys.put(piece.keys, number)
            self._yield_gil()
        self._unmapped = stop

    def _placed(self, state: dict[str, Any], key: str, number: int | None) -> int | None:
        # key's piece where the map has none (searched) or a whole one (split).
        if number is None and self._unmapped <= self._built:
            number = self._located(key)
        if number in self._wholes:
            self._split(state, self._numbered[number])
            number = self._keys.get(key)
        return number

    def _split(self, state: dict[str, Any], whole: Piece) -> None:
        # A whole piece becomes pieces of PIECE_KEYS, encoded from state as
        # it is now and mapped. Keys deleted since are left out (gone), one
        # stored again stays in its place (the update then moves it). Where
        # nothing changed the pieces are views of the whole's bytes: joined
        # again, they would be copied for nothing.
        group, keys = whole.group, whole.keys
        values = list(map(state.get, keys, repeat(_GONE)))
        if _GONE in values:  # rare: look each key up once, as values are
            kept = [at for at, value in enumerate(values) if value is not _GONE]
            for gone in set(keys).difference(keys[at] for at in kept):
                self._keys.discard(gone)
                self._gone.add(gone)
            keys, values = tuple(keys[at] for at in kept), [values[at] for at in kept]
            self._shrunk = True
        del self._numbered[whole.number]
        self._wholes.discard(whole.number)
        view, at, end, same = memoryview(whole.body), 0, 0, True
        split = []
        for start in range(0, len(keys), PIECE_KEYS):
            chunk = keys[start : start + PIECE_KEYS]
            encoded = members(dict(zip(chunk, values[start : start + PIECE_KEYS], strict=True)))
            end = at + len(encoded)
            same = same and end <= len(view) and encoded.startswith(view[at:end])
            split.append(self._new(chunk, view[at:end] if same else encoded, group))
            self._keys.put(chunk, split[-1].number)
            at = end
        at = group.pieces.index(whole)  # new keys may have joined its group after it
        group.pieces[at : at + 1] = split
        if not same or end != len(view):
            group.joined = b""
        if not group.pieces:  # every key deleted: no group is left empty
            self._groups.remove(group)

    def _located(self, key: str) -> int | None:
        # The number of key's piece, for a key the map lacks while it is
        # unfinished: searched for in the bytes, or, past _SEARCHES, mapped.
        if key in self._gone:
            return None
        if self._searched >= _SEARCHES * len(self._groups):
            self._map_next(self._built)
            return self._keys.get(key)
        # A key's member is a comma, its JSON and a colon; a value's inner
        # object may hold the same, so a match counts if its piece has the key
        # (whose body, at this point of an update, still holds every key's).
        member = re.compile(re.escape(_COMMA + codec.encode_key(key) + b":"))
        for group in self._groups:
            self._searched += 1
            found = member.search(group.joined)
            while found is not None:
                piece = group.piece_at(found.start())
                if key in piece.keys:
                    self._keys.put((key,), piece.number)
                    return piece.number
                found = member.search(group.joined, found.start() + 1)
            self._yield_gil()
        return None

    def _append(self, keys: list[str]) -> None:
        # New keys fill the last piece, then new pieces after it.
        start, tail = 0, self._groups[-1].pieces[-1] if self._groups else None
        if keys and tail is not None and len(tail.keys) < PIECE_KEYS:
            start = PIECE_KEYS - len(tail.keys)
            tail.keys += tuple(keys[:start])
            self._keys.put(keys[:start], tail.number)
            self._dirty.add(tail)
        for at in range(start, len(keys), PIECE_KEYS):
            piece = self._add(tuple(keys[at : at + PIECE_KEYS]), b"")
            self._keys.put(piece.keys, piece.number)
            self._dirty.add(piece)

    def _add(self, keys: tuple[str, ...], body: bytes) -> Piece:
        groups = self._groups
        if not groups or len(groups[-1].pieces) >= GROUP_PIECES:
            groups.append(Group())
        piece = self._new(keys, body, groups[-1])
        piece.group.pieces.append(piece)
        piece.group.joined = b""
        return piece

    def _new(self, keys: tuple[str, ...], body: bytes | memoryview, group: Group) -> Piece:
        # A piece numbered, for the key map, and known by its number.
        self._numbers += 1
        piece = Piece(self._numbers, keys, body, group)
        self._numbered[piece.number] = piece
        self._yield_gil()
        return piece

    def _drop(self, piece: Piece, key: str) -> None:
        at = piece.keys.index(key)
        piece.keys = piece.keys[:at] + piece.keys[at + 1 :]
        self._dirty.add(piece)
        self._shrunk = True
        self._keys.drop(key)

    def _compact(self) -> None:
        # Drop empty pieces and merge small neighbours in each group, then
        # empty and small groups likewise, so that deletions never leave many
        # tiny pieces or groups. Clean neighbours join their bytes.
        groups: list[Group] = []
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
                # A whole piece read from the file is a full group on its own:
                # merged, its bytes would be copied for nothing.
                and key_count(last.pieces) + key_count(pieces) <= PIECE_KEYS * GROUP_PIECES
            ):
                for piece in pieces:
                    piece.group = last
                last.pieces += pieces
                last.joined = b""
            else:
                groups.append(group)
        self._groups = groups

    def _merged(self, pieces: list[Piece]) -> list[Piece]:
        merged: list[Piece] = []
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
                self._keys.put(piece.keys, last.number)
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
            piece.body = members(dict(zip(piece.keys, map(get, piece.keys), strict=True)))
            piece.group.joined = b""
            self._yield_gil()
        self._dirty.clear()

    def _join(self) -> None:
        for group in self._groups:
            if not group.joined:
                self._join_group(group)

    def _join_group(self, group: Group) -> None:
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

    def bodies(self) -> list[bytes | memoryview]:
        """The encoded members in the file's order, in buffers that each begin with a comma."""
        return [group.joined for group in self._groups]
