"""What a RedisKV in a test (or a test's child process) runs on, spelled as one string.

"redis://..." is a URL; "sentinel:HOST:PORT,HOST:PORT/SERVICE" is the client
Sentinel's master_for gives; "cluster:HOST:PORT" a RedisCluster. Each client
is made as RedisKV asks: without retries.
"""

from __future__ import annotations

from redis.asyncio.cluster import RedisCluster
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


def cluster(host: str, port: int) -> str:
    """The spelling of a RedisCluster that starts from host:port."""
    return f"cluster:{host}:{port}"


def source(spelled: str, timeout: float = 5.0) -> str | AnyClient:
    """What spelled names: a URL as it is, or a new client (the caller closes it).

    timeout: the store's; a client's socket timeouts are half of it, as
    RedisKV asks of a Cluster's nodes and of Sentinels.
    """
    kind, _, rest = spelled.partition(":")
    options = {"socket_timeout": timeout / 2, "socket_connect_timeout": timeout / 2}
    if kind == "sentinel":
        nodes, _, service = rest.partition("/")
        addresses = [(h, int(p)) for h, _, p in (n.rpartition(":") for n in nodes.split(","))]
        return Sentinel(addresses, **options).master_for(service, retry=no_retry())
    if kind == "cluster":
        host, _, port = rest.rpartition(":")
        return RedisCluster(host=host, port=int(port), retry=no_retry(), **options)
    return spelled
