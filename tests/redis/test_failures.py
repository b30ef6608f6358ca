"""A server that is absent, killed, stopped, paused or guarded: clear, bounded failures."""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import time
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
