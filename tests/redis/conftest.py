"""A redis-server for the Redis tests: one for the session, each test its own hash."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis.server import INSTALL, RedisServer, available, require_redis

_names = itertools.count()


def need_redis_server() -> None:
    """Skip (fail, under CI) a test when redis-server is not installed."""
    if not available():
        message = f"redis-server is not installed: {INSTALL}"
        if require_redis():
            pytest.fail(message + " (AIOKV_REQUIRE_REDIS=1: CI does not skip)")
        pytest.skip(message)


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
