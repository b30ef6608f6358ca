"""Keys and values in and out: validation, isolation copies, orjson encoding."""

from __future__ import annotations

import math
from typing import Any

import orjson

# Values handed out as they are: nothing a caller does to them reaches the store.
IMMUTABLE: frozenset[type] = frozenset({str, int, float, bool, type(None)})

# The integers orjson reads and writes exactly.
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1

# orjson raises on these instead of quietly writing a base type (a str
# subclass, an IntEnum, a datetime, a dataclass): refused, as a reload would
# not give them back.
_STRICT = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


# Stored containers are tagged the first time get() meets them, so later
# reads copy them the cheapest way that still isolates them.
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
    if not isinstance(key, str):
        raise TypeError(f"aiokv keys must be str, not {type(key).__name__}: {key!r}")
    key = str(key)  # a str subclass comes back from the file as plain str
    _check_str(key, "key")
    return key


def _check_str(s: str, what: str) -> None:
    # orjson refuses lone surrogates at dumps time; refuse them now instead.
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{what} {s!r} holds a lone surrogate, which JSON cannot store"
            ) from None


def accept(value: object, key: str) -> Any:
    """Return a private copy of value, or raise if a reload would not give it back."""
    kind = type(value)
    if kind is dict or kind is list:
        # Fast path: one orjson round trip is the copy, and it equals the
        # original exactly when the value is faithful. NaN and infinities
        # (written as null), UUIDs and enums (written as their value) and
        # tuples (written as lists) compare unequal and take the slow path.
        try:
            copy = orjson.loads(orjson.dumps(value, option=_STRICT))
        except orjson.JSONEncodeError:
            pass
        else:
            if copy == value:
                return copy
    return _walk(value, key)


def _walk(value: object, key: str) -> Any:
    # The exact check: exact types only, tuples become lists, and the error
    # says which value is wrong.
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
    if kind is dict:
        out = {}
        for k, v in value.items():  # type: ignore[attr-defined]
            if type(k) is not str:
                raise TypeError(
                    f"value for key {key!r}: dict keys must be str, not {type(k).__name__} ({k!r})"
                )
            _check_str(k, f"value for key {key!r}: dict key")
            out[k] = _walk(v, key)
        return out
    if kind is list or kind is tuple:
        return [_walk(v, key) for v in value]  # type: ignore[attr-defined]
    raise TypeError(
        f"value for key {key!r}: {kind.__module__}.{kind.__qualname__} is not a JSON "
        "type aiokv can store faithfully (dict, list, tuple, str, int, float, bool, None)"
    )


def tag(value: dict[str, Any] | list[Any]) -> Any:
    """Return a stored plain container as its Flat*/Deep* twin (equal, same JSON)."""
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
