"""A redis-server for the Redis tests: one for the session, each test its own hash."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis.server import INSTALL, RedisServer, available, require_redis

_names = itertools.count()


def need_redis_server(*programs: str) -> None:
    """Skip (fail, under CI) a test when redis-server, or one of programs, is not installed."""
    if not available():
        missing = f"redis-server is not installed: {INSTALL}"
    elif absent := [p for p in programs if shutil.which(p) is None]:
        missing = f"{absent[0]} is not installed: apt-get install {absent[0]}"
    else:
        return
    if require_redis():
        pytest.fail(missing + " (AIOKV_REQUIRE_REDIS=1: CI does not skip)")
    pytest.skip(missing)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server shared by the session's tests (AOF on, appendfsync always)."""
    need_redis_server()
    running = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield running
    running.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, to kill, stop or restart."""
    need_redis_server()
    running = RedisServer(tmp_path / "redis")
    yield running
    running.stop()


@pytest.fixture
def name() -> str:
    """A hash name no other test uses."""
    return f"test{next(_names)}"
