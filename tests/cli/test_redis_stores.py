"""get, keys, dump and check on Redis stores, a password from the environment, and Ctrl-C
while a Redis server keeps the command waiting: the console script against real servers."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from aiokv.errors import UnavailableError
from aiokv.redis import RedisKV
from tests.cli.test_command import (
    INTERRUPTED,
    SCRIPT,
    aiokv,
    blocked_in,
    expected_error,
    interrupted,
    needs_proc,
)
from tests.helpers import read_json
from tests.redis.conftest import need_redis_server
from tests.redis.server import RedisServer, free_port

STATE: dict[str, Any] = {"b:1": [1, 2], "a": {"x": None}, "line\nbreak": "v", "big": 2**64 - 1}
SECRET = "pw-s3cret-mark"
_names = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    need_redis_server()
    running = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server that wants a password."""
    need_redis_server()
    running = RedisServer(tmp_path_factory.mktemp("guarded"), "--requirepass", SECRET).start()
    yield running
    running.stop()


@pytest.fixture
def store(server: RedisServer) -> str:
    """A Redis location of a hash of the test's own, holding STATE."""
    name = f"cli{next(_names)}"

    async def fill() -> None:
        async with RedisKV(server.url, name=name) as kv:
            await kv.update(STATE)

    asyncio.run(fill())
    return f"{server.url}?name={name}"


def test_get_keys_and_dump_read_a_redis_store(store: str) -> None:
    assert aiokv("get", store, "b:1").stdout == "[1,2]\n"
    assert aiokv("get", store, "big").stdout == "18446744073709551615\n"
    expected_error(aiokv("get", store, "absent"), 1, f"'absent' is not in {store}")
    keys = aiokv("keys", store, "--json")
    assert keys.returncode == 0 and sorted(json.loads(keys.stdout)) == sorted(STATE)
    lines = aiokv("keys", store).stdout.splitlines()
    assert sorted(lines) == sorted(['"line\\nbreak"', "a", "b:1", "big"])  # quoted: one line
    assert aiokv("keys", store, "--prefix", "b:").stdout == "b:1\n"
    dumped = aiokv("dump", store, "--indent", "0")
    assert dumped.returncode == 0 and json.loads(dumped.stdout) == STATE
    assert list(json.loads(dumped.stdout)) == sorted(STATE)  # sorted, as a file's dump


def test_check_reports_a_redis_store(store: str, server: RedisServer) -> None:
    name = store.rpartition("=")[2]
    result = aiokv("check", store)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"store: {store}",
        "server: reachable",
        f"hash: {name} present",
        "keys: 4",
        "schema version: none (a Redis store records none)",
        "status: healthy",
    ]
    assert json.loads(aiokv("check", store, "--json").stdout) == {
        "store": store,
        "server": "reachable",
        "hash": "present",
        "keys": 4,
        "schema_version": None,
        "version_record": False,
        "status": "healthy",
    }
    # A hash that does not exist is an empty store (Redis drops a hash with its last key).
    empty = f"{server.url}?name=never-written"
    fields = json.loads(aiokv("check", empty, "--json").stdout)
    assert fields["hash"] == "absent" and fields["keys"] == 0 and fields["status"] == "healthy"
    assert aiokv("keys", empty).stdout == "" and aiokv("keys", empty, "--json").stdout == "[]\n"
    expected_error(aiokv("get", empty, "k"), 1)


def test_a_hash_another_tool_wrote_badly_is_exit_4_for_dump_and_check(
    store: str, server: RedisServer
) -> None:
    name = store.rpartition("=")[2]
    client = redis.Redis(port=server.port)
    try:
        client.hset(name, "bad", b"not json")
    finally:
        client.close()
    for args in (["dump"], ["get", "bad"]):
        expected_error(aiokv(args[0], store, *args[1:]), 4, "'bad'", "not JSON")
    checked = aiokv("check", store, "--json")
    expected_error(checked, 4, "not JSON")
    fields = json.loads(checked.stdout)
    assert fields["server"] == "reachable" and fields["status"] == "unhealthy"
    assert aiokv("get", store, "a").stdout == '{"x":null}\n'  # the other keys still read


