"""The Redis campaign's model and proxy (the campaign: test_campaigns.py)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from aiokv import UnavailableError
from aiokv.redis import RedisKV
from tests.faults import redis_faults
from tests.faults.redis_faults import LEASE, Case, Fault, status, tokens_ok
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
