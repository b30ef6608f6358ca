"""aiokv/changelog.py: the change log the pieces are brought up to date with, pure."""

from __future__ import annotations

from aiokv.changelog import ChangeLog


def test_the_change_log_hands_over_what_changed_and_takes_back_a_write_that_failed() -> None:
    log = ChangeLog()
    log.stored("a")
    log.stored("b")
    log.left_dict(["a"])
    changed, dropped = log.take()
    assert changed == {"b": None} and dropped == {"a"} and log.take() == ({}, set())
    log.stored("c")
    log.give_back(changed, dropped)
    assert list(log.changed) == ["b", "c"] and log.dropped == {"a"}
    log.clear()
    assert log.take() == ({}, set())


def test_a_key_dropped_from_the_dict_loses_its_place_among_the_changed() -> None:
    log = ChangeLog()
    for key in ("a", "b", "c"):
        log.stored(key)
    log.left_dict(["b"])
    log.stored("b")  # stored again: after c, as the dict puts it
    assert list(log.changed) == ["a", "c", "b"] and log.dropped == {"b"}
