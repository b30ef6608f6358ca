"""A server that is absent, killed, stopped, paused or guarded: clear, bounded failures."""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import threading
import time
import urllib.parse
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from aiokv import ClosedError, UnavailableError
from aiokv.redis import RedisKV
from tests.faults.redis_proxy import Proxy
from tests.redis.conftest import need_redis_server
from tests.redis.server import RedisServer, start_tls


def test_an_unreachable_server_raises_naming_the_url_but_not_the_password(
    own_server: RedisServer,
) -> None:
    # own_server is never started: its port is free, so nothing listens there.
    url = f"redis://bot:s3cret@127.0.0.1:{own_server.port}/0"

    async def main() -> None:
        with pytest.raises(UnavailableError) as raised:
            async with RedisKV(url, name="mybot", timeout=1):
                pass
        kv = RedisKV(url, name="mybot", timeout=1)
        for op in (lambda: kv.get("k"), lambda: kv.set("k", 1), lambda: kv.keys()):
            with pytest.raises(UnavailableError, match=f"127.0.0.1:{own_server.port}/0"):
                await op()
        await kv.aclose()
        message = str(raised.value)
        assert f"redis://127.0.0.1:{own_server.port}/0 (hash 'mybot')" in message
        assert "s3cret" not in message and "bot:" not in message
        assert isinstance(raised.value, ConnectionError)  # and OSError: except OSError catches it
        again = pickle.loads(pickle.dumps(raised.value))
        assert str(again) == message

    asyncio.run(main())


def test_a_server_that_does_not_answer_fails_within_the_timeout_and_then_recovers(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()

    async def main() -> None:
        async with RedisKV(own_server.url, name=name, timeout=0.5) as kv:
            await kv.set("k", 1)
            own_server.pause()  # connections stay open; nothing answers
            try:
                for op in (lambda: kv.get("k"), lambda: kv.set("k", 2), lambda: kv.incr("n")):
                    started = time.monotonic()
                    with pytest.raises(UnavailableError, match="no answer in time"):
                        await op()
                    assert time.monotonic() - started < 3  # the timeout, not a hang
            finally:
                own_server.resume()
            assert await kv.get("k") in (1, 2)  # the lost set may or may not have landed
            await kv.set("k", 3)
            assert await kv.get("k") == 3

    asyncio.run(main())


def test_acknowledged_writes_survive_kill_9_of_the_server(
    own_server: RedisServer, name: str
) -> None:
    # appendfsync always: the server replies after the write is in its AOF on disk.
    own_server.start()
    acknowledged: list[int] = []

    async def main() -> None:
        async with RedisKV(own_server.url, name=name, timeout=2) as kv:

            async def writer(w: int) -> None:
                for i in range(w, 1_000_000, 4):
                    try:
                        await kv.set(f"k{i}", i)
                        await kv.incr("acks")
                    except UnavailableError:
                        return
                    acknowledged.append(i)

            async def killer() -> None:
                while len(acknowledged) < 300:
                    await asyncio.sleep(0.01)
                own_server.kill()

            await asyncio.gather(killer(), *(writer(w) for w in range(4)))
            assert len(acknowledged) >= 300
            own_server.start()  # same port, same AOF
            # The same client goes on by itself once the server is back.
            found = await kv.get_all()
            missing = [i for i in acknowledged if found.get(f"k{i}") != i]
            assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:10]}"
            assert found["acks"] >= len(acknowledged)

    asyncio.run(main())


