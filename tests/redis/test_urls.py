"""A Redis URL checked before any connection (aiokv/redis/urls.py), and by RedisKV(url) itself."""

from __future__ import annotations

import pytest

from aiokv.redis import RedisKV
from aiokv.redis.urls import check, db, has_password

SECRET = "pw-s3cret"

ACCEPTED = [
    "redis://h",
    "redis://h:6379",
    "redis://h/0",
    "redis://h:6379/15",
    "redis://h/123",
    f"redis://:{SECRET}@h/1?socket_timeout=3",
    "rediss://h/0?ssl_ca_certs=/c.pem&ssl_cert_reqs=required",
    "redis://h?db=2",
    "unix:///run/redis.sock",
    "unix:///run/redis.sock?db=1",
    f"unix:///run/redis.sock?db=1&password={SECRET}",
]

# (a URL, words its refusal says): each one redis-py reads as another store
# (DB 0, DB 1) or fails on only at the first connect, in a constructor's words.
REFUSED = [
    (f"redis://:{SECRET}@h/abc", "the path is the DB's number"),
    ("redis://h/1.5", "not '/1.5'"),
    ("redis://h/0/extra", "not '/0/extra'"),
    ("redis://h/", "not '/'"),
    ("redis://h/ 1", "the path is the DB's number"),
    ("redis://h/%201", "the path is the DB's number"),
    ("redis://h/-1", "the path is the DB's number"),
    ("redis://h/\u0661", "the path is the DB's number"),  # a digit to int(), not ASCII
    (f"redis://h/0?password={SECRET}&foo=bar", "?foo= is not a parameter"),
    (f"redis://h/0?passwrod={SECRET}", "?passwrod= is not a parameter"),  # its value unshown
    (f"redis://h/0?pass%77ord={SECRET}&foo=1", "?foo= is not a parameter"),
    ("redis://h/0?max_connections=2", "?max_connections= is not a parameter"),
    ("redis://h/0?retry=x", "?retry= is not a parameter"),  # wants an object
    ("redis://h/0?socket_timeout=1&socket_timeout=2", "?socket_timeout= is given twice"),
    ("redis://h?db=x", "?db= is the DB's number"),
    ("redis://h/1?db=1", "the DB is given twice"),
    ("unix://relative.sock", "unix:// takes the socket's absolute path"),
    (f"unix://:{SECRET}@relative.sock", "unix:// takes the socket's absolute path"),
    ("unix:relative.sock", "a Redis URL starts"),
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_a_url_redis_py_reads_as_written_is_accepted(url: str) -> None:
    check(url)
    RedisKV(url, "n")  # no I/O


@pytest.mark.parametrize(("url", "words"), REFUSED)
def test_a_url_redis_py_would_misread_is_refused_naming_it_without_its_password(
    url: str, words: str
) -> None:
    for build in (check, lambda url: RedisKV(url, "n")):
        with pytest.raises(ValueError, match=r"^(redis|unix)://") as raised:
            build(url)
        assert words in str(raised.value)
        assert SECRET not in str(raised.value)


def test_the_db_named_and_whether_a_password_is_given() -> None:
    assert [db(u) for u in ("redis://h", "redis://h/7", "unix:///s?db=3")] == ["0", "7", "3"]
    assert has_password("redis://:p@h") and has_password("unix:///s?password=p")
    assert not has_password("redis://h/0") and not has_password("redis://u@h/0?password=")


def test_a_message_shows_the_query_but_no_password() -> None:
    kv = RedisKV(f"unix:///s.sock?db=1&password={SECRET}", "n")
    assert kv.url == "unix:///s.sock?db=1"  # the DB: another one is another store
    kv = RedisKV(f"rediss://h/2?ssl_password={SECRET}&ssl_ca_certs=/c.pem", "n")
    assert kv.url == "rediss://h/2?ssl_ca_certs=/c.pem"
