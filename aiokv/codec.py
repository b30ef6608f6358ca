"""Keys and values in and out: validation, isolation copies, orjson encoding."""

from __future__ import annotations

import gc
import math
import re
from typing import Any

import orjson

# Values handed out as they are: nothing a caller does to them reaches the store.
IMMUTABLE: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_JSON_TYPES = IMMUTABLE | {dict, list}

# The integers orjson reads and writes exactly.
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1

# orjson writes at most 254 levels of nested containers; the state object
# itself is one of them, so a stored value may nest 253 deep.
MAX_DEPTH = 253

# A dict of at most this many items is checked item by item in Python: the
# C path below costs a type set, an orjson encode and a search of its bytes,
# which only pays from 9 items (CPython 3.10) to 20 (3.11) on.
SMALL_DICT = 8

# The key of a versioned file's version record (its first member). Never a
# key of the state: every method refuses it.
VERSION_KEY = "__aiokv__"

# Arguments left out: set()'s value (it stores the time of the call) and
# edit()'s default (the key must then be present).
NOW: Any = object()
MISSING: Any = object()

# orjson raises on these instead of quietly writing a base type (a str
# subclass, a datetime, a dataclass): refused, as a reload would not give
# them back.
_STRICT = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


# set() stores containers in these twins (equal, and written as plain JSON),
# so get() knows the cheapest copy that still isolates them.
class FlatDict(dict[str, Any]):
    """A stored dict of immutable values: a shallow copy isolates it."""

    __slots__ = ()


class FlatList(list[Any]):
    """A stored list of immutable items: a shallow copy isolates it."""

    __slots__ = ()


class DeepDict(dict[str, Any]):
    """A stored dict holding containers: handed out as a deep copy."""

    __slots__ = ()


class DeepList(list[Any]):
    """A stored list holding containers: handed out as a deep copy."""

    __slots__ = ()


def check_key(key: object) -> str:
    """Return key as a plain str if aiokv can store it, else raise TypeError/ValueError."""
    key = plain_str(key, "keys")
    _check_str(key, "key")
    if key == VERSION_KEY:
        raise ValueError(f"key {key!r} is reserved for the file's schema version record")
    return key


def plain_str(key: object, what: str) -> str:
    """Return a key (or a prefix, a name) as a plain str, or raise TypeError.

    A str subclass (a StrEnum member, say) is taken as its string value, the
    way a dict finds it: K.LAST and "last" name the same key.
    """
    if type(key) is str:
        return key
    if not isinstance(key, str):
        raise TypeError(f"aiokv {what} must be str, not {type(key).__name__}: {key!r}")
    return str.__str__(key)


def _check_str(s: str, what: str) -> None:
    # orjson refuses lone surrogates at dumps time; refuse them now instead.
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{what} {s!r} holds a lone surrogate, which JSON cannot store"
            ) from None


def accept(value: Any, key: str) -> Any:
    """Return a private copy of value, or raise if a reload would not give it back."""
    kind = type(value)
    if kind is dict and len(value) <= SMALL_DICT:
        # Each item checked here as orjson and the walk below check it; any
        # doubt (a non-ASCII string: a lone surrogate?) takes them.
        for k, v in value.items():
            of = type(v)
            if type(k) is not str or not k.isascii():
                break
            if of is str:
                if not v.isascii():
                    break
            elif of is int:
                if not INT_MIN <= v <= INT_MAX:
                    break
            elif of is float:
                if v - v != 0.0:  # NaN or an infinity
                    break
            elif v is not None and of is not bool:
                break
        else:
            return FlatDict(value)
    if kind is dict or kind is list:
        # Fast paths for containers of exact JSON types; anything else, or
        # any doubt, goes to the exact walk below, which also names the fault.
        # Types are checked, not only equality: IntEnum.X == 1.
        items = value.values() if kind is dict else value
        types = set(map(type, items))
        try:
            if types <= IMMUTABLE:
                # Flat: a shallow copy isolates it. orjson's encode refuses big
                # integers, lone surrogates and non-str keys; it writes NaN and
                # infinities as null, so a float beside a null takes the walk.
                # (find(), not `in`: bytes' `in` first tries the needle as an
                # int and catches the error, about 15% of this path's time.)
                raw = orjson.dumps(value, option=_STRICT)
                if float not in types or raw.find(b"null") < 0:
                    return FlatDict(value) if kind is dict else FlatList(value)
            elif types <= _JSON_TYPES and _plain_below(items):
                # Nested: one orjson round trip is the deep copy, and it equals
                # the original exactly when no NaN or infinity became null.
                copy = orjson.loads(orjson.dumps(value, option=_STRICT))
                if copy == value:
                    return DeepDict(copy) if kind is dict else DeepList(copy)
        except orjson.JSONEncodeError:
            pass
    out = _walk(value, key, 1, set())
    return tag(out) if type(out) is dict or type(out) is list else out


def _plain_below(items: Any) -> bool:
    # Whether every object nested below items has an exact JSON type, at most
    # MAX_DEPTH levels down. Read level by level at C speed: gc.get_referents()
    # gives a container's items (a dict's keys too, unless all are exact str).
    # A cycle is caught by the depth bound.
    level = [c for c in items if type(c) is dict or type(c) is list]
    for _ in range(MAX_DEPTH - 1):
        children = gc.get_referents(*level)
        types = set(map(type, children))
        if not types <= _JSON_TYPES:
            return False
        if dict not in types and list not in types:
            return True
        level = [c for c in children if type(c) is dict or type(c) is list]
    return False


