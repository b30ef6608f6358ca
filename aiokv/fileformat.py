"""The state file's format, in one place: how it is framed, encoded and read back.

A state file is one JSON object, the state's keys in the store's order. A
versioned file's first member is aiokv's version record,
`{"__aiokv__":{"version":N},"k":v,...}`. The pieces (pieces.py) keep the
members encoded, each after a comma (pieces.members()); frame() makes the
file of them. decode() reads a file back, and refuses one aiokv could not
write back exactly, so a file that opens is one the store can keep; the
pieces it encodes for that check are the store's first write's.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from . import codec, pieces
from .errors import CorruptFileError

_OPEN, _CLOSE = b"{", b"}"
_SHOWN_RECORD = 80  # characters of a bad version record a message shows


class Decoded(NamedTuple):
    """A state file read back: its keys, its schema version (0: none), and their pieces."""

    state: dict[str, Any]
    version: int
    pieces: pieces.Pieces


def frame(bodies: list[bytes | memoryview], version: int | None) -> list[bytes | memoryview]:
    """The file's buffers, in order: the head (and version record), the members' bodies, `}`."""
    buffers: list[bytes | memoryview] = [_OPEN, *bodies, _CLOSE]
    if version is not None:
        buffers[0] = _head(version)
    elif bodies:
        buffers[1] = memoryview(bodies[0])[1:]  # the first member has no comma before it
    return buffers


def _head(version: int) -> bytes:
    # A versioned file's bytes before its first key's comma.
    return codec.encode({codec.VERSION_KEY: {"version": version}})[:-1]


def decode(raw: bytes, path: str) -> Decoded:
    """A state file's keys, schema version and pieces, or CorruptFileError naming path.

    Refused, never rewritten: what is not a JSON object, and what aiokv could
    never have written (nested deeper than orjson writes, integers beyond 64
    bits, which orjson reads as rounded floats), and a malformed version record.
    """
    state = parse(raw, path)
    version = _pop_version(state, path)
    head = _head(version) if version else b""
    try:
        # A file aiokv wrote is what the pieces encode, byte for byte; only
        # another writer's file (json.dump, the original library) needs the
        # search for integers it could not have written.
        encoded, exact = pieces.read(state, raw, len(head) if raw.startswith(head) else -1)
    except orjson.JSONEncodeError:
        raise CorruptFileError(path, _too_deep(state)) from None
    if not exact and (problem := codec.inexact_integer(raw)):
        raise CorruptFileError(path, problem)
    return Decoded(state, version, encoded)


def parse(raw: bytes, path: str) -> dict[str, Any]:
    """A file's JSON object, the version record still in it; not checked further."""
    if not raw:
        raise CorruptFileError(path, "file is empty (0 bytes), expected a JSON object")
    try:
        state = codec.decode(raw)
    except orjson.JSONDecodeError as e:
        raise CorruptFileError(path, f"not valid JSON ({e})") from None
    if type(state) is not dict:
        raise CorruptFileError(
            path, f"top level is {codec.json_type(state)}, expected a JSON object"
        )
    return state


def _pop_version(state: dict[str, Any], path: str) -> int:
    # Take the version record out of a parsed state; its version (0: none).
    if codec.VERSION_KEY not in state:
        return 0
    record = state.pop(codec.VERSION_KEY)
    version = record.get("version") if type(record) is dict else None
    if type(record) is not dict or len(record) != 1 or type(version) is not int or version < 1:
        shown = orjson.dumps(record).decode()[:_SHOWN_RECORD]
        raise CorruptFileError(
            path,
            f"key {codec.VERSION_KEY!r} is aiokv's version record, but holds "
            f'{shown} instead of {{"version": <int >= 1>}}',
        )
    return version


def _too_deep(state: dict[str, Any]) -> str:
    key = next((k for k, v in state.items() if not _encodes({k: v})), None)
    return (
        f"the value of key {key!r} nests containers more than {codec.MAX_DEPTH} levels "
        "deep, more than aiokv can write back"
    )


def _encodes(state: dict[str, Any]) -> bool:
    try:
        codec.encode(state)
    except orjson.JSONEncodeError:
        return False
    return True
