"""The lifecycle races campaign's replay (the campaign: test_campaigns.py)."""

from __future__ import annotations

from tests.faults import races


def test_the_replay_checker_catches_a_lost_write() -> None:
    log = [("set", "a", 1), ("update", {"b": 2}), ("incr", "n", 1), ("incr", "n", 1)]
    assert races.replay(log) == {"a": 1, "b": 2, "n": 2}
    assert races.replay([*log, ("clear",), ("set", "c", 3)]) == {"c": 3}
    assert races.replay([*log, ("delete", "a")]) != races.replay(log)
