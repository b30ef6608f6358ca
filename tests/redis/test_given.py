"""RedisKV on a client the user made: checked, bounded by the store's timeout, left open."""

from __future__ import annotations

import asyncio
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.crc import key_slot

from aiokv import AioKVError, ClosedError, NotReplicatedError, UnavailableError
from aiokv.redis import RedisKV, scripts
from aiokv.redis.replicated import wait_within
from tests.redis.deployments import ClusterDeployment, SentinelDeployment
from tests.redis.server import RedisServer

# ms a busy machine may take between a write's start and its WAIT's
# sending: WAIT gets that much less of the timeout.
_LATE_MS = 100


def no_retry() -> Retry:
    """The retry policy RedisKV asks of a client: none."""
    return Retry(NoBackoff(), 0)


def client_of(server: RedisServer, **options: Any) -> aioredis.Redis:
    """A redis.asyncio client of server that never resends a command."""
    return aioredis.Redis(host="127.0.0.1", port=server.port, retry=no_retry(), **options)


def test_a_client_given_runs_the_store_and_stays_open_after_aclose(
    server: RedisServer, name: str
) -> None:
    async def main() -> None:
        client = client_of(server)
        async with RedisKV(client, name=name) as kv:
            assert kv.url == f"redis://127.0.0.1:{server.port}/0"
            await kv.set("a", {"x": 1})
            assert await kv.incr("n", 2) == 2
            async with kv.edit("l", []) as items:
                items.append(1)
            await kv.namespace("ns").set("k", True)
            assert await kv.get_all() == {"a": {"x": 1}, "n": 2, "l": [1], "ns:k": True}
            await kv.clear("ns:")
            assert await kv.keys() == ["a", "n", "l"]
        # The store closed; the client is the caller's, and still works.
        assert await client.hget(name, "n") == b"2"
        with pytest.raises(ClosedError):
            await kv.get("a")
        # A second store on the same client shares it.
        async with RedisKV(client, name=name) as again, RedisKV(client, name=name + "x") as other:
            assert await again.get("n") == 2
            await other.set("k", 1)
        assert await client.hget(name + "x", "k") == b"1"
        await client.aclose()

    asyncio.run(main())


