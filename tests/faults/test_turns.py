"""The edit turns campaign's replay (the campaign: test_campaigns.py)."""

from __future__ import annotations

from tests.faults import turns


def test_the_replay_catches_a_write_under_an_edit() -> None:
    start = [("update", {"k": (1,)}), ("read", "k", (1,))]
    assert turns.replay([*start, ("store", "k", (1,), (1, 3))], {"k": (1, 3)}) is None
    under = [*start, ("set", "k", (2,)), ("store", "k", (1,), (1, 3))]
    assert "landed under this edit" in str(turns.replay(under, {"k": (1, 3)}))
    assert turns.replay([*start, ("incr", "k", 1, 2)], {"k": 2}) is not None  # "k" holds a list
    assert turns.replay([("incr", "n", 2, 2), ("incr", "n", 1, 3)], {"n": 3}) is None


def test_the_replay_tries_every_instant_of_a_clear_and_only_those() -> None:
    log = [("set", "k", (1,)), ("clear-call", 0, ""), ("set", "j", (2,)), ("clear-done", 0)]
    assert turns.replay(log, {}) is None  # it applied after the set of "j"
    assert turns.replay(log, {"j": (2,)}) is None  # or before it
    assert turns.replay(log, {"k": (1,), "j": (2,)}) is not None  # it did apply
    seen = [*log[:3], ("get", "k", (1,)), ("clear-done", 0)]
    assert turns.replay(seen, {}) is None and turns.replay(seen, {"j": (2,)}) is not None
    cancelled = [("set", "k", (1,)), ("clear-call", 0, "k"), ("clear-cancelled", 0)]
    assert turns.replay(cancelled, {}) is None and turns.replay(cancelled, {"k": (1,)}) is None
    assert turns.replay([*cancelled, ("set", "x", (3,))], {"x": (3,)}) is None
