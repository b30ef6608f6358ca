"""aiokv/piece.py: a piece's members as the file holds them, and where a byte of a group is."""

from __future__ import annotations

import pytest

from aiokv.piece import Group, Piece, key_count, members


def test_members_are_the_chunks_json_members_each_after_a_comma() -> None:
    assert members({"a": 1, "b": [2]}) == b',"a":1,"b":[2]'
    assert members({'q"\\': "é"}) == ',"q\\"\\\\":"é"'.encode()


def test_a_groups_byte_is_in_the_piece_whose_body_holds_it() -> None:
    group = Group()
    first = Piece(1, ("a", "b"), members({"a": 1, "b": 2}), group)
    second = Piece(2, ("c",), members({"c": 3}), group)
    group.pieces = [first, second]
    group.joined = first.body + second.body
    assert [group.piece_at(at).number for at in range(len(group.joined))] == [1] * len(
        first.body
    ) + [2] * len(second.body)
    with pytest.raises(IndexError):
        group.piece_at(len(group.joined))
    assert key_count(group.pieces) == 3
