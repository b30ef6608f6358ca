"""The Redis campaigns' model and proxy (the campaigns: test_campaigns.py)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest

from aiokv import UnavailableError
from aiokv.redis import RedisKV
from tests.faults import redis_faults
from tests.faults.redis_failovers import AFTER_DEATH, LOSS_BOUND
from tests.faults.redis_faults import LEASE, Case, Fault, Final, Loss, check, status, tokens_ok
from tests.faults.redis_proxy import Faults, Proxy
from tests.redis.conftest import need_redis_server
from tests.redis.server import RedisServer


def test_the_model_allows_only_what_a_call_may_have_done() -> None:
    assert status({"op": "set", "end": "ok"}) == "ok"
    assert status({"op": "set", "end": "unavailable (timeout)"}) == "maybe"
    assert status({"op": "set"}) == "maybe"  # its process was killed during the call
    assert status({"op": "set", "end": "closed"}) == "no"
    assert status({"op": "edit", "end": "cancelled", "phase": "body"}) == "no"
    assert status({"op": "edit", "end": "lease expired", "phase": "end"}) == "no"
    assert status({"op": "edit", "end": "cancelled", "phase": "end"}) == "maybe"
    edits = [("a", "ok"), ("b", "no"), ("c", "maybe"), ("d", "ok")]
    assert tokens_ok(["a", "c", "d"], edits, ordered=True) is None
    assert tokens_ok(["a", "d"], edits, ordered=True) is None
    assert "lost" in str(tokens_ok(["a", "c"], edits, ordered=True))
    assert "never stored" in str(tokens_ok(["a", "b", "d"], edits, ordered=True))
    assert "order" in str(tokens_ok(["d", "a"], edits, ordered=True))
    assert tokens_ok(["d", "a"], edits, ordered=False) is None
    assert "distinct" in str(tokens_ok(["a", "a", "d"], edits, ordered=False))
    writer = redis_faults.Writer(["w:k0"])
    redis_faults.apply(Case(0), {"op": "set", "i": 1, "key": "w:k0", "value": 1}, "ok", writer,
                       redis_faults.Shared())  # fmt: skip
    redis_faults.apply(Case(0), {"op": "delete", "i": 2, "key": "w:k0"}, "maybe", writer,
                       redis_faults.Shared())  # fmt: skip
    assert writer.allowed("w:k0") == [1, None]


def test_a_lease_may_outlive_only_the_faults_that_could_have_granted_it() -> None:
    case = Case(0, faults=[Fault("storm", 10.0, 11.0)])
    # Granted by a request the storm held until its end: it may live a lease more.
    assert not case.lease_outlives(LEASE * 1000 - 50, 11.0)
    assert not case.lease_outlives(None, 20.0)
    assert not case.lease_outlives(-5, 20.0)  # dead: it blocks nothing
    # Live long after every fault: an edit that ended left it behind.
    assert case.lease_outlives(LEASE * 1000 - 50, 13.0)
    case.kills.append(12.5)  # a process killed meanwhile: its lease lives edit_lease at most
    assert not case.lease_outlives(LEASE * 1000 - 600, 13.0)
    assert case.lease_outlives(LEASE * 1000 - 200, 13.0)


def test_the_proxy_forwards_when_calm_and_breaks_connections_in_a_storm() -> None:
    need_redis_server()
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory)).start()
        proxy = Proxy(server.port, seed=1).start()
        try:

            async def main() -> None:
                async with RedisKV(proxy.url, "proxy-test", timeout=0.5) as kv:
                    await kv.set("k", 1)
                    proxy.storm(Faults(rate=1.0))  # every chunk: a fault
                    with pytest.raises(UnavailableError):
                        for _ in range(20):
                            await kv.set("k", 2)
                    proxy.calm()

            asyncio.run(main())
            assert sum(proxy.injected.values()) > 0
            assert server.cli("HGET", "proxy-test", "k").strip() in ("1", "2")
        finally:
            proxy.stop()
            server.stop()


def call(i: int, writer: str, op: str, t1: float, end: str = "ok", store: str = "a",
         **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A call as read_log() joins it: begun 0.05 s before it ended."""
    return {"i": i, "w": writer, "op": op, "s": store, "t0": t1 - 0.05, "t1": t1, "end": end,
            "result": None, "why": None, **fields}  # fmt: skip


def checked(case: Case, log: list[dict[str, Any]], finals: dict[str, dict[str, Any]]) -> Case:
    """check() of one process's log against each store's final state (no lease left)."""
    check(case, [log], lambda name: Final(finals[name], {}, 0, 0.0), sorted(finals))
    return case


# A primary killed at 10.0; the deployment healed at 13.0.
KILLED = Fault("primary kill -9", 10.0, 13.5)
WINDOW = Loss("primary kill -9", 10.0, 10.0 - LOSS_BOUND, 10.0 + AFTER_DEATH)


def with_replicas(replicas: int) -> Case:
    """A case whose primary was killed; without replicas=, with the kill's loss window."""
    return Case(0, faults=[KILLED], losses=[] if replicas else [WINDOW])