def _walk(value: object, key: str, depth: int, path: set[int]) -> Any:
    # The exact check: exact types only, tuples become lists, and the error
    # says which value is wrong. path holds the containers above this one.
    kind = type(value)
    if kind is str:
        _check_str(value, f"value for key {key!r}:")  # type: ignore[arg-type]
        return value
    if kind is bool or value is None:
        return value
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:  # type: ignore[operator]
            raise ValueError(
                f"value for key {key!r}: integer {value} is outside JSON's 64-bit range"
            )
        return value
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise ValueError(
                f"value for key {key!r}: {value} is not finite; JSON has no NaN or infinity"
            )
        return value
    if kind is dict or kind is list or kind is tuple:
        if id(value) in path:
            raise ValueError(f"value for key {key!r} contains itself; JSON cannot hold a cycle")
        if depth > MAX_DEPTH:
            raise ValueError(
                f"value for key {key!r} nests containers more than {MAX_DEPTH} levels deep, "
                "more than aiokv can write to its file"
            )
        path.add(id(value))
        try:
            if kind is dict:
                out = {}
                for k, v in value.items():  # type: ignore[attr-defined]
                    if type(k) is not str:
                        raise TypeError(
                            f"value for key {key!r}: dict keys must be str, "
                            f"not {type(k).__name__} ({k!r})"
                        )
                    _check_str(k, f"value for key {key!r}: dict key")
                    out[k] = _walk(v, key, depth + 1, path)
                return out
            return [_walk(v, key, depth + 1, path) for v in value]  # type: ignore[attr-defined]
        finally:
            path.discard(id(value))
    raise TypeError(
        f"value for key {key!r}: {kind.__module__}.{kind.__qualname__} is not a JSON "
        "type aiokv can store faithfully (dict, list, tuple, str, int, float, bool, None)"
    )


def tag(value: dict[str, Any] | list[Any]) -> Any:
    """Return a plain container of exact JSON types as its Flat*/Deep* twin."""
    items = value.values() if type(value) is dict else value
    flat = all(type(v) in IMMUTABLE for v in items)
    if type(value) is dict:
        return FlatDict(value) if flat else DeepDict(value)
    return FlatList(value) if flat else DeepList(value)


def json_type(value: object) -> str:
    """Name a value's JSON type for an error message ("an object", "a string"...)."""
    for kind, name in (
        (bool, "a boolean"),
        (str, "a string"),
        (dict, "an object"),
        (list, "an array"),
        (type(None), "null"),
    ):
        if isinstance(value, kind):
            return name
    return "a number"


def copy_out(value: Any) -> Any:
    """Return a stored value as a caller may have it: containers as plain copies."""
    kind = type(value)
    if kind is FlatDict:
        return dict(value)
    if kind is FlatList:
        return list(value)
    if kind in IMMUTABLE:
        return value
    # Stored values round-trip exactly through orjson (which writes the
    # tagged subclasses as plain JSON): the fastest deep copy of a JSON tree.
    return orjson.loads(orjson.dumps(value))


def decode(raw: bytes) -> Any:
    """Parse a state file's bytes (raises orjson.JSONDecodeError)."""
    return orjson.loads(raw)


def encode(state: dict[str, Any]) -> bytes:
    """Serialize a mapping of stored values as one JSON object."""
    return orjson.dumps(state)


def encode_key(key: str) -> bytes:
    """A key as a JSON object's member names it: quoted and escaped."""
    return orjson.dumps(key)


# Every digit becomes "0" and every other byte a space, so a run of digits is
# found by one find() instead of a Python scan.
_DIGIT_RUNS = bytes(ord("0") if chr(b) in "0123456789" else ord(" ") for b in range(256))
# The shortest integer outside -2**63..2**64-1 has 19 digits.
_SHORTEST_INEXACT = b"0" * len(str(INT_MIN).lstrip("-"))


# In a valid JSON text (orjson has read it), a string, or an integer token:
# digits not part of a fraction or an exponent. Scanned, not parsed, so no
# nesting is too deep for it (the json module recurses level by level).
_STRING_OR_INTEGER = re.compile(rb'"(?:[^"\\]|\\.)*"|(?<![0-9.eE+-])(-?[0-9]+)(?![0-9.eE])')


def inexact_integer(raw: bytes) -> str | None:
    """Say which integer of the JSON text raw orjson would read inexactly, if any."""
    # Only a text with a long enough run of digits (anywhere, strings
    # included) is scanned for its integers.
    if raw.translate(_DIGIT_RUNS).find(_SHORTEST_INEXACT) < 0:
        return None
    for token in _STRING_OR_INTEGER.finditer(raw):
        digits = token[1]
        if digits is not None and len(digits) >= len(_SHORTEST_INEXACT):
            number = int(digits)
            if not INT_MIN <= number <= INT_MAX:
                return (
                    f"integer {number} is outside the 64-bit range aiokv reads exactly "
                    "(it would be rounded at the next write)"
                )
    return None
