"""aiokv/fileformat.py: the file's framing, its members and reading it back, without a store."""

from __future__ import annotations

import json

import pytest

from aiokv import codec, fileformat, piece
from aiokv.errors import CorruptFileError


def framed(chunks: list[dict[str, object]], version: int | None) -> bytes:
    bodies: list[bytes | memoryview] = [piece.members(chunk) for chunk in chunks]
    return b"".join(fileformat.frame(bodies, version))


@pytest.mark.parametrize("version", [None, 1, 2**64 - 1])
def test_a_framed_file_decodes_to_its_keys_in_order_and_its_version(version: int | None) -> None:
    raw = framed([{"a": 1, "b": "x"}, {"c": None}], version)
    assert list(json.loads(raw)) == ([codec.VERSION_KEY] if version else []) + ["a", "b", "c"]
    state, found, _ = fileformat.decode(raw, "f.json")
    assert state == {"a": 1, "b": "x", "c": None} and list(state) == ["a", "b", "c"]
    assert found == (version or 0)


@pytest.mark.parametrize("version", [None, 3])
def test_an_empty_state_frames_as_an_object(version: int | None) -> None:
    assert fileformat.decode(framed([], version), "f.json")[:2] == ({}, version or 0)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "file is empty"),
        (b"[1]", "top level is an array"),
        (b'{"a":', "not valid JSON"),
        (b'{"a": 18446744073709551616}', "outside the 64-bit range"),
        (b"{" + b'"a":' + b"[" * 300 + b"]" * 300 + b"}", "key 'a' nests containers"),
        (b'{"__aiokv__": {"version": 0}}', "aiokv's version record"),
        (b'{"__aiokv__": {"version": 1, "x": 2}}', "aiokv's version record"),
        (b'{"__aiokv__": 7}', "aiokv's version record"),
    ],
)
def test_what_aiokv_could_not_write_back_is_refused_naming_the_file(
    raw: bytes, problem: str
) -> None:
    with pytest.raises(CorruptFileError, match=problem) as caught:
        fileformat.decode(raw, "/x/f.json")
    assert caught.value.path == "/x/f.json"


def test_parse_keeps_the_version_record() -> None:
    assert fileformat.parse(b'{"__aiokv__":{"version":2},"a":1}', "f") == {
        "__aiokv__": {"version": 2},
        "a": 1,
    }
