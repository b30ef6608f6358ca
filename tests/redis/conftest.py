"""A redis-server for the Redis tests: one for the session, each test its own hash.

And Sentinel and Cluster deployments: one of each for the session's tests that
kill and move nothing (each uses its own keys), one of a test's own for the others.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis.deployments import ClusterDeployment, SentinelDeployment
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


@pytest.fixture(scope="session")
def sentinel_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelDeployment]:
    """A primary, two replicas and three Sentinels, shared: kill nothing in it."""
    need_redis_server()  # its Sentinels are redis-server --sentinel
    deployment = SentinelDeployment(tmp_path_factory.mktemp("deployment"))
    try:
        yield deployment.start()
    finally:
        deployment.stop()


@pytest.fixture
def own_sentinel(tmp_path: Path) -> Iterator[SentinelDeployment]:
    """A Sentinel deployment of the test's own, to kill and restart nodes in."""
    need_redis_server()
    deployment = SentinelDeployment(tmp_path)
    try:
        yield deployment.start()
    finally:
        deployment.stop()


@pytest.fixture(scope="session")
def cluster_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterDeployment]:
    """Three primaries with a replica each, shared: kill and migrate nothing in it."""
    need_redis_server("redis-cli")
    deployment = ClusterDeployment(tmp_path_factory.mktemp("deployment"))
    try:
        yield deployment.start()
    finally:
        deployment.stop()


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[ClusterDeployment]:
    """A Redis Cluster of the test's own, to kill nodes and migrate slots in."""
    need_redis_server("redis-cli")
    deployment = ClusterDeployment(tmp_path)
    try:
        yield deployment.start()
    finally:
        deployment.stop()


@pytest.fixture
def name() -> str:
    """A hash name no other test uses."""
    return f"test{next(_names)}"
