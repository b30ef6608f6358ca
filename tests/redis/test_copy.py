"""`aiokv copy` between a state file and a Redis store, both ways, with a real server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiokv import AioKV
from aiokv.redis import RedisKV
from tests.cli.test_command import aiokv, expected_error, untouched
from tests.helpers import read_json
from tests.redis.server import RedisServer, free_port
from tests.redis.test_failures import PASSWORD, USER, shows_no_secret

STATE = {
    "last_command": "ping",
    "guild:42:prefix": "!",
    "guild:42:mods": [1, 2],
    "big": 18446744073709551615,
    "ratio": 0.1,
    "nested": {"a": [None, True, {"é": "✓"}]},
}


def redis_state(server: RedisServer, name: str) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with RedisKV(server.url, name=name) as kv:
            return await kv.get_all()

    return asyncio.run(main())


def test_a_file_goes_to_redis_and_back_unchanged(
    server: RedisServer, name: str, tmp_path: Path
) -> None:
    source, back = tmp_path / "state.json", tmp_path / "back.json"

    async def write() -> None:
        async with AioKV(source) as kv:
            await kv.update(STATE)

    asyncio.run(write())
    store = f"{server.url}?name={name}"
    result = aiokv("copy", str(source), store)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == (
        "",
        f"aiokv: copied 6 keys from {source} to {store}\n",
    )
    assert redis_state(server, name) == STATE
    assert aiokv("copy", store, str(back), "--create").returncode == 0
    assert read_json(back) == STATE


def test_a_store_that_is_not_empty_is_refused_unless_replace(
    server: RedisServer, name: str, tmp_path: Path
) -> None:
    source = tmp_path / "state.json"
    source.write_text('{"a": 1, "b": 2}')
    store = f"{server.url}?name={name}"
    server.cli("HSET", name, "old", "true", "a", "0")
    expected_error(aiokv("copy", str(source), store), 2, "not empty (2 keys)", "--replace")
    assert redis_state(server, name) == {"old": True, "a": 0}
    # A value the store refuses: nothing lands.
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": 1, "__aiokv__": {"version": 1}, "y": [1e400]}')
    assert aiokv("copy", str(bad), store, "--replace").returncode != 0
    assert redis_state(server, name) == {"old": True, "a": 0}
    assert aiokv("copy", str(source), store, "--replace").returncode == 0
    assert redis_state(server, name) == {"a": 1, "b": 2}
    # And back into a file that holds keys.
    dest = tmp_path / "dest.json"
    dest.write_text('{"mine": 1}')
    before = untouched(dest)
    expected_error(aiokv("copy", store, str(dest)), 2, "not empty (1 key)")
    assert untouched(dest) == before
    assert aiokv("copy", store, str(dest), "--replace").returncode == 0
    assert read_json(dest) == {"a": 1, "b": 2}


def test_a_versioned_file_copied_to_redis_is_noted(
    server: RedisServer, name: str, tmp_path: Path
) -> None:
    source = tmp_path / "state.json"
    source.write_text('{"__aiokv__": {"version": 3}, "k": 1}')
    result = aiokv("copy", str(source), f"{server.url}?name={name}")
    assert result.returncode == 0, result.stderr
    assert "records schema version 3; a Redis store records none" in result.stderr
    assert redis_state(server, name) == {"k": 1}
    # --schema-version for a Redis destination is left out, and said so: not as the source's.
    plain = tmp_path / "plain.json"
    plain.write_text('{"k": 1}')
    store = f"{server.url}?name={name}"
    result = aiokv("copy", str(plain), store, "--replace", "--schema-version", "2")
    assert result.returncode == 0, result.stderr
    assert "records no schema version: --schema-version 2 left out" in result.stderr
    assert "plain.json records" not in result.stderr
    # Back into a new file at the version the program expects.
    back = tmp_path / "back.json"
    copied = aiokv("copy", store, str(back), "--schema-version", "3", "--create")
    assert copied.returncode == 0, copied.stderr
    assert read_json(back) == {"__aiokv__": {"version": 3}, "k": 1}


def test_an_unreachable_server_is_exit_5_naming_it_without_the_password(tmp_path: Path) -> None:
    source = tmp_path / "state.json"
    source.write_text('{"k": 1}')
    port = free_port()
    store = f"redis://:s3cret@127.0.0.1:{port}/0?name=bot"
    for args in (
        ("copy", str(source), store),
        ("copy", store, str(tmp_path / "out.json"), "--create"),
    ):
        result = aiokv(*args)
        expected_error(result, 5, f"redis://127.0.0.1:{port}/0", "unreachable")
        assert "s3cret" not in result.stderr + result.stdout
    assert not (tmp_path / "out.json").exists()
    expected_error(aiokv("copy", str(source), "redis://:s3cret@h:1/0"), 2, "name=NAME")


def test_copy_never_shows_a_password_however_the_url_spells_it(tmp_path: Path) -> None:
    source, out = tmp_path / "state.json", tmp_path / "out.json"
    source.write_text('{"k": 1}')
    host = f"127.0.0.1:{free_port()}/0"
    # Passwords not percent-encoded (RedisKV's tests try every spelling; these
    # are the ones that ended the host early), each form once: a command is a
    # second of the suite.
    urls = [
        f"redis://:{PASSWORD.format('/')}@{host}",
        f"redis://{USER}:{PASSWORD.format('#')}@{host}",
        f"rediss://{USER}:{PASSWORD.format('?')}@{host}",
        f"unix://:{PASSWORD.format('/')}@/tmp/aiokv-absent.sock",
        f"redis://{host}?password={PASSWORD.format('@')}",
        f"redis://:{PASSWORD.format('@')}@{host}",
    ]
    for i, url in enumerate(urls):
        store = url + ("&" if "?" in url else "?") + "name=bot"
        copy = ("copy", str(source), store) if i % 2 else ("copy", store, str(out), "--create")
        result = aiokv(*copy)
        assert result.returncode in (2, 5), (store, result.stderr)
        assert "Traceback" not in result.stderr
        assert shows_no_secret(result.stdout + result.stderr), (store, result.stderr)
    assert not out.exists()
