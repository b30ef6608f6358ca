"""Every fault campaign under pytest, one test each, at its bounded size.

The campaigns are the report's (tests.faults.report.CAMPAIGNS), each a module
whose run() returns its Result row; AIOKV_LONG=1 runs the deep sizes (run()'s
default). What a campaign must show beyond Result.check() is data in EXPECT.
The tests of a campaign's own checker stay in its test_<campaign>.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import pytest

from tests.faults import hostile, kills, order, redis_failovers, redis_faults, syscalls
from tests.faults.report import CAMPAIGNS, name
from tests.redis.conftest import need_redis_server


@dataclass(frozen=True)
class Expect:
    """What a campaign's run must show besides Result.check()."""

    min_cases: int = 1
    # A run of no case with a note (strace missing, ptrace not permitted) is a skip.
    skip_when_not_run: bool = False
    # Called first: skips without its programs (fails under AIOKV_REQUIRE_REDIS=1, as in CI).
    needs: Callable[[], None] | None = None
    # Keys of Result.tally the run must have counted: what it says it breaks, it broke.
    injected: tuple[str, ...] = ()


REDIS_INJECTED = (
    *(f"server {kind}" for kind in ("kill -9", "restart", "short pause", "long pause")),
    "client kill -9",
    "calls lease expired",
    *(f"proxy {kind}" for kind in ("delay", "stall", "drop", "reset")),
    # an edit cancelled at every await
    *(f"cancelled: {phase}" for phase in ("begin", "body", "end", "cleanup")),
)

FAILOVERS_INJECTED = (
    *(f"sentinel {kind}" for kind in ("primary kill -9 (replicas behind)", "primary pause")),
    "sentinel replica kill -9",
    *(f"cluster {kind}" for kind in ("primary kill -9", "primary kill -9 (replicas behind)")),
    "cluster slot migration",
    "client kill -9",
    "calls not replicated",  # replicas=1 met a primary its replicas had fallen behind
    # replicas=0 lost what a primary acknowledged after its replicas fell behind (allowed)
    "acknowledged writes lost in a failover",
    # a write to a frozen primary resumed after a failover: with replicas=1 never
    # confirmed; without, acknowledged and gone once Sentinel demotes it
    "resumed primary probe: not replicated",
    "resumed primary probe: lost at its demotion",
)

# The campaigns that must show more; every other one: Expect().
EXPECT = {
    syscalls: Expect(skip_when_not_run=True),
    order: Expect(skip_when_not_run=True),
    kills: Expect(min_cases=30),
    hostile: Expect(min_cases=5),
    redis_faults: Expect(needs=need_redis_server, injected=REDIS_INJECTED),
    redis_failovers: Expect(
        min_cases=8, needs=lambda: need_redis_server("redis-cli"), injected=FAILOVERS_INJECTED
    ),
}
assert set(EXPECT) <= set(CAMPAIGNS), "EXPECT names a campaign the report does not run"


@pytest.mark.parametrize(
    ("campaign", "expect"),
    [pytest.param(c, EXPECT.get(c, Expect()), id=name(c)) for c in CAMPAIGNS],
)
def test_every_case_of_the_campaign_survives(campaign: ModuleType, expect: Expect) -> None:
    if expect.needs is not None:
        expect.needs()
    result = campaign.run()
    if expect.skip_when_not_run and result.cases == 0 and result.notes:
        pytest.skip(result.notes[0])
    result.check()
    assert result.cases >= expect.min_cases, f"{name(campaign)}: only {result.cases} cases ran"
    for what in expect.injected:
        assert result.tally[what], f"{name(campaign)}: no {what!r} in the run"