def test_an_unreachable_server_is_exit_5_for_every_read(tmp_path: Path) -> None:
    store = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0?name=bot"
    for args in (["get", "k"], ["keys"], ["dump"], ["check"], ["check", "--json"]):
        result = aiokv(args[0], store, *args[1:])
        expected_error(result, 5, "127.0.0.1", "unreachable")
        assert SECRET not in result.stdout + result.stderr
    checked = aiokv("check", store)
    assert "server: unreachable" in checked.stdout and "status: unhealthy" in checked.stdout
    expected_error(aiokv("keys", "redis://127.0.0.1:1/0"), 2, "?name=NAME")


def test_the_password_can_come_from_the_environment(guarded: RedisServer, tmp_path: Path) -> None:
    store = f"{guarded.url}?name=env"
    env = {"AIOKV_REDIS_PASSWORD": SECRET}
    source = tmp_path / "state.json"
    source.write_text('{"k": [1]}')
    copied = aiokv("copy", str(source), store, env=env)
    assert copied.returncode == 0, copied.stderr
    assert aiokv("get", store, "k", env=env).stdout == "[1]\n"
    assert json.loads(aiokv("check", store, "--json", env=env).stdout)["keys"] == 1
    back = tmp_path / "back.json"
    assert aiokv("copy", store, str(back), "--create", env=env).returncode == 0
    assert read_json(back) == {"k": [1]}
    # Without it the server refuses; a password in the URL still works, and wins.
    refused = aiokv("get", store, "k")
    expected_error(refused, 5, "wants a password", "AIOKV_REDIS_PASSWORD")  # where one goes
    with_url = f"redis://:{SECRET}@127.0.0.1:{guarded.port}/0?name=env"
    wrong = {"AIOKV_REDIS_PASSWORD": "wrong-mark"}
    assert aiokv("get", with_url, "k", env=wrong).stdout == "[1]\n"
    for result in (refused, aiokv("get", store, "k", env=wrong)):
        assert SECRET not in result.stderr and "wrong-mark" not in result.stderr


