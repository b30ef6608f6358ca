"""The state's encoded form, kept between flushes in pieces, re-encoded where it changed.

Every flush writes the whole file, but encoding is what costs, and between
two flushes most of the state did not change. Pieces hold the keys in the
file's order, PIECE_KEYS or fewer each, with the encoded members of those
keys (`"k":v,"k2":v2`). A flush re-encodes only the pieces holding a key
changed since the previous one, and writes every piece's bytes.

A piece is a set of keys, not a range of positions: a new key goes into the
last piece, a deleted one leaves its piece, so no change shifts the other
pieces. A key deleted and stored again moves to the end, as it does in the
store's dict, so the file keeps the store's insertion order.

Pieces are touched only by the thread that writes the file; the store hands
them the frozen snapshot and the keys changed since the last update.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from . import codec

PIECE_KEYS = 64  # small, so scattered changes dirty few keys' worth of encoding
_GIL_EVERY = 8  # pieces encoded between two yields of the GIL (about 512 keys)


class _Piece:
    __slots__ = ("body", "keys")

    def __init__(self) -> None:
        self.keys: dict[str, None] = {}  # in the file's order
        self.body: bytes | None = None  # None: to encode


class Pieces:
    """The encoded state in pieces; see the module's docstring."""

    def __init__(self) -> None:
        """No pieces: the first update() encodes the whole state."""
        self._pieces: list[_Piece] = []
        self._of: dict[str, _Piece] = {}
        self.ready = True  # False while an update is half done: then drop the pieces

    def update(self, state: dict[str, Any], changed: Iterable[str], moved: Iterable[str]) -> None:
        """Bring the pieces to state, given the keys changed since the last update.

        changed: every key stored or deleted since then, in the order the
        store's dict added them; moved: keys deleted from the dict outright
        since then (stored again, the dict put them at its end: so do we).
        """
        self.ready = False
        of = self._of
        if not of:
            changed = state  # the first update: every key is new
        for key in moved:
            if (piece := of.pop(key, None)) is not None:
                del piece.keys[key]
                piece.body = None
        tail = self._pieces[-1] if self._pieces else None
        for key in changed:
            piece = of.get(key)
            if piece is not None:
                if key not in state:
                    del of[key], piece.keys[key]
                piece.body = None
            elif key in state:
                if tail is None or len(tail.keys) >= PIECE_KEYS:
                    tail = _Piece()
                    self._pieces.append(tail)
                tail.keys[key] = None
                tail.body = None
                of[key] = tail
        self._pieces = self._compact()
        self._encode(state)
        self.ready = True

    def _compact(self) -> list[_Piece]:
        # Drop empty pieces and merge small neighbours, so that deletions
        # never leave many tiny pieces. Clean neighbours merge their bytes.
        merged: list[_Piece] = []
        for piece in self._pieces:
            if not piece.keys:
                continue
            last = merged[-1] if merged else None
            if (
                last is not None
                and len(last.keys) + len(piece.keys) <= PIECE_KEYS
                and min(len(last.keys), len(piece.keys)) < PIECE_KEYS // 2
            ):
                last.keys.update(piece.keys)
                for key in piece.keys:
                    self._of[key] = last
                if last.body is not None and piece.body is not None:
                    last.body += b"," + piece.body
                else:
                    last.body = None
            else:
                merged.append(piece)
        return merged

    def _encode(self, state: dict[str, Any]) -> None:
        # orjson holds the GIL while it encodes: yield it now and then, so
        # the event loop's thread never waits long for it.
        encoded = 0
        for piece in self._pieces:
            if piece.body is None:
                body = codec.encode({key: state[key] for key in piece.keys})
                piece.body = body[1:-1]
                encoded += 1
                if encoded % _GIL_EVERY == 0:
                    time.sleep(0)

    def bodies(self) -> list[bytes]:
        """The pieces' encoded members, in the file's order (none empty)."""
        return [piece.body for piece in self._pieces]  # type: ignore[misc]

    def nbytes(self) -> int:
        """The bytes the pieces hold: about the file's size."""
        return sum(len(piece.body or b"") for piece in self._pieces)
