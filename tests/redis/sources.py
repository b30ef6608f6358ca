"""What a RedisKV in a test (or a test's child process) runs on, spelled as one string.

"redis://..." is a URL; "sentinel:HOST:PORT,HOST:PORT/SERVICE" is the client
Sentinel's master_for gives; "cluster:HOST:PORT,HOST:PORT" a RedisCluster. Each client
is made as RedisKV asks: without retries.
"""

from __future__ import annotations

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from aiokv.redis.pool import AnyClient


def no_retry() -> Retry:
    """The retry policy RedisKV asks of a client: none."""
    return Retry(NoBackoff(), 0)


def sentinel(addresses: list[tuple[str, int]], service: str) -> str:
    """The spelling of Sentinel's client of service, asked of the Sentinels at addresses."""
    return "sentinel:" + ",".join(f"{h}:{p}" for h, p in addresses) + "/" + service


def cluster(addresses: list[tuple[str, int]]) -> str:
    """The spelling of a RedisCluster that starts from any of the nodes at addresses."""
    return "cluster:" + ",".join(f"{h}:{p}" for h, p in addresses)


def source(spelled: str, timeout: float = 5.0) -> str | AnyClient:
    """What spelled names: a URL as it is, or a new client (the caller closes it).

    timeout: the store's; a client's socket timeouts are half of it, as
    RedisKV asks of a Cluster's nodes and of Sentinels.
    """
    kind, _, rest = spelled.partition(":")
    if kind not in ("sentinel", "cluster"):
        return spelled  # a URL
    options = {"socket_timeout": timeout / 2, "socket_connect_timeout": timeout / 2}
    nodes, _, service = rest.partition("/")
    addresses = [(h, int(p)) for h, _, p in (n.rpartition(":") for n in nodes.split(","))]
    if kind == "sentinel":
        # The Sentinels' own clients too without retries: redis-py's before 8.2 retry.
        sentinel = Sentinel(addresses, sentinel_kwargs={**options, "retry": no_retry()}, **options)
        return sentinel.master_for(service, retry=no_retry())
    # A cluster, with every node to start from: a client whose one startup
    # node is down would never learn the cluster.
    startup = [ClusterNode(h, p) for h, p in addresses]
    return RedisCluster(startup_nodes=startup, retry=no_retry(), **options)