class Recording(aioredis.Redis):
    """A real client that counts its aclose() calls."""

    closes = 0

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Count, then close as redis-py does."""
        self.closes += 1
        await super().aclose(close_connection_pool)


def test_close_client_closes_the_client_given_even_if_never_used(
    server: RedisServer, name: str
) -> None:
    async def main() -> None:
        def make() -> Recording:
            return Recording(host="127.0.0.1", port=server.port, retry=no_retry())

        used, unused, kept = make(), make(), make()
        async with RedisKV(used, name=name, close_client=True) as kv:
            await kv.set("k", 1)
        await kv.aclose()  # a second aclose() closes nothing more
        await RedisKV(unused, name=name, close_client=True).aclose()
        async with RedisKV(kept, name=name) as kv:
            await kv.set("k", 2)
        assert (used.closes, unused.closes, kept.closes) == (1, 1, 0)
        # Closed: its pool's connections are disconnected.
        connections = used.connection_pool._available_connections
        assert connections and not any(c.is_connected for c in connections)
        await kept.aclose()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda port: aioredis.Redis(port=port), ValueError, r"\d+ retries"),
        (
            # A pool's connections retry once on retry_on_error alone.
            lambda port: aioredis.Redis(
                connection_pool=aioredis.ConnectionPool(port=port, retry_on_error=[OSError])
            ),
            ValueError,
            "1 retry:",
        ),
        (
            lambda port: aioredis.Redis(port=port, retry=no_retry(), decode_responses=True),
            ValueError,
            "decode_responses=True",
        ),
        (lambda port: redis.Redis(port=port), TypeError, "redis.client.Redis"),
        (lambda port: f"redis://127.0.0.1:{port}/0".encode(), TypeError, "builtins.bytes"),
        (
            lambda port: Sentinel([("127.0.0.1", port)]).slave_for("svc", retry=no_retry()),
            ValueError,
            "slave_for",
        ),
    ],
    ids=["default-retries", "retry-on-error", "decode-responses", "sync", "bytes", "replicas"],
)
def test_a_client_it_cannot_run_on_is_refused_at_construction_saying_what_to_give(
    make: Any, error: type[Exception], words: str
) -> None:
    async def main() -> None:
        given = make(6379)
        with pytest.raises(error, match=words) as raised:
            RedisKV(given, name="bot")
        if error is ValueError:
            assert "localhost:6379" in str(raised.value) or "Sentinel" in str(raised.value)

    asyncio.run(main())


def test_a_client_without_socket_timeouts_is_bounded_by_the_store_s_timeout(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()

    async def main() -> None:
        client = client_of(own_server)  # socket_timeout None: it would wait forever
        async with RedisKV(client, name=name, timeout=0.5) as kv:
            await kv.set("k", 1)
            own_server.pause()
            try:
                for op in (lambda: kv.get("k"), lambda: kv.set("k", 2), lambda: kv.keys()):
                    started = time.monotonic()
                    with pytest.raises(UnavailableError, match="no answer in time"):
                        await op()
                    assert time.monotonic() - started < 2
            finally:
                own_server.resume()
            # The connections a timeout cut are dropped, not reused mid-reply.
            assert await kv.get("k") in (1, 2)
            await kv.set("k", 3)
            assert await kv.get("k") == 3
        await client.aclose()

    asyncio.run(main())


def test_replicas_without_a_replica_raise_not_replicated_and_the_primary_keeps_the_write(
    server: RedisServer, name: str
) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name) as plain:
            # The server knows the script: a first EVALSHA it lacks would
            # spend a WAIT of its own, and leave the one that counts less.
            await plain.set("other", 0)
        # A timeout of 2 s leaves WAIT's answer 0.4 s to come back, which a
        # shared machine's loop needs (0.1 s was not always enough).
        async with RedisKV(server.url, name=name, replicas=1, timeout=2) as kv:
            started = time.monotonic()
            with pytest.raises(NotReplicatedError) as raised:
                await kv.set("k", 1)
            # WAIT's own limit is most of the timeout: the server's answer,
            # not the connection's timeout, ends it.
            assert wait_within(2) - _LATE_MS <= raised.value.waited_ms <= wait_within(2)
            assert time.monotonic() - started >= raised.value.waited_ms / scripts.MS_PER_S
            assert raised.value.confirmed == 0 and raised.value.wanted == 1
            assert isinstance(raised.value, UnavailableError)
            assert f"(hash {name!r})" in str(raised.value)
            assert "may or may not survive a failover" in str(raised.value)
            again = pickle.loads(pickle.dumps(raised.value))
            assert str(again) == str(raised.value)
        async with RedisKV(server.url, name=name) as plain:
            assert await plain.get("k") == 1  # on the primary

    asyncio.run(main())


@pytest.mark.parametrize("replicas", [0, 1, 2])
def test_replicas_that_confirm_acknowledge_every_write_and_edit(
    server: RedisServer, name: str, tmp_path: Path, replicas: int
) -> None:
    followers = [
        RedisServer(tmp_path / f"replica{i}", "--replicaof", "127.0.0.1", str(server.port))
        for i in range(2)
    ]
    for follower in followers:
        follower.start()
    try:
        for follower in followers:
            while "master_link_status:up" not in follower.cli("INFO", "replication"):
                time.sleep(0.02)

        async def main() -> None:
            for source in (server.url, client_of(server)):
                async with RedisKV(source, name=name, replicas=replicas, timeout=5) as kv:
                    await kv.set("a", 1)
                    await kv.update({"b": 2, "c": 3})
                    await kv.incr("n")
                    await kv.incr("f", 0.5)
                    await kv.delete("c")
                    async with kv.edit("l", []) as items:
                        items.append(1)
                    await kv.clear("zz")
                # Every acknowledged write is on as many replicas as asked for.
                having = [
                    f
                    for f in followers
                    if f.cli("HGET", name, "n").strip() == "1"
                    and f.cli("HGET", name, "l").strip() == "[1]"
                    and f.cli("HEXISTS", name, "c").strip() == "0"
                ]
                assert len(having) >= replicas
                server.cli("DEL", name)
                if not isinstance(source, str):
                    await source.aclose()

        asyncio.run(main())
    finally:
        for follower in followers:
            follower.stop()


@pytest.mark.parametrize("replicas", [-1, 1.0, True, "1", None, 2**63, 10**20])
def test_replicas_must_be_a_whole_number_wait_takes(replicas: Any) -> None:
    # 2**63 and past: WAIT refuses the count, after the write it follows
    # was applied (the server said "out of range": "refused", though applied).
    with pytest.raises(ValueError, match="replicas must be a whole number"):
        RedisKV("redis://127.0.0.1:6379/0", name="bot", replicas=replicas)


def test_a_server_that_will_not_wait_is_refused_before_anything_is_written(
    server: RedisServer, name: str, tmp_path: Path
) -> None:
    # Each write is a script, then WAIT: a WAIT refused after the script ran
    # would leave the write applied, and neither acknowledged nor refused. The
    # store asks with nothing to wait for, before its first write.
    replica = RedisServer(tmp_path / "replica", "--replicaof", "127.0.0.1", str(server.port))
    server.cli("ACL", "SETUSER", "nowait", "on", ">pw", "~*", "+@all", "-wait")
    try:
        replica.start()
        nowait = server.url.replace("redis://", "redis://nowait:pw@")
        cases = [(nowait, "no permissions"), (replica.url, "replica")]

        async def main() -> None:
            for url, words in cases:
                async with RedisKV(url, name=name, replicas=1, timeout=1) as kv:
                    writes = [kv.set("k", 1), kv.incr("n"), kv.update({"u": 1}), kv.delete("k")]
                    for write in writes:
                        with pytest.raises(ValueError, match="replicas= needs WAIT, which the "
                                           "server refuses") as raised:  # fmt: skip
                            await write
                        assert words in str(raised.value) and f"(hash {name!r})" in str(
                            raised.value
                        )
                    with pytest.raises(ValueError, match="needs WAIT"):
                        async with kv.edit("e", []):
                            pytest.fail("the block ran")
            assert server.cli("EXISTS", name, f"aiokv-edits:{name}").strip() == "0"

        asyncio.run(main())
    finally:
        server.cli("ACL", "DELUSER", "nowait")
        replica.stop()


def test_an_edit_whose_lease_too_few_replicas_confirm_does_not_run(
    server: RedisServer, name: str
) -> None:
    # The lease is a write too: unconfirmed, the edit does not run, and the
    # error says so (not NotReplicatedError's "the primary applied the
    # write": nothing of the edit's was). The lease it took is ended before
    # the edit returns, by a request that waits for no replica: none is
    # left blocked in a WAIT, keeping a connection from the writes after.
    async def main() -> None:
        async with RedisKV(server.url, name=name, replicas=1, timeout=2) as kv:
            for _ in range(2):  # the second edit finds the key free
                with pytest.raises(UnavailableError) as raised:
                    async with kv.edit("k", []):
                        pytest.fail("the block ran")
                assert not isinstance(raised.value, NotReplicatedError)
                assert "did not run and stored nothing" in str(raised.value)
                assert "0 of the 1 replicas asked for confirmed it" in str(raised.value)
                assert server.cli("EXISTS", f"aiokv-edits:{name}").strip() == "0"
                assert "cmd=wait" not in server.cli("CLIENT", "LIST")
        assert server.cli("EXISTS", name, f"aiokv-edits:{name}").strip() == "0"

    asyncio.run(main())


def test_a_replica_that_stops_confirming_fails_the_writes_that_need_it(
    server: RedisServer, name: str, tmp_path: Path
) -> None:
    # WAIT counts what the replicas confirmed of its own connection's writes:
    # sent on another connection (one that wrote nothing), it would count
    # the stopped replica too, and this test would see no error.
    followers = [
        RedisServer(tmp_path / f"replica{i}", "--replicaof", "127.0.0.1", str(server.port))
        for i in range(2)
    ]
    for follower in followers:
        follower.start()
    try:
        for follower in followers:
            while "master_link_status:up" not in follower.cli("INFO", "replication"):
                time.sleep(0.02)

        async def main() -> None:
            for source in (server.url, client_of(server)):
                async with (
                    RedisKV(source, name=name, replicas=2, timeout=5) as settled,
                    RedisKV(source, name=name, replicas=2, timeout=2) as both,
                    RedisKV(source, name=name, replicas=1, timeout=1) as one,
                ):
                    # Both replicas confirm (a replica fresh from its first
                    # sync may take longer than the short timeout).
                    await settled.set("k", 1)
                    await both.set("k", 1)
                    followers[1].pause()
                    try:
                        with pytest.raises(NotReplicatedError) as raised:
                            await both.set("k", 2)
                        assert (raised.value.confirmed, raised.value.wanted) == (1, 2)
                        with pytest.raises(NotReplicatedError):
                            await both.incr("n")
                        await one.set("k", 3)  # one replica is enough for it
                        assert followers[0].cli("HGET", name, "k").strip() == "3"
                    finally:
                        followers[1].resume()

        asyncio.run(main())
    finally:
        for follower in followers:
            follower.stop()


def test_a_password_the_server_wants_is_asked_of_the_client_not_the_url(
    name: str, tmp_path: Path
) -> None:
    guarded = RedisServer(tmp_path / "guarded", "--requirepass", "s3cret")
    guarded.start()
    try:

        async def main() -> None:
            for password, words in [
                (None, "the client gives none .*make the client with password="),
                ("wrong", "refused the credentials"),
            ]:
                client = client_of(guarded, password=password)
                with pytest.raises(UnavailableError, match=words) as raised:
                    async with RedisKV(client, name=name, close_client=True):
                        pass
                assert "wrong" not in str(raised.value)
            async with RedisKV(
                client_of(guarded, password="s3cret"), name=name, close_client=True
            ) as kv:
                await kv.set("k", 1)

        asyncio.run(main())
    finally:
        guarded.stop()


SHORT = {"socket_timeout": 0.1, "socket_connect_timeout": 0.1}  # within half of 1 s


@pytest.mark.parametrize(
    ("make", "words"),
    [
        # redis-py's defaults: none before 8.0, 5 s since; so where a case
        # turns on the connect timeout, it is given.
        (lambda: RedisCluster(host="127.0.0.1", port=7000, retry=no_retry()), "it has"),
        (
            lambda: RedisCluster(host="127.0.0.1", port=7000, retry=no_retry(), socket_timeout=1),
            "it has 1,",
        ),
        (lambda: Sentinel([("127.0.0.1", 26379)]).master_for("s", retry=no_retry()), "it has"),
        (
            lambda: Sentinel(
                [("127.0.0.1", 26379)],
                sentinel_kwargs={"socket_timeout": 0.1, "socket_connect_timeout": 5},
            ).master_for("s", retry=no_retry()),
            "it has 0.1, and 5 to connect",
        ),
        (
            lambda: Sentinel(
                [("127.0.0.1", 26379)], sentinel_kwargs={"socket_timeout": 0}
            ).master_for("s", retry=no_retry()),
            "it has 0,",  # 0: every command gives up at once
        ),
        (lambda: RedisCluster(host="127.0.0.1", port=7000, retry=no_retry(), **SHORT), None),
        (
            lambda: Sentinel(
                [("127.0.0.1", 26379)], sentinel_kwargs={**SHORT, "retry": no_retry()}
            ).master_for("s", retry=no_retry()),
            None,
        ),
    ],
    ids=[
        "cluster",
        "cluster-long",
        "sentinel",
        "sentinel-connect",
        "sentinel-zero",
        "cluster-ok",
        "sentinel-ok",
    ],
)
def test_a_cluster_or_sentinel_client_needs_socket_timeouts_within_the_store_s(
    make: Any, words: str | None
) -> None:
    # Cut from outside by the store's timeout, redis-py would never look for
    # the new primary (or pass over a silent Sentinel): its own timeouts must
    # end a silent node's command first.
    async def main() -> None:
        client = make()
        if words is None:
            RedisKV(client, name="bot", timeout=1)
            return
        with pytest.raises(ValueError, match="socket_timeout=") as raised:
            RedisKV(client, name="bot", timeout=1)
        assert words in str(raised.value) and "at most 0.5" in str(raised.value)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("retry", "words"),
    [
        ({"retry": Retry(NoBackoff(), 3)}, "3 retries"),
        ({"retry": Retry(NoBackoff(), -1)}, "retries forever"),
        ({"retry": Retry(NoBackoff(), 1)}, "1 retry:"),
    ],
    ids=["three", "forever", "one"],
)
def test_sentinels_that_are_asked_again_are_refused(retry: dict[str, Any], words: str) -> None:
    # Each try waits out a silent Sentinel's socket timeout: redis-py's
    # default before 8.2 (3 more, with backoff) held every connection about
    # 9 s, and the store never passed over a frozen Sentinel (the CI's floors
    # job, on redis-py 8.1, saw it).
    async def main() -> None:
        sentinel = Sentinel([("127.0.0.1", 26379)], sentinel_kwargs={**SHORT, **retry})
        with pytest.raises(ValueError, match="sentinel_kwargs=") as raised:
            RedisKV(sentinel.master_for("s", retry=no_retry()), name="bot", timeout=1)
        assert words in str(raised.value) and "Sentinel service 's'" in str(raised.value)

    asyncio.run(main())


def test_with_replicas_a_server_that_forgot_the_scripts_still_answers_within_the_timeout(
    server: RedisServer, name: str
) -> None:
    # EVALSHA's NOSCRIPT, then EVAL: two WAITs, sharing one timeout.
    async def main() -> None:
        async with RedisKV(server.url, name=name, replicas=1, timeout=2) as kv:
            for _ in range(2):
                server.cli("SCRIPT", "FLUSH")
                started = time.monotonic()
                with pytest.raises(NotReplicatedError):
                    await kv.set("k", 1)
                assert time.monotonic() - started < 2.4

    asyncio.run(main())


def test_flush_raises_when_a_write_it_waited_for_failed(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()

    async def main() -> None:
        async with RedisKV(own_server.url, name=name, timeout=0.5) as kv:
            await kv.set("k", 1)
            await kv.flush()  # nothing under way: returns
            own_server.pause()
            try:
                write = asyncio.ensure_future(kv.set("k", 2))
                await asyncio.sleep(0)
                with pytest.raises(UnavailableError, match="1 of the writes under way"):
                    await kv.flush()
                with pytest.raises(UnavailableError):
                    await write
            finally:
                own_server.resume()
            write = asyncio.ensure_future(kv.set("k", 3))
            await asyncio.sleep(0)
            await kv.flush()  # the failure above was that flush's, not this one's
            await write

    asyncio.run(main())


def test_an_edit_ending_with_the_server_silent_raises_within_the_timeout(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()

    async def main() -> None:
        async with RedisKV(own_server.url, name=name, timeout=0.5, edit_lease=2) as kv:
            started = 0.0
            with pytest.raises(UnavailableError):
                async with kv.edit("l", []) as items:
                    items.append(1)
                    own_server.pause()
                    started = time.monotonic()
            assert time.monotonic() - started < 0.9  # the store's call, not two
            own_server.resume()
            # The lease's end went on in its task: the key is free at once.
            await kv.set("l", [2])
            assert await kv.get("l") == [2]

    try:
        asyncio.run(main())
    finally:
        own_server.resume()


def test_a_client_s_db_the_server_lacks_is_named(server: RedisServer) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="the server has no DB 99"):
            async with RedisKV(client_of(server, db=99), name="x", close_client=True):
                pass

    asyncio.run(main())


def test_a_name_under_the_leases_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot start with 'aiokv-edits:'"):
        RedisKV("redis://127.0.0.1:6379/0", name="aiokv-edits:foo")


def test_a_pipeline_is_not_a_client() -> None:
    async def main() -> None:
        client = aioredis.Redis(retry=no_retry())
        with pytest.raises(TypeError, match="Pipeline"):
            RedisKV(client.pipeline(), name="x")

    asyncio.run(main())


def test_a_client_of_another_loop_is_named_as_such(server: RedisServer, name: str) -> None:
    client = client_of(server)

    async def first() -> None:
        await client.ping()

    asyncio.run(first())  # the client's connections belong to that loop, now closed

    async def second() -> None:
        with pytest.raises(RuntimeError, match="the client given belongs to another event loop"):
            async with RedisKV(client, name=name):
                pass

    asyncio.run(second())


def test_a_server_wrong_for_a_store_says_what_to_give(
    cluster_deployment: ClusterDeployment, sentinel_deployment: SentinelDeployment, name: str
) -> None:
    node = cluster_deployment.primaries()[0]
    # A name whose slot another node serves: that node answers MOVED.
    elsewhere = next(
        n
        for n in (f"{name}-{i}" for i in range(100))
        if cluster_deployment.primary_of_slot(key_slot(n.encode())) is not node
    )

    async def main() -> None:
        plain = aioredis.Redis(port=node.port, retry=no_retry())
        with pytest.raises(AioKVError, match="give RedisKV a RedisCluster"):
            async with RedisKV(plain, name=elsewhere, close_client=True) as kv:
                await kv.set("k", 1)
        host, port = sentinel_deployment.sentinels[0]
        at_sentinel = aioredis.Redis(host=host, port=port, retry=no_retry())
        with pytest.raises(AioKVError, match="is it a Sentinel"):
            async with RedisKV(at_sentinel, name=name, close_client=True):
                pass

    asyncio.run(main())