def test_a_server_stopped_and_restarted_under_load_fails_clearly_then_recovers(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()
    outcomes: dict[str, int] = {"ok": 0, "unavailable": 0}
    errors: list[str] = []

    async def main() -> None:
        async with RedisKV(own_server.url, name=name, timeout=1) as kv:
            stop = time.monotonic() + 3

            async def load(w: int) -> None:
                i = 0
                while time.monotonic() < stop:
                    i += 1
                    try:
                        await kv.update({f"w{w}:a": i, f"w{w}:b": i})
                        await kv.incr(f"w{w}:n")
                        async with kv.edit(f"w{w}:seen", []) as seen:
                            seen[:] = [*seen[-5:], i]
                        outcomes["ok"] += 1
                    except UnavailableError as e:
                        outcomes["unavailable"] += 1
                        errors.append(str(e))
                        await asyncio.sleep(0.05)

            async def restart() -> None:
                await asyncio.sleep(0.7)
                await asyncio.to_thread(own_server.stop)
                await asyncio.sleep(0.7)
                await asyncio.to_thread(own_server.start)

            await asyncio.gather(restart(), *(load(w) for w in range(4)))
            # After the restart every operation works again, on the same client.
            before = outcomes["ok"]
            await kv.set("after", True)
            assert await kv.get("after") is True
            values = await kv.get_all()
            for w in range(4):
                assert values[f"w{w}:a"] == values[f"w{w}:b"]  # an update is all or nothing
            assert before > 0

    asyncio.run(main())
    assert outcomes["unavailable"] > 0, "the server's stop went unnoticed"
    assert all(own_server.url.removesuffix("/0") in e for e in errors)


def test_a_password_protected_server(name: str, tmp_path: Path) -> None:
    need_redis_server()
    guarded = RedisServer(tmp_path / "guarded", "--requirepass", "s3cret")
    guarded.start()
    try:

        async def main() -> None:
            url = guarded.url.replace("redis://", "redis://:s3cret@")
            async with RedisKV(url, name=name) as kv:
                await kv.set("k", "v")
                assert await kv.get("k") == "v"
            for url, problem in (
                (guarded.url.replace("redis://", "redis://:wrong@"), "refused the credentials"),
                # None given: the message says where one goes.
                (guarded.url, "wants a password, and the URL gives none.*AIOKV_REDIS_PASSWORD"),
            ):
                with pytest.raises(UnavailableError, match=problem) as raised:
                    async with RedisKV(url, name=name):
                        pass
                assert ":wrong" not in str(raised.value)

        asyncio.run(main())
    finally:
        guarded.stop()


def test_rediss_a_tls_server(name: str, tmp_path: Path) -> None:
    need_redis_server("openssl")
    tls, url = start_tls(tmp_path / "tls")
    try:

        async def main() -> None:
            async with RedisKV(url, name=name) as kv:
                await kv.set("k", [1, 2])
                assert await kv.get("k") == [1, 2]
            assert kv.url == url  # its query holds no secret
            # Over TLS, a client that does not trust the certificate is refused.
            with pytest.raises(UnavailableError, match="rediss://"):
                async with RedisKV(url.partition("?")[0], name=name):
                    pass

        asyncio.run(main())
    finally:
        tls.stop()


def test_an_edit_outlives_a_server_pause_shorter_than_its_lease(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()

    async def main() -> None:
        url = own_server.url
        async with (
            RedisKV(url, name, timeout=0.3, edit_lease=2) as kv,
            RedisKV(url, name) as other,
        ):
            async with kv.edit("k", {}) as value:
                own_server.pause()  # the renewal due meanwhile fails: no answer in time
                try:
                    await asyncio.sleep(1.2)
                finally:
                    own_server.resume()
                writer = asyncio.ensure_future(other.set("k", "after the edit"))
                await asyncio.sleep(4)  # two leases: only renewals keep the key
                assert not writer.done(), "the lease ran out: renewals stopped after the pause"
                value["edited"] = True
            await writer
            assert await kv.get("k") == "after the edit"

    asyncio.run(main())


# Where an edit is when it is cancelled (the server paused, so a request stays in flight).
CANCELLED_AT = [
    "entering",
    "waiting for another edit",
    "in the block",
    "writing back",
    "releasing",
]


@pytest.mark.parametrize("at", CANCELLED_AT)
def test_an_edit_cancelled_at_any_await_leaves_no_lease(
    own_server: RedisServer, name: str, at: str
) -> None:
    own_server.start()

    async def main() -> None:
        url = own_server.url
        kv = RedisKV(url, name, edit_lease=60)
        other = RedisKV(url, name, edit_lease=60)
        await kv.set("warm", 1)
        inside = asyncio.Event()

        async def edit() -> None:
            async with kv.edit("k", []) as value:
                inside.set()
                if at == "in the block":
                    await asyncio.sleep(60)
                value.append(1)
                if at == "writing back":
                    own_server.pause()
                if at == "releasing":
                    own_server.pause()
                    raise ZeroDivisionError

        async with contextlib.AsyncExitStack() as stack:
            if at == "waiting for another edit":
                await stack.enter_async_context(other.edit("k", []))
            if at == "entering":
                own_server.pause()
            editing = asyncio.ensure_future(edit())
            await asyncio.sleep(0.3)  # the edit is where it is cancelled
            assert inside.is_set() == (at in ("in the block", "writing back", "releasing"))
            editing.cancel()
            await asyncio.sleep(0.1)
            own_server.resume()
            with pytest.raises(asyncio.CancelledError):
                await editing
        assert len(kv._leases) == 0, "a lease whose end was answered is still listed for aclose()"
        await other.aclose()
        await kv.aclose()
        async with RedisKV(url, name) as third:
            await asyncio.wait_for(third.set("k", "free"), 10)  # not 60 s: no lease is left
        assert own_server.cli("EXISTS", "aiokv-edits:" + name).strip() == "0"

    try:
        asyncio.run(main())
    finally:
        own_server.resume()


# A user and password made of markers: no message may show any of them, or a piece.
USER, PASSWORD = "USERMARK", "PWMARK1{}PWMARK2"
MARKS = ("USERMARK", "PWMARK1", "PWMARK2")


def spellings(host: str) -> list[str]:
    """Every way a URL to host (HOST:PORT/DB, or a socket's path) can carry a password."""
    urls = []
    for c in "/#?@:%":
        password = PASSWORD.format(c)
        for pw in (password, urllib.parse.quote(password, safe="")):
            urls += [f"redis://:{pw}@{host}", f"redis://{USER}:{pw}@{host}"]
            urls += [f"rediss://{USER}:{pw}@{host}", f"unix://:{pw}@/tmp/aiokv-absent.sock"]
            urls += [f"redis://{host}?password={pw}", f"redis://{USER}@{host}?password={pw}"]
    return urls


def shows_no_secret(text: str) -> bool:
    """Whether text shows no marker of the user or the password."""
    return not any(mark in text for mark in MARKS)


def test_no_spelling_of_a_password_shows_it_in_an_error_or_repr() -> None:
    # Port 1: nothing listens there. A URL is read right, or refused showing none of it.
    async def seen(url: str) -> str:
        try:
            kv = RedisKV(url, name="bot", timeout=1)
        except ValueError as e:
            assert any(PASSWORD.format(c) in url for c in "/#?@"), f"encoded, yet refused: {url}"
            return f"refused: {e}"
        where = "/tmp/aiokv-absent.sock" if url.startswith("unix") else "127.0.0.1:1/0"
        assert kv.url == url.partition("://")[0] + "://" + where
        with pytest.raises(UnavailableError, match="unreachable") as raised:
            await kv.set("k", 1)
        await kv.aclose()
        return f"{kv!r} {kv.url} {raised.value} {raised.value.__cause__}"

    async def main() -> None:
        for url in spellings("127.0.0.1:1/0"):
            assert shows_no_secret(shown := await seen(url)), (url, shown)

    asyncio.run(main())


def test_a_password_with_any_character_is_used_percent_encoded_and_never_shown(
    name: str, tmp_path: Path
) -> None:
    need_redis_server()
    password = PASSWORD.format("/#?@:%")
    guarded = RedisServer(tmp_path / "guarded", "--requirepass", password)
    guarded.start()

    async def failure(url: str, problem: str) -> str:
        try:
            kv = RedisKV(url, name, timeout=0.5)
        except ValueError as e:
            return str(e)
        if problem == "no answer in time":
            guarded.pause()
        try:
            with pytest.raises(UnavailableError, match=problem) as raised:
                await kv.get("k")
        finally:
            guarded.resume()
        return f"{kv!r} {raised.value} {raised.value.__cause__}"

    async def main() -> None:
        host = f"127.0.0.1:{guarded.port}/0"
        async with RedisKV(f"redis://:{urllib.parse.quote(password, safe='')}@{host}", name) as kv:
            await kv.set("k", "v")
        # A wrong password, spelled every way: refused, or failing, it is never shown.
        for c in "/#?@:%":
            wrong = PASSWORD.format(c)
            for pw in (wrong, urllib.parse.quote(wrong, safe="")):
                for url in (f"redis://{USER}:{pw}@{host}", f"redis://{host}?password={pw}"):
                    problems = ["refused the credentials"] + ["no answer in time"] * (c == "/")
                    for problem in problems:
                        assert shows_no_secret(await failure(url, problem)), url

    try:
        asyncio.run(main())
    finally:
        guarded.stop()


async def every_operation(kv: RedisKV, tag: str) -> list[Any]:
    """Every kind of operation at once, three times over: more than a client's connections."""

    async def edit(i: int) -> None:
        async with kv.edit(f"{tag}:e{i}", []) as value:
            value.append(i)

    calls = []
    for i in range(3):
        ns = kv.namespace(f"{tag}:ns{i}")
        calls += [
            kv.set(f"{tag}:k{i}", i),
            kv.get(f"{tag}:k{i}"),
            kv.has(f"{tag}:k{i}"),
            kv.update({f"{tag}:u{i}": i, f"{tag}:v{i}": i}),
            kv.incr(f"{tag}:n"),
            kv.incr(f"{tag}:f", 0.5),
            kv.delete(f"{tag}:gone{i}"),
            kv.keys(tag),
            kv.get_all(tag),
            kv.clear(f"{tag}:none:"),
            edit(i),
            ns.set("k", i),
            ns.keys(),
            kv.flush(),
        ]
    return await asyncio.gather(*calls, return_exceptions=True)


def cut_every_link(proxy: Proxy, reset: bool) -> None:
    """End every connection through proxy (reset: a RST to both sides), as an idle timeout does."""
    done = threading.Event()

    def cut() -> None:
        for link in list(proxy._links):
            link.close(reset=reset)
        done.set()

    proxy._loop.call_soon_threadsafe(cut)
    assert done.wait(10)


@pytest.mark.parametrize(
    "how", ["stop", "kill -9", "script flush", "idle connections closed", "idle connections reset"]
)
def test_once_a_restarted_server_answers_every_operation_of_a_burst_succeeds(
    own_server: RedisServer, name: str, how: str
) -> None:
    own_server.start()
    proxy = Proxy(own_server.port, seed=0).start()  # faults only when told

    def restart() -> None:
        if how == "script flush":  # the scripts forgotten, as after any restart
            own_server.cli("SCRIPT", "FLUSH")
        elif how.startswith("idle"):  # as a proxy's or a NAT's idle timeout does
            cut_every_link(proxy, reset=how.endswith("reset"))
        else:
            own_server.kill() if how == "kill -9" else own_server.stop()
            own_server.start()  # same port, same AOF; returns once it answers

    async def main() -> None:
        async with RedisKV(proxy.url, name, timeout=2) as kv:
            before = await every_operation(kv, "before")  # every pooled connection used
            assert not [r for r in before if isinstance(r, BaseException)]
            await asyncio.to_thread(restart)
            await asyncio.sleep(0.2)  # the loop reads the closes (a command sent at once is lost)
            after = await every_operation(kv, "after")
            failed = [repr(r) for r in after if isinstance(r, BaseException)]
            assert not failed, f"{len(failed)} of {len(after)} failed: {failed[:3]}"
            assert await kv.get("after:n") == 3
            assert await kv.get("after:e0") == [0]

    try:
        asyncio.run(main())
    finally:
        proxy.stop()


def test_a_burst_at_a_paused_server_fails_within_the_timeout_then_succeeds(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()
    timeout = 0.5

    async def timed(work: Awaitable[Any]) -> tuple[Any, float]:
        started = time.monotonic()
        try:
            result = await work
        except UnavailableError as e:
            result = e
        return result, time.monotonic() - started

    async def main() -> None:
        async with RedisKV(own_server.url, name, timeout=timeout) as kv:
            await every_operation(kv, "warm")
            own_server.pause()
            try:
                calls = [kv.incr("n") for _ in range(300)] + [kv.get("k") for _ in range(100)]
                outcomes = await asyncio.gather(*map(timed, calls))
            finally:
                own_server.resume()
            assert all(isinstance(result, UnavailableError) for result, _ in outcomes)
            # Each within its timeout (the wait for a connection included),
            # not one timeout per 32 commands queued ahead of it.
            slowest = max(seconds for _, seconds in outcomes)
            assert slowest < timeout + 1, slowest
            after = await every_operation(kv, "after")
            assert not [r for r in after if isinstance(r, BaseException)]

    asyncio.run(main())


def test_an_edit_that_ends_while_the_store_closes_returns_once_its_lease_is_gone(
    own_server: RedisServer, name: str
) -> None:
    own_server.start()

    async def main() -> None:
        kv = RedisKV(own_server.url, name, edit_lease=60)
        inside, fail = asyncio.Event(), asyncio.Event()

        async def edit() -> None:
            async with kv.edit("k", []):
                inside.set()
                await fail.wait()
                raise ZeroDivisionError

        editing = asyncio.ensure_future(edit())
        await inside.wait()
        own_server.pause()
        try:
            writing = asyncio.ensure_future(kv.set("x", 1))  # in flight: the close waits for it
            await asyncio.sleep(0.1)
            closing = asyncio.ensure_future(kv.aclose())
            await asyncio.sleep(0.1)
            fail.set()
            await asyncio.sleep(0.3)
            assert not editing.done(), "the edit returned with its lease still on the server"
        finally:
            own_server.resume()
        with pytest.raises(ZeroDivisionError):
            await editing
        assert own_server.cli("HEXISTS", "aiokv-edits:" + name, "k").strip() == "0"
        await writing
        await closing

    asyncio.run(main())


def test_a_call_under_way_when_the_store_closes_is_answered_or_refused_never_cut(
    own_server: RedisServer, name: str
) -> None:
    # SPEC: an operation that runs while aclose() is under way is done, or
    # refused with ClosedError. aclose() once closed the connections under
    # the reads in flight: UnavailableError, or a raw AttributeError from
    # redis-py ('NoneType' object has no attribute 'writelines').
    own_server.start()

    async def main() -> None:
        # A read waiting for its answer when the close begins gets it.
        kv = RedisKV(own_server.url, name)
        await kv.set("k", 1)
        own_server.pause()
        try:
            reads = [asyncio.ensure_future(op) for op in (kv.get("k"), kv.get_all(), kv.has("k"))]
            await asyncio.sleep(0.2)  # sent: each waits for its answer
            closing = asyncio.ensure_future(kv.aclose())
            await asyncio.sleep(0.2)
        finally:
            own_server.resume()
        assert await asyncio.gather(*reads) == [1, {"k": 1}, True]
        await closing
        # The close begun at every step of a burst of reads (no write it would
        # wait for): each read is answered or refused, whatever step it was at.
        for steps in range(40):
            kv = RedisKV(own_server.url, name)
            await kv.set("k", 1)
            ns = kv.namespace("ns")
            reads = [
                (kv.get("k"), kv.has("k"), kv.get_all(), kv.keys(), ns.keys()) for _ in range(3)
            ]
            calls = asyncio.gather(*(r for five in reads for r in five), return_exceptions=True)
            for _ in range(steps):
                await asyncio.sleep(0)
            await kv.aclose()
            cut = [r for r in await calls if isinstance(r, BaseException)]
            assert all(isinstance(r, ClosedError) for r in cut), (steps, cut[:3])

    asyncio.run(main())