def test_not_replicated_is_ambiguous_and_a_lossy_ack_only_in_a_loss_window() -> None:
    assert status({"op": "set", "end": "not replicated"}) == "maybe"
    assert status({"op": "edit", "end": "not replicated", "phase": "end"}) == "maybe"
    assert status({"op": "edit", "end": "not replicated", "phase": "begin"}) == "no"
    lossy = with_replicas(0)
    assert lossy.state({"op": "set", "end": "ok", "t1": 9.6}) == "lossy"
    assert lossy.state({"op": "set", "end": "ok", "t1": 10.0 - LOSS_BOUND - 0.01}) == "ok"
    assert lossy.state({"op": "set", "end": "ok", "t1": 14.0}) == "ok"  # the new primary's
    assert lossy.state({"op": "set", "end": "cancelled", "t1": 9.6}) == "maybe"
    assert with_replicas(1).state({"op": "set", "end": "ok", "t1": 9.6}) == "ok"


def test_a_write_a_failover_undid_is_allowed_only_without_replicas_and_just_before_the_kill() -> (
    None
):
    log = [
        call(1, "w", "set", 5.0, key="w:k0", value=["w", 1]),
        call(2, "w", "set", 9.6, key="w:k0", value=["w", 2]),  # 0.4 s before the kill
    ]
    undone = checked(with_replicas(0), log, {"a": {"w:k0": ["w", 1]}})
    assert undone.problems == [] and undone.lost == 0
    assert undone.tally["acknowledged writes lost in a failover"] == 1
    assert undone.undone == [("primary kill -9", pytest.approx(0.4))]
    # With replicas=1 the same final state lost an acknowledged write.
    exact = checked(with_replicas(1), log, {"a": {"w:k0": ["w", 1]}})
    assert exact.lost == 1 and "acknowledged ['w', 2]" in exact.problems[0]
    # Kept: nothing undone.
    kept = checked(with_replicas(0), log, {"a": {"w:k0": ["w", 2]}})
    assert kept.problems == [] and not kept.tally["acknowledged writes lost in a failover"]
    # Acknowledged long before the kill: the replicas had it; losing it is a failure.
    early = [log[0], call(2, "w", "set", 10.0 - LOSS_BOUND - 0.5, key="w:k0", value=["w", 2])]
    assert checked(with_replicas(0), early, {"a": {"w:k0": ["w", 1]}}).lost == 1
    # A lossy write kept, then a sure one on the new primary: only the sure one may stand.
    later = [*log, call(3, "w", "set", 15.0, key="w:k0", value=["w", 3])]
    assert checked(with_replicas(0), later, {"a": {"w:k0": ["w", 3]}}).problems == []
    assert checked(with_replicas(0), later, {"a": {"w:k0": ["w", 2]}}).lost == 1
    # A lossy delete undone: the key is back with its value before it.
    deleted = [log[0], call(2, "w", "delete", 9.9, key="w:k0")]
    gone = checked(with_replicas(0), deleted, {"a": {"w:k0": ["w", 1]}})
    assert gone.problems == [] and gone.tally["acknowledged writes lost in a failover"] == 1


def test_undone_increments_and_edits_are_counted_and_sure_ones_still_checked() -> None:
    log = [
        *(call(i, "w", "incr", 5.0 + i / 10, key="n.w", result=i) for i in (1, 2, 3)),
        *(call(i, "w", "incr", 9.5 + i / 100, key="n.w", result=i) for i in (4, 5)),
        call(6, "w", "edit", 5.0, key="e.w:list", token="w#6", plan="none", shared=False,
             phase="end", lease=None, tl=5.1),
        call(7, "w", "edit", 9.8, key="e.w:list", token="w#7", plan="none", shared=False,
             phase="end", lease=None, tl=9.9),
        call(8, "w", "edit", 9.8, key="shared:e0", token="w#8", plan="none", shared=True,
             phase="end", lease=None, tl=9.9),
    ]  # fmt: skip
    final = {"n.w": 3, "e.w:list": ["w#6"]}
    case = checked(with_replicas(0), log, {"a": final})
    assert case.problems == []
    assert case.tally["acknowledged writes lost in a failover"] == 2 + 1 + 1
    # Fewer than the sure increments, or a sure edit missing: lost, whatever the windows.
    assert checked(with_replicas(0), log, {"a": {**final, "n.w": 2}}).lost == 1
    assert checked(with_replicas(0), log, {"a": {**final, "e.w:list": []}}).lost == 1
    assert checked(with_replicas(1), log, {"a": final}).lost == 2 + 1  # counter, two lists


def test_each_store_is_checked_against_its_own_calls() -> None:
    log = [
        call(1, "w", "set", 5.0, key="w:k0", value=["w", 1], store="a"),
        call(2, "v", "set", 5.0, key="v:k0", value=["v", 2], store="b"),
    ]
    apart = checked(Case(0), log, {"a": {"w:k0": ["w", 1]}, "b": {"v:k0": ["v", 2]}})
    assert apart.problems == []
    swapped = checked(Case(0), log, {"a": {"v:k0": ["v", 2]}, "b": {"w:k0": ["w", 1]}})
    assert swapped.lost == 2 and any("no one wrote" in p for p in swapped.problems)


def test_a_lease_may_live_on_the_promoted_replica_until_a_lease_after_the_failover() -> None:
    case = Case(0, faults=[KILLED])
    # Renewed on the new primary as it took over (the window's end): it may live a lease more.
    assert not case.lease_outlives(LEASE * 1000 - 50, KILLED.end)
    # Granted on the old primary just before the kill, replicated: dead by its deadline.
    assert not case.lease_outlives((LEASE - 0.2) * 1000, KILLED.start + 0.2)
    # Live a lease after the window: an edit that ended left it behind.
    assert case.lease_outlives(LEASE * 1000 - 50, KILLED.end + LEASE)
