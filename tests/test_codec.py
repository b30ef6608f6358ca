"""Which values aiokv accepts, how they are copied, and what it refuses."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import fractions
import uuid
from collections import OrderedDict
from typing import Any

import pytest

from aiokv import codec


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    LOW = 1


class Name(str):
    pass


@dataclasses.dataclass
class Point:
    x: int


REFUSED: list[tuple[Any, type[Exception]]] = [
    (float("nan"), ValueError),
    (float("inf"), ValueError),
    (-float("inf"), ValueError),
    (2**64, ValueError),
    (-(2**63) - 1, ValueError),
    ({1: "a"}, TypeError),
    ({"ok": {None: 1}}, TypeError),
    ({"a"}, TypeError),
    (frozenset(), TypeError),
    (b"bytes", TypeError),
    (bytearray(b"x"), TypeError),
    (datetime.datetime(2026, 1, 1), TypeError),
    (datetime.date(2026, 1, 1), TypeError),
    (uuid.UUID(int=1), TypeError),
    (Color.RED, TypeError),
    (Level.LOW, TypeError),
    (Name("x"), TypeError),
    (OrderedDict(a=1), TypeError),
    (Point(1), TypeError),
    (decimal.Decimal("1.5"), TypeError),
    (fractions.Fraction(1, 3), TypeError),
    (object(), TypeError),
    (1j, TypeError),
    ("\ud800", ValueError),
    ({"\udfff": 1}, ValueError),
    ([1, [2, float("nan")]], ValueError),
]


@pytest.mark.parametrize(("value", "error"), REFUSED, ids=lambda v: repr(v)[:30])
def test_unfaithful_values_are_refused_naming_the_key(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="'k'"):
        codec.accept(value, "k")


def test_accept_copies_containers_and_turns_tuples_into_lists() -> None:
    inner = [1, 2]
    value = {"a": inner, "t": (1, (2, 3)), "n": None, "f": 1.5, "b": True}
    out = codec.accept(value, "k")
    assert out == {"a": [1, 2], "t": [1, [2, 3]], "n": None, "f": 1.5, "b": True}
    assert out["a"] is not inner
    inner.append(3)
    assert out["a"] == [1, 2]


def test_integer_bounds_are_orjsons() -> None:
    assert codec.accept(2**64 - 1, "k") == 2**64 - 1
    assert codec.accept(-(2**63), "k") == -(2**63)


def test_copy_out_is_deep_and_keeps_scalars() -> None:
    stored = {"a": [1, {"b": 2}]}
    out = codec.copy_out(stored)
    out["a"][1]["b"] = 99
    assert stored == {"a": [1, {"b": 2}]}
    s = "text"
    assert codec.copy_out(s) is s


@pytest.mark.parametrize("key", [1, None, b"k", ("a",), 1.5])
def test_non_str_keys_raise_type_error(key: Any) -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        codec.check_key(key)


def test_str_subclass_key_is_stored_as_plain_str() -> None:
    key = codec.check_key(Name("x"))
    assert type(key) is str and key == "x"


@pytest.mark.parametrize(
    "value",
    [
        {"a": float("nan")},
        {"a": [float("inf")]},
        {"u": uuid.UUID(int=1)},
        {"e": Color.RED},
        {"t": (1, 2)},
        [Color.RED],
        [uuid.UUID(int=2)],
        [(1,)],
    ],
    ids=repr,
)
def test_fast_path_never_lets_an_unfaithful_container_through(value: Any) -> None:
    # orjson writes these without complaint (null, a str, a list); the copy
    # then differs from the original, and the exact check decides.
    try:
        out = codec.accept(value, "k")
    except (TypeError, ValueError):
        return
    assert out == codec.accept(out, "k")
    assert "(" not in repr(out)  # only tuples are accepted, and they became lists


def test_tag_picks_shallow_or_deep_copies_and_keeps_equality() -> None:
    flat, deep = {"a": 1, "b": "x"}, {"a": [1], "b": {"c": 2}}
    assert type(codec.tag(flat)) is codec.FlatDict and codec.tag(flat) == flat
    assert type(codec.tag(deep)) is codec.DeepDict and codec.tag(deep) == deep
    assert type(codec.tag([1, "x", None])) is codec.FlatList
    assert type(codec.tag([[1]])) is codec.DeepList
    tagged = codec.tag(deep)
    out = codec.copy_out(tagged)
    assert type(out) is dict and out == deep
    out["a"].append(2)
    assert tagged == {"a": [1], "b": {"c": 2}}
    assert codec.encode({"k": tagged}) == b'{"k":{"a":[1],"b":{"c":2}}}'
