"""The room that sends a write with its WAIT: how long WAIT may take."""

from __future__ import annotations

import pytest

from aiokv.redis.replicated import wait_within


@pytest.mark.parametrize(
    ("left", "wait_ms"),
    [
        (5.0, 4000),  # a fifth left for the answer
        (2.0, 1600),
        (1.0, 750),  # at least a quarter second left for it,
        (0.5, 250),
        (0.4, 250),  # while WAIT keeps a quarter second itself;
        (0.3, 240),  # below, WAIT keeps its share: replicas that
        (0.15, 120),  # confirm need the time more than a refusal
        (0.001, 1),
        (0.0, 1),  # WAIT 0 would wait forever: the least it takes is 1 ms
        (-0.3, 1),  # the time ran out on a try before
    ],
)
def test_wait_leaves_its_answer_time_to_come_back(left: float, wait_ms: int) -> None:
    assert wait_within(left) == wait_ms
