"""The hash's fields and values as the server holds them: text to UTF-8, values read back checked.

Another tool may have written into the hash what no store can hold (a value
that is not JSON, a key that is not UTF-8, the reserved key): reading it is
a CorruptFileError naming it.
"""

from __future__ import annotations

from typing import Any

import orjson

from .. import codec
from ..errors import CorruptFileError

_RESERVED = codec.VERSION_KEY.encode()  # as the server spells it
_SHOWN_BYTES = 60  # of a key or value no store can hold, in its message


def utf8(text: str) -> bytes | None:
    """text as the server gets it; None if it holds a lone surrogate."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return None


def glob_escape(prefix: str) -> str:
    """prefix escaped for a HSCAN MATCH pattern."""
    # HSCAN MATCH takes a glob: its special characters match themselves escaped.
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix)


def key_of(where: str, field: bytes) -> str:
    """The key a field of the hash at where names; CorruptFileError if no store can hold it."""
    if field == _RESERVED:
        # Another tool wrote the key no store can hold (get() refuses it).
        raise _corrupt(
            where,
            f"the hash holds the reserved key {codec.VERSION_KEY!r}, which no "
            "store can hold (clear() removes it)",
        )
    try:
        return field.decode()
    except UnicodeDecodeError:
        raise _corrupt(
            where, f"the hash holds a key that is not UTF-8: {field[:_SHOWN_BYTES]!r}"
        ) from None


def decode(where: str, key: str, raw: bytes) -> Any:
    """The value raw read at key (of the hash at where); CorruptFileError if no store holds it."""
    # Another tool may have written the value: refuse what is not JSON,
    # what nests deeper than a store holds, or what orjson would read
    # inexactly (an integer beyond 64 bits), as AioKV refuses such a file.
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:  # its reason: a text nested too deep is one
        raise _corrupt(
            where, f"the value of key {key!r} is not JSON ({e}): {raw[:_SHOWN_BYTES]!r}"
        ) from None
    # Enough brackets to nest too deep (counted at C speed): checked as a
    # write is, before the exact-integer check, which recurses level by level.
    if raw.count(b"[") + raw.count(b"{") > codec.MAX_DEPTH:
        try:
            codec.accept(value, key)
        except ValueError as e:
            raise _corrupt(where, str(e)) from None
    if problem := codec.inexact_integer(raw):
        raise _corrupt(where, f"the value of key {key!r}: {problem}")
    return value


def _corrupt(where: str, problem: str) -> CorruptFileError:
    """The error for what another tool wrote into the hash at where that no store can hold."""
    return CorruptFileError(where, problem, kept="the hash")
