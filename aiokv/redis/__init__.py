"""RedisKV: the store's API on a Redis hash, shared by any number of processes.

Its rooms: store.py (RedisKV: the API and its lifecycle), client.py (the
connections, each command's limit and timeout, a script's run), scripts.py
(the Lua scripts and their SHAs), leases.py (edit leases), pool.py (the
connection pool), fields.py (the hash's fields and values in and out).
"""

from __future__ import annotations

# Before any room: each imports redis-py, and a missing package is said plainly.
try:
    import redis.asyncio  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("aiokv.redis needs the redis package: pip install 'aiokv[redis]'") from e

from .store import RedisKV

__all__ = ["RedisKV"]
