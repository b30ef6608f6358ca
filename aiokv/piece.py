"""One piece of the encoded state, and the group whose bytes it shares (pieces.py).

A piece holds some keys in the file's order and their members as the file
holds them, each after a comma (members()); a group holds pieces in order
and their bodies joined in one buffer, of which the bodies are views.
"""

from __future__ import annotations

from typing import Any

from . import codec

_COMMA = b","


def members(chunk: dict[str, Any]) -> bytes:
    """`,"k":v,"k2":v2`: chunk's members as the file holds them, each after a comma."""
    return _COMMA + memoryview(codec.encode(chunk))[1:-1]


class Group:
    """Pieces in the file's order, and their bodies joined."""

    __slots__ = ("joined", "pieces")

    def __init__(self) -> None:
        """No pieces yet."""
        self.pieces: list[Piece] = []  # in the file's order, none empty
        # Their bodies, joined (or the span of a file's bytes holding them);
        # b"" while to be joined.
        self.joined: bytes | memoryview = b""

    def piece_at(self, offset: int) -> Piece:
        """The piece whose body holds the byte at offset of the joined bytes."""
        for piece in self.pieces:
            offset -= len(piece.body)
            if offset < 0:
                return piece
        raise IndexError(f"offset {offset} beyond the group's bytes")


class Piece:
    """Keys in the file's order, their members, the group holding it, its number."""

    __slots__ = ("body", "group", "keys", "number")

    def __init__(
        self, number: int, keys: tuple[str, ...], body: bytes | memoryview, group: Group
    ) -> None:
        """A piece of keys, whose members are body, in group."""
        self.number = number  # what the key map holds for each of its keys
        self.keys = keys  # in the file's order
        self.body: bytes | memoryview = body  # stale while the piece is dirty
        self.group = group


def key_count(pieces: list[Piece]) -> int:
    """How many keys pieces hold."""
    return sum(len(piece.keys) for piece in pieces)
