"""A server that is absent, killed, stopped, paused or guarded: clear, bounded failures."""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from aiokv import UnavailableError
from aiokv.redis import RedisKV
from tests.redis.conftest import need_redis_server
from tests.redis.server import RedisServer, free_port


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
            for url in (guarded.url.replace("redis://", "redis://:wrong@"), guarded.url):
                with pytest.raises(UnavailableError, match="refused the credentials") as raised:
                    async with RedisKV(url, name=name):
                        pass
                assert ":wrong" not in str(raised.value)

        asyncio.run(main())
    finally:
        guarded.stop()


def test_rediss_a_tls_server(name: str, tmp_path: Path) -> None:
    need_redis_server("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls_port = free_port()
    tls = RedisServer(
        tmp_path / "tls",
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(cert),
        "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert),
        "--tls-auth-clients", "no",
    )  # fmt: skip
    tls.start()  # its plain port answers the readiness check; the client uses TLS
    try:

        async def main() -> None:
            url = f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"
            async with RedisKV(url, name=name) as kv:
                await kv.set("k", [1, 2])
                assert await kv.get("k") == [1, 2]
            assert kv.url == f"rediss://127.0.0.1:{tls_port}/0"
            # Over TLS, a client that does not trust the certificate is refused.
            with pytest.raises(UnavailableError, match="rediss://"):
                async with RedisKV(f"rediss://127.0.0.1:{tls_port}/0", name=name):
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


@pytest.mark.parametrize("url", spellings("127.0.0.1:1/0"))
def test_no_spelling_of_a_password_shows_it_in_an_error_or_repr(url: str) -> None:
    # Port 1: nothing listens there. A URL is read right, or refused showing none of it.
    async def main() -> str:
        try:
            kv = RedisKV(url, name="bot", timeout=1)
        except ValueError as e:
            assert any(PASSWORD.format(c) in url for c in "/#?@"), "percent-encoded, yet refused"
            return f"refused: {e}"
        where = (
            url.partition("://")[0]
            + "://"
            + ("/tmp/aiokv-absent.sock" if "unix" in url else "127.0.0.1:1/0")
        )
        assert kv.url == where
        shown = f"{kv!r} {kv.url}"
        with pytest.raises(UnavailableError, match="unreachable") as raised:
            await kv.set("k", 1)
        await kv.aclose()
        return f"{shown} {raised.value} {raised.value.__cause__}"

    seen = asyncio.run(main())
    assert shows_no_secret(seen), seen


@pytest.mark.parametrize("c", "/#?@:%")
def test_a_password_with_any_character_is_used_percent_encoded_and_never_shown(
    name: str, tmp_path: Path, c: str
) -> None:
    need_redis_server()
    password = PASSWORD.format(c)
    guarded = RedisServer(tmp_path / "guarded", "--requirepass", password)
    guarded.start()
    try:

        async def main() -> None:
            host = f"127.0.0.1:{guarded.port}/0"
            async with RedisKV(
                f"redis://:{urllib.parse.quote(password, safe='')}@{host}", name
            ) as kv:
                await kv.set("k", "v")
            # A wrong password, spelled every way: refused, or failing, it is never shown.
            wrong = PASSWORD.format(c + "!")
            for pw in (wrong, urllib.parse.quote(wrong, safe="")):
                for url in (f"redis://{USER}:{pw}@{host}", f"redis://{host}?password={pw}"):
                    for problem in ("refused the credentials", "no answer in time"):
                        assert shows_no_secret(await failure(url, problem)), url

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

        asyncio.run(main())
    finally:
        guarded.stop()
