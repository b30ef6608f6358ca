"""aiokv/api.py: the checks and messages both stores share, without a store."""

from __future__ import annotations

import time
from collections import OrderedDict
from enum import IntEnum
from typing import Any

import pytest

from aiokv import api, codec


class Level(IntEnum):
    ONE = 1


def test_key_takes_a_plain_ascii_str_as_it_is_and_checks_the_rest() -> None:
    assert api.key("guild:42") == "guild:42"
    assert api.key("caf\u00e9") == "caf\u00e9"
    with pytest.raises(TypeError, match="keys must be str"):
        api.key(42)
    with pytest.raises(ValueError, match="reserved"):
        api.key(codec.VERSION_KEY)
    with pytest.raises(ValueError, match="lone surrogate"):
        api.key("\ud800")


def test_value_is_what_set_stores() -> None:
    before = int(time.time())
    assert before <= api.value(codec.NOW, "k") <= int(time.time())
    assert api.value("text", "k") == "text" and api.value(2**64 - 1, "k") == 2**64 - 1
    assert api.value((1, 2), "k") == [1, 2]
    with pytest.raises(ValueError, match="64-bit"):
        api.value(2**64, "k")
    with pytest.raises(ValueError, match="lone surrogate"):
        api.value("\udc80", "k")
    with pytest.raises(TypeError, match="'k'"):
        api.value(Level.ONE, "k")


def test_accepted_checks_every_key_and_value_before_any_is_kept() -> None:
    assert api.accepted(OrderedDict(a=1, b=[2])) == {"a": 1, "b": [2]}
    with pytest.raises(TypeError, match="takes a mapping, not list"):
        api.accepted([("a", 1)])
    with pytest.raises(ValueError, match="'b'"):
        api.accepted({"a": 1, "b": float("nan")})


def test_accepted_state_names_its_source() -> None:
    with pytest.raises(TypeError, match="migrate\\(\\) returned list"):
        api.accepted_state([], "migrate()")
    with pytest.raises(ValueError, match="migrate\\(\\) returned a state aiokv cannot store"):
        api.accepted_state({"a": float("inf")}, "migrate()")


@pytest.mark.parametrize("by", ["1", None, True, Level.ONE])
def test_check_by_takes_ints_and_floats_only(by: Any) -> None:
    with pytest.raises(TypeError, match="by must be an int or float"):
        api.check_by("n", by)


def test_incremented_counts_absent_as_zero_and_refuses_what_set_would() -> None:
    assert api.incremented("n", codec.MISSING, 2) == 2
    assert api.incremented("n", 1.5, 1) == 2.5
    with pytest.raises(TypeError, match="stored value is a string, not a number"):
        api.incremented("n", "1", 1)
    with pytest.raises(ValueError, match="64-bit"):
        api.incremented("n", 2**64 - 1, 1)


def test_editable_is_a_private_copy_of_a_dict_or_a_list() -> None:
    stored = codec.accept({"a": [1]}, "k")
    got = api.editable("k", stored, codec.MISSING)
    got["a"].append(2)
    assert stored == {"a": [1]} and type(got) is dict
    assert api.editable("k", codec.MISSING, ()) == [] and type(api.editable("k", [], 0)) is list
    with pytest.raises(KeyError, match="absent and no default"):
        api.editable("k", codec.MISSING, codec.MISSING)
    with pytest.raises(TypeError, match="stored value is a number; edit\\(\\) changes"):
        api.editable("k", 3, codec.MISSING)
    with pytest.raises(TypeError, match="stored value is a string"):
        api.editable("k", codec.MISSING, "default")


def test_editing_itself_names_the_key() -> None:
    assert "'k' is being edited by this very task" in str(api.editing_itself("k"))
