"""The flush policy as a table: clock readings in, waits out, no sleeping."""

from __future__ import annotations

import pytest

from aiokv.policy import MAX_BACKOFF, FlushPolicy

DELAY, CAP = 0.5, 2.0


def policy() -> FlushPolicy:
    return FlushPolicy(DELAY, CAP)


def test_first_change_waits_one_delay() -> None:
    assert policy().first_change(now=10.0) == DELAY


@pytest.mark.parametrize(
    ("fired_at", "quiet", "expected"),
    [
        (10.5, True, None),  # quiet for a whole delay: write
        (10.5, False, DELAY),  # written to since: wait another delay
        (11.8, False, pytest.approx(0.2)),  # ...but never past the cap
        (12.0, False, None),  # the cap is reached: write even under writes
        (13.0, False, None),  # late timer (busy loop): write at once
    ],
)
def test_debounce_and_cap(fired_at: float, quiet: bool, expected: float | None) -> None:
    p = policy()
    p.first_change(now=10.0)
    assert p.timer_fired(fired_at, quiet) == expected


def test_a_never_pausing_writer_is_saved_every_cap() -> None:
    # Timer fires every delay, never quiet; writes happen at 2, 4, 6 s.
    p = policy()
    now = 0.0
    p.first_change(now)
    writes = []
    while now < 7.0:
        wait = p.timer_fired(now + DELAY, quiet=False)
        now += DELAY
        if wait is None:
            writes.append(now)
            p.write_started(now)
            p.write_finished(now, ok=True)
    assert writes == [2.0, 4.0, 6.0]


def test_changes_during_a_write_wait_from_its_start() -> None:
    p = policy()
    p.first_change(now=0.0)
    p.write_started(now=3.0)
    # The write took 0.1 s; changes came meanwhile: due after one delay.
    assert p.write_finished(now=3.1, ok=True) == DELAY
    # A long write (longer than the cap): the changes are due at once.
    p.write_started(now=5.0)
    assert p.write_finished(now=7.5, ok=True) == 0.0


@pytest.mark.parametrize(
    ("failures", "backoff"),
    [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (9, 25.6), (10, MAX_BACKOFF), (50, MAX_BACKOFF)],
)
def test_failed_writes_back_off_exponentially_up_to_a_bound(failures: int, backoff: float) -> None:
    p = policy()
    p.first_change(now=0.0)
    now = 0.0
    for _ in range(failures):
        p.write_started(now)
        wait = p.write_finished(now, ok=False)
    assert p.backoff == pytest.approx(backoff)
    assert wait == pytest.approx(max(backoff, DELAY))
    # The timer that fires before the backoff ends waits for it, quiet or not.
    assert p.timer_fired(now + backoff / 2, quiet=True) == pytest.approx(backoff / 2)
    assert p.timer_fired(now + backoff, quiet=True) is None


def test_a_success_ends_the_backoff() -> None:
    p = policy()
    p.first_change(now=0.0)
    for _ in range(5):
        p.write_finished(now=0.0, ok=False)
    assert p.write_finished(now=1.0, ok=True) == DELAY  # no backoff; the cap has 1 s left
    assert p.backoff == 0.0 and p.failures == 0
    assert p.timer_fired(1.0, quiet=True) is None


def test_zero_delay_writes_at_the_next_turn() -> None:
    p = FlushPolicy(0.0, 0.0)
    assert p.first_change(now=5.0) == 0.0
    assert p.timer_fired(5.0, quiet=False) is None


@pytest.mark.parametrize(
    ("outcomes", "unsaved_since", "due_in"),
    [
        # One write at 3.0 of the changes of 0.0 (and of those after 3.0).
        ([True], 3.0, DELAY),  # saved: what is unsaved came after 3.0
        ([False], 0.0, 0.1),  # failed: its changes still wait since 0.0, overdue
        # Writes at 3.0, 3.1, 3.2...: a run of failures never restarts the wait.
        ([False, False, False], 0.0, 0.4),
        ([False, False, True], 3.2, DELAY),  # the third got through
    ],
)
def test_a_failed_write_leaves_its_changes_waiting_since_they_were_made(
    outcomes: list[bool], unsaved_since: float, due_in: float
) -> None:
    p = policy()
    p.first_change(now=0.0)
    for n, ok in enumerate(outcomes):
        now = 3.0 + n / 10
        p.write_started(now)
        assert p.unsaved_since <= now  # under way, its changes are not on disk yet
        wait = p.write_finished(now, ok)
    assert p.unsaved_since == pytest.approx(unsaved_since)
    assert wait == pytest.approx(due_in)


def test_under_an_outage_the_retry_comes_at_the_backoff_not_a_new_cap() -> None:
    # Changes older than the cap wait only for the backoff: the timer that
    # fires then writes at once, quiet or not.
    p = policy()
    p.first_change(now=0.0)
    p.write_started(now=2.0)
    assert p.write_finished(now=2.0, ok=False) == pytest.approx(0.1)
    assert p.timer_fired(2.05, quiet=False) == pytest.approx(0.05)
    assert p.timer_fired(2.1, quiet=False) is None
