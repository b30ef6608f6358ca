"""aiokv/cli/locations.py: Redis locations read and shown, without a server or a subprocess."""

from __future__ import annotations

import pytest

from aiokv.cli import EXIT_OS, EXIT_USAGE, Failure
from aiokv.cli.locations import _redis_url, location, run_redis, shown
from aiokv.redis import RedisKV


@pytest.mark.parametrize(
    "path",
    ["state.json", "./redis:x.json", "[::1.json", "a]b[.json", "./redis:[x.json", "http://x"],
)
def test_a_path_that_is_not_a_redis_url_is_a_file(path: str) -> None:
    assert _redis_url(path) is None
    assert location(path) == path
    assert shown(path) == path


@pytest.mark.parametrize("url", ["redis://h/0", "REDISS://h:1/2", "unix:///tmp/r.sock"])
def test_the_three_schemes_are_redis_locations(url: str) -> None:
    parts = _redis_url(url)
    assert parts is not None and parts.scheme == url.partition(":")[0].lower()


def test_a_redis_url_that_cannot_be_split_is_a_usage_error_that_shows_no_password() -> None:
    with pytest.raises(Failure) as raised:
        _redis_url("redis://:secret@[::1/0?name=x")
    assert raised.value.code == EXIT_USAGE
    assert "a redis:// URL that is not valid" in str(raised.value)
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:secret@h:6379/2?name=bot", "redis://h:6379/2?name=bot"),
        ("redis://user:secret@h/0?password=secret&name=bot", "redis://h/0?name=bot"),
        ("rediss://:secret@h/1?password=secret", "rediss://h/1"),
        ("unix:///tmp/r.sock?name=a%20b", "unix:///tmp/r.sock?name=a%20b"),
        # The rest of the query as typed: a unix:// socket's DB is there.
        ("unix:///tmp/r.sock?name=a&db=1&password=s", "unix:///tmp/r.sock?name=a&db=1"),
        (
            "rediss://h/1?ssl_password=s&name=a&ssl_ca_certs=/c",
            "rediss://h/1?name=a&ssl_ca_certs=/c",
        ),
        ("unix://relative.sock?name=a", "unix://relative.sock?name=a"),
    ],
)
def test_a_location_is_shown_as_typed_without_its_password(url: str, expected: str) -> None:
    assert shown(url) == expected


def test_a_url_that_cannot_be_shown_so_is_a_usage_error_that_shows_none_of_it() -> None:
    with pytest.raises(Failure) as raised:
        shown("redis://:se/cret@h/0?name=x")
    assert raised.value.code == EXIT_USAGE
    assert "cret" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("redis://:secret@h/0", "add ?name=NAME"),
        ("redis://:secret@h/0?name=", "add ?name=NAME"),
        ("redis://:secret@h/0?name=a&name=b", "?name= is given twice"),
        ("redis://:secret@h/0?name=%FF", "the name is not UTF-8"),
    ],
)
def test_a_redis_location_needs_one_name_in_utf8(url: str, words: str) -> None:
    with pytest.raises(Failure) as raised:
        location(url)
    assert raised.value.code == EXIT_USAGE
    assert words in str(raised.value) and "secret" not in str(raised.value)


def test_a_redis_location_is_a_store_on_the_hash_it_names() -> None:
    kv = location("redis://:secret@h:6379/2?name=bot&socket_timeout=3")
    assert isinstance(kv, RedisKV)
    assert kv.name == "bot" and kv.url == "redis://h:6379/2?socket_timeout=3"


def test_a_unix_socket_without_a_host_is_reached_as_written() -> None:
    # urlunsplit() writes unix:///path back as unix:/path, which redis-py 8.2
    # refuses as no Redis URL: the socket's absence must be what is reported.
    kv = location("unix:///nonexistent/aiokv.sock?name=x")
    with pytest.raises(Failure) as raised:
        run_redis(kv, lambda kv: kv.get_all())
    assert raised.value.code == EXIT_OS, raised.value
