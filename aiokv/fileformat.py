"""The state file's format, in one place: how it is framed, encoded and read back.

A state file is one JSON object, the state's keys in the store's order. A
versioned file's first member is aiokv's version record,
`{"__aiokv__":{"version":N},"k":v,...}`. The pieces (pieces.py) keep the
members encoded, each after a comma (members()); frame() makes the file of
them. decode() reads a file back, and refuses one aiokv could not write back
exactly, so a file that opens is one the store can keep.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import codec
from .errors import CorruptFileError

_OPEN, _CLOSE, _COMMA = b"{", b"}", b","
_SHOWN_RECORD = 80  # characters of a bad version record a message shows


def members(chunk: dict[str, Any]) -> bytes:
    """`,"k":v,"k2":v2`: chunk's members as the file holds them, each after a comma."""
    return _COMMA + memoryview(codec.encode(chunk))[1:-1]


def frame(bodies: list[bytes], version: int | None) -> list[bytes | memoryview]:
    """The file's buffers, in order: the head (and version record), bodies from members(), `}`."""
    buffers: list[bytes | memoryview] = [_OPEN, *bodies, _CLOSE]
    if version is not None:
        buffers[0] = codec.encode({codec.VERSION_KEY: {"version": version}})[:-1]
    elif bodies:
        buffers[1] = memoryview(bodies[0])[1:]  # the first member has no comma before it
    return buffers


def decode(raw: bytes, path: str) -> tuple[dict[str, Any], int]:
    """A state file's keys and its schema version (0: none), or CorruptFileError naming path.

    Refused, never rewritten: what is not a JSON object, and what aiokv could
    never have written (nested deeper than orjson writes, integers beyond 64
    bits, which orjson reads as rounded floats), and a malformed version record.
    """
    state = parse(raw, path)
    return state, _pop_version(state, path)


def parse(raw: bytes, path: str) -> dict[str, Any]:
    """decode() without taking the version record out (the fuzzer's target)."""
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
    try:
        again = codec.encode(state)
    except orjson.JSONEncodeError:
        raise CorruptFileError(path, _too_deep(state)) from None
    # A file aiokv wrote encodes back to the same bytes; only another
    # writer's file (json.dump, the original library) needs the exact check.
    if again != raw and (problem := codec.inexact_integer(raw)):
        raise CorruptFileError(path, problem)
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
