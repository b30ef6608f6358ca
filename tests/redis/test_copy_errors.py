"""`aiokv copy` from and into a Redis hash another tool wrote: exit 4, nothing copied."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.cli.test_command import aiokv, expected_error, untouched
from tests.redis.server import RedisServer

DEEP = "[" * 300 + "1" + "]" * 300  # JSON, but deeper than a store holds (253)


def raw_hash(server: RedisServer, name: str, fields: dict[bytes, bytes]) -> None:
    """Write fields into the hash as another tool would: bytes, unchecked."""
    client = redis.Redis(port=server.port)
    try:
        client.hset(name, mapping=fields)  # type: ignore[arg-type]
    finally:
        client.close()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        (b"k", b"not json", ["the value of key 'k' is not JSON"]),
        (b"k", b"18446744073709551616", ["'k'", "64-bit range"]),
        (b"k", DEEP.encode(), ["'k'", "more than 253 levels"]),
        # Deeper than orjson reads: not JSON to it, and the reason says why.
        (b"k", b"[" * 2000 + b"]" * 2000, ["the value of key 'k' is not JSON", "depth"]),
        (b"__aiokv__", b'{"version": 1}', ["reserved"]),
        (b"\xff", b"1", ["not UTF-8"]),
    ],
)
def test_a_source_no_store_can_hold_is_exit_4_and_nothing_is_copied(
    server: RedisServer, name: str, tmp_path: Path, field: bytes, value: bytes, words: list[str]
) -> None:
    raw_hash(server, name, {b"good": b"1", field: value})
    source = f"{server.url}?name={name}"
    new, held = tmp_path / "new.json", tmp_path / "held.json"
    held.write_text('{"mine": 1}')
    before = untouched(held)
    expected_error(aiokv("copy", source, str(new), "--create"), 4, "nothing copied", *words)
    expected_error(aiokv("copy", source, str(held), "--replace"), 4, "nothing copied", *words)
    assert not new.exists() and untouched(held) == before
    assert "unchanged" not in aiokv("copy", source, str(new), "--create").stderr


def test_a_destination_that_cannot_be_listed_is_refused_before_any_change(
    server: RedisServer, name: str, tmp_path: Path
) -> None:
    # --replace lists the destination's keys first: a hash holding a field
    # that is not UTF-8 is refused before the source's keys land in it.
    raw_hash(server, name, {b"\xff": b"1", b"old": b"2"})
    source = tmp_path / "state.json"
    source.write_text('{"a": 1}')
    store = f"{server.url}?name={name}"
    expected_error(
        aiokv("copy", str(source), store, "--replace"), 4, "not UTF-8", "nothing copied"
    )
    client = redis.Redis(port=server.port)
    try:
        assert client.hgetall(name) == {b"\xff": b"1", b"old": b"2"}
    finally:
        client.close()


def test_a_deep_source_value_holding_a_long_number_is_exit_4(
    server: RedisServer, name: str, tmp_path: Path
) -> None:
    # The exact integer check recurses: run on this, a RecursionError traceback.
    deep = "[" * 1000 + "1234567890123456789" + "]" * 1000
    raw_hash(server, name, {b"k": deep.encode()})
    result = aiokv("copy", f"{server.url}?name={name}", str(tmp_path / "out.json"), "--create")
    expected_error(result, 4, "'k'", "nothing copied")


@pytest.mark.parametrize("end", ["", "&socket_timeout=5"])
def test_a_name_that_is_not_utf8_is_exit_2_and_no_hash_is_written(
    server: RedisServer, tmp_path: Path, end: str
) -> None:
    # %ED%A0%80 is a lone surrogate's bytes: decoded with replacement, it
    # would name another hash, "\ufffd\ufffd\ufffd".
    source = tmp_path / "state.json"
    source.write_text('{"a": 1}')
    store = f"{server.url}?name=%ED%A0%80{end}"
    expected_error(aiokv("copy", str(source), store), 2, "name=%ED%A0%80", "not UTF-8")
    expected_error(aiokv("copy", store, str(tmp_path / "new.json")), 2, "not UTF-8")
    client = redis.Redis(port=server.port)
    try:
        assert not client.exists("\ufffd\ufffd\ufffd".encode())
    finally:
        client.close()