@pytest.fixture
def silent() -> Iterator[str]:
    """A Redis location whose server accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0?name=bot"
    finally:
        listener.close()


@needs_proc
@pytest.mark.parametrize(
    "args",
    [
        ["get", "{url}", "k"],
        ["keys", "{url}"],
        ["keys", "{url}", "--json"],
        ["dump", "{url}"],
        ["check", "{url}"],
        ["copy", "{url}", "{file}", "--create"],
        ["copy", "{file}", "{url}"],
    ],
)
def test_ctrl_c_while_redis_keeps_the_command_waiting_exits_130(
    silent: str, tmp_path: Path, args: list[str]
) -> None:
    file = tmp_path / "state.json"
    if "--create" not in args:
        file.write_text('{"k": 1}')
    argv = [a.format(url=silent, file=file) for a in args]
    waiting = subprocess.Popen([SCRIPT, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    code, err = interrupted(waiting, blocked_in(waiting.pid, "epoll_wait", "epoll_pwait"))
    assert (code, err) == (130, INTERRUPTED)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["state.json"] if file.exists() else [])


READS = (["get", "k"], ["keys"], ["dump"], ["check"], ["check", "--json"])


@pytest.mark.parametrize("path", ["/abc", "/1.5", "/0/extra", "/", "/%201", "/-1"])
def test_a_path_that_is_not_a_db_number_is_exit_2_not_db_0(server: RedisServer, path: str) -> None:
    # redis-py reads each of these as DB 0 (or " 1" as DB 1): another store.
    store = f"redis://:{SECRET}@127.0.0.1:{server.port}{path}?name=bot"
    for args in READS:
        result = aiokv(args[0], store, *args[1:])
        expected_error(result, 2, f"127.0.0.1:{server.port}{path}?name=bot", "DB's number")
        assert SECRET not in result.stderr


def test_a_db_the_server_lacks_is_exit_2_and_a_value_error(server: RedisServer) -> None:
    for db in ("16", "99"):
        store = f"redis://127.0.0.1:{server.port}/{db}?name=bot"
        expected_error(aiokv("get", store, "k"), 2, f"the server has no DB {db}")
        checked = aiokv("check", store, "--json")
        expected_error(checked, 2, f"the server has no DB {db}")
        assert json.loads(checked.stdout)["exit_code"] == 2

    async def main() -> None:
        with pytest.raises(ValueError, match=r"/16 \(hash 'bot'\): the server has no DB 16"):
            async with RedisKV(f"redis://127.0.0.1:{server.port}/16", "bot"):
                pass

    asyncio.run(main())


@pytest.fixture
def not_redis() -> Iterator[int]:
    """The port of a service that is not Redis: it answers an HTTP 400 and closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                peer, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            with peer:
                peer.recv(1024)
                peer.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def test_a_service_that_is_not_redis_is_exit_5_and_unavailable(not_redis: int) -> None:
    store = f"redis://127.0.0.1:{not_redis}/0?name=bot"
    for args in READS:
        expected_error(aiokv(args[0], store, *args[1:]), 5, "not a Redis server")
    fields = json.loads(aiokv("check", store, "--json").stdout)
    assert (fields["server"], fields["exit_code"]) == ("unreachable", 5)

    async def main() -> None:
        with pytest.raises(UnavailableError, match=f"{not_redis}/0 .*not a Redis server"):
            async with RedisKV(f"redis://127.0.0.1:{not_redis}/0", "bot"):
                pass

    asyncio.run(main())


def test_get_of_the_reserved_key_is_exit_2_on_every_store(
    store: str, server: RedisServer, tmp_path: Path
) -> None:
    holding = f"{server.url}?name=holding-reserved"
    client = redis.Redis(port=server.port)
    try:
        client.hset("holding-reserved", "__aiokv__", b'{"version": 1}')
    finally:
        client.close()
    versioned = tmp_path / "state.json"
    versioned.write_text('{"__aiokv__": {"version": 1}, "k": 1}')
    for where in (holding, store, str(versioned)):
        result = aiokv("get", where, "__aiokv__")
        expected_error(result, 2)
        assert (
            result.stderr
            == "aiokv: key '__aiokv__' is reserved for the file's schema version record\n"
        )


def test_url_messages_name_the_problem_and_the_url_as_typed(
    server: RedisServer, tmp_path: Path
) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{server.port}/0"
    expected_error(aiokv("get", f"{url}?name=a&name=b", "k"), 2, "?name= is given twice")
    unknown = aiokv("get", f"{url}?name=a&foo=bar", "k")
    expected_error(unknown, 2, f"{server.port}/0?name=a&foo=bar: ?foo= is not a parameter")
    expected_error(aiokv("get", "unix://relative.sock?name=a", "k"), 2, "absolute path")
    for result in (unknown,):
        assert SECRET not in result.stderr
    # A unix:// socket's DB is in its query: a message without it names DB 0.
    sock = tmp_path / "r.sock"
    # The password is the server's (redis-py before 8 fails an AUTH a server
    # without one refuses; its floor, 7.2, runs this test too).
    running = RedisServer(
        tmp_path / "unix", "--unixsocket", str(sock), "--requirepass", "x"
    ).start()
    try:
        typed = f"unix://{sock}?name=a&db=1&password=x"
        expected_error(aiokv("get", typed, "k"), 1, f"'k' is not in unix://{sock}?name=a&db=1")
    finally:
        running.stop()
