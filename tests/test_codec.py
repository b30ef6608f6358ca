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


def test_str_subclass_key_is_taken_as_its_string_value() -> None:
    for key, expected in ((Name("x"), "x"), (Flag.ON, "on")):
        plain = codec.check_key(key)
        assert type(plain) is str and plain == expected


class Flag(str, enum.Enum):
    ON = "on"


# Values orjson writes without complaint (as null, a str, a number), so a
# comparison with the round-tripped copy alone would let them through.
HIDDEN_INSIDE: list[Any] = [
    {"a": float("nan")},
    {"a": [float("inf")], "b": None},
    {"u": uuid.UUID(int=1)},
    {"e": Color.RED},
    [Color.RED],
    [uuid.UUID(int=2)],
    [Level.LOW],
    {"m": Level.LOW},
    {"m": Flag.ON},
    {Flag.ON: 1},
    {"deep": [[{"x": Level.LOW}]]},
    [1, [2, [Name("x")]]],
    {"ok": 1.5, "nan": float("nan")},
]


@pytest.mark.parametrize("value", HIDDEN_INSIDE, ids=repr)
def test_unfaithful_values_inside_containers_are_refused(value: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="'k'"):
        codec.accept(value, "k")


def _past_small(value: dict[Any, Any]) -> dict[Any, Any]:
    # Up to codec.SMALL_DICT items a dict is checked item by item; past it, by
    # the type set and orjson. Both ways must refuse and accept alike.
    return {**value, **{f"pad{i}": i for i in range(codec.SMALL_DICT)}}


@pytest.mark.parametrize(
    "value",
    [v for v, _ in REFUSED if type(v) is dict] + [v for v in HIDDEN_INSIDE if type(v) is dict],
    ids=repr,
)
def test_a_dict_is_refused_alike_below_and_past_the_small_size(value: dict[Any, Any]) -> None:
    assert len(value) <= codec.SMALL_DICT
    for tried in (value, _past_small(value)):
        with pytest.raises((TypeError, ValueError), match="'k'"):
            codec.accept(tried, "k")


def test_a_flat_dict_is_stored_alike_below_and_past_the_small_size() -> None:
    value = {"s": "x", "i": -(2**63), "u": 2**64 - 1, "f": -2.5, "n": None, "b": True, "é": "ü"}
    for tried in (value, _past_small(value)):
        out = codec.accept(tried, "k")
        assert type(out) is codec.FlatDict and out == tried and out is not tried
        assert [type(v) for v in out.values()] == [type(v) for v in tried.values()]


@pytest.mark.parametrize(
    ("value", "stored"),
    [({"t": (1, 2)}, {"t": [1, 2]}), ([(1,)], [[1]]), ((1, (2, 3)), [1, [2, 3]])],
    ids=repr,
)
def test_tuples_inside_containers_become_lists(value: Any, stored: Any) -> None:
    out = codec.accept(value, "k")
    assert out == stored
    assert "(" not in repr(codec.copy_out(out))


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_values_nested_as_deep_as_the_file_can_hold_are_accepted() -> None:
    out = codec.accept(nested(codec.MAX_DEPTH), "k")
    # The state object adds one level: that is what orjson must still write.
    assert codec.encode({"k": out}).startswith(b'{"k":[[')


@pytest.mark.parametrize("depth", [codec.MAX_DEPTH + 1, 300, 2000])
def test_values_nested_deeper_than_the_file_can_hold_are_refused(depth: int) -> None:
    with pytest.raises(ValueError, match=r"'k' nests containers more than 253 levels"):
        codec.accept(nested(depth), "k")
    with pytest.raises(ValueError, match="'k' nests"):
        codec.accept({"a": nested(depth)}, "k")


def test_cycles_are_refused_with_value_error() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    mapping: dict[str, Any] = {}
    mapping["self"] = {"again": mapping}
    for value in (loop, mapping, [[loop]]):
        with pytest.raises(ValueError, match="'k' contains itself"):
            codec.accept(value, "k")


def test_the_same_object_twice_is_not_a_cycle() -> None:
    shared = [1, 2]
    assert codec.accept({"a": shared, "b": shared, "c": [shared, (shared,)]}, "k") == {
        "a": [1, 2],
        "b": [1, 2],
        "c": [[1, 2], [[1, 2]]],
    }


@pytest.mark.parametrize(
    "value",
    [{"a": 1, "b": "x"}, [1, "x", None, 2.5], {"a": [1], "b": {"c": [None, True]}}, [[1], {}]],
    ids=repr,
)
def test_containers_are_stored_tagged_for_the_cheapest_isolating_copy(value: Any) -> None:
    out = codec.accept(value, "k")
    flat = all(
        type(v) in codec.IMMUTABLE for v in (value.values() if type(value) is dict else value)
    )
    expected = {
        (dict, True): codec.FlatDict,
        (dict, False): codec.DeepDict,
        (list, True): codec.FlatList,
        (list, False): codec.DeepList,
    }[(type(value), flat)]
    assert type(out) is expected and out == value
    copy = codec.copy_out(out)
    assert type(copy) is type(value) and copy == value


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
