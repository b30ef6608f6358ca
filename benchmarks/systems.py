"""The systems compared, each behind the same small async adapter.

Every adapter opens a store at a path (pre-filled by `prefill`), then offers
get / set / flush / close. `fsyncs` says whether its flush really reaches the
disk (fsync) or only the OS cache.
"""

from __future__ import annotations

import asyncio
import os
import shelve
import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

from aiokv import AioKV, pieces


def atomic_write(path: str, data: bytes) -> None:
    """The floor's write: temp file, fsync, os.replace, directory fsync."""
    tmp = f"{path}.floor-tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class System:
    """One system under test; subclasses fill in the four operations."""

    name = ""
    fsyncs = False
    # Persists a write stream on its own; otherwise the harness calls flush()
    # every flush_every seconds, as an application would.
    self_flushing = False
    file_writes = 0  # whole-file writes, counted where the system has them
    # Flushes after open (each after one change) before the system runs as
    # it will from then on: aiokv's first ones also build its key map.
    warm_flushes = 2

    def __init__(self, path: str, flush_every: float = 2.0) -> None:
        self.path = path
        self.flush_every = flush_every  # background flush period where we drive it

    @classmethod
    def prefill(cls, path: str, data: dict[str, Any]) -> None:
        """Create the store at path holding data (not timed)."""
        with open(path, "wb") as f:
            f.write(orjson.dumps(data))

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def flush(self) -> None: ...

    def bind_mapping(self, d: Any) -> None:
        """Use a synchronous mapping's get and item assignment, called from the loop
        as its users call it."""

        async def get(k: str) -> Any:
            return d.get(k)

        async def set(k: str, v: Any) -> None:
            d[k] = v

        self.get, self.set = get, set

    # get and set are attributes bound at open(), so a call costs what the
    # system itself costs, with no extra adapter frame.
    get: Callable[[str], Any]
    set: Callable[[str, Any], Any]


class AioKVSystem(System):
    name = "aiokv"
    fsyncs = True
    self_flushing = True
    warm_flushes = 2 + pieces._MAP_UPDATES  # each maps a share of the keys (pieces.py)

    async def open(self) -> None:
        import aiokv.storage as storage

        real = storage.write

        def counting(path: str, state: dict[str, Any], *rest: Any) -> None:
            self.file_writes += 1
            real(path, state, *rest)

        storage.write = counting
        self._restore = lambda: setattr(storage, "write", real)
        self.kv = AioKV(
            self.path, flush_delay=min(0.5, self.flush_every), max_flush_delay=self.flush_every
        )
        await self.kv.__aenter__()
        self.get = self.kv.get
        self.set = self.kv.set

    async def flush(self) -> None:
        await self.kv.flush()

    async def close(self) -> None:
        await self.kv.aclose()
        self._restore()


class FloorSystem(System):
    """A dict, plus one thread hop per flush: the least any design can do."""

    name = "floor"
    fsyncs = True
    self_flushing = True

    async def open(self) -> None:
        path = self.path

        def load() -> dict[str, Any]:
            try:
                with open(path, "rb") as f:
                    return orjson.loads(f.read())  # type: ignore[no-any-return]
            except FileNotFoundError:
                return {}

        d = await asyncio.to_thread(load)
        self.d = d
        self.dirty = False
        self._lock = asyncio.Lock()

        async def get(k: str) -> Any:
            return d.get(k)

        async def set(k: str, v: Any) -> None:
            d[k] = v
            self.dirty = True

        self.get, self.set = get, set
        self._ticker = asyncio.create_task(self._background())

    async def _background(self) -> None:
        # A write stream still reaches disk every flush_every seconds.
        while True:
            await asyncio.sleep(self.flush_every)
            if self.dirty:
                await self.flush()

    async def flush(self) -> None:
        async with self._lock:  # the background flush and an explicit one share a temp name
            self.dirty = False
            self.file_writes += 1
            d, path = self.d, self.path
            await asyncio.to_thread(lambda: atomic_write(path, orjson.dumps(d)))

    async def close(self) -> None:
        self._ticker.cancel()
        await self.flush()


class RewritePerSet(System):
    """The original aiokv: one asyncio.Lock, and every set rewrites the file."""

    name = "rewrite-per-set"
    fsyncs = True
    self_flushing = True

    async def open(self) -> None:
        with open(self.path, "rb") as f:
            d: dict[str, Any] = orjson.loads(f.read())
        lock = asyncio.Lock()
        path = self.path

        async def get(k: str) -> Any:
            async with lock:
                return d.get(k)

        async def set(k: str, v: Any) -> None:
            async with lock:
                d[k] = v
                self.file_writes += 1
                data = orjson.dumps(d)
                await asyncio.to_thread(atomic_write, path, data)

        self.get, self.set = get, set


class PickleDBSystem(System):
    name = "pickledb"
    fsyncs = False  # save(): aiofiles write + os.replace, no fsync

    async def open(self) -> None:
        from pickledb import PickleDB

        self.db = PickleDB(self.path)
        await self.db.load()
        self.get = self.db.get
        self.set = self.db.set

    async def flush(self) -> None:
        self.file_writes += 1
        await self.db.save()


class SqliteDictSystem(System):
    name = "sqlitedict"
    fsyncs = True  # SQLite's default rollback journal, synchronous=FULL

    @classmethod
    def prefill(cls, path: str, data: dict[str, Any]) -> None:
        from sqlitedict import SqliteDict

        with SqliteDict(path, autocommit=False) as d:
            d.update(data)
            d.commit()

    async def open(self) -> None:
        from sqlitedict import SqliteDict

        self.d = SqliteDict(self.path, autocommit=False)
        self.bind_mapping(self.d)

    async def flush(self) -> None:
        self.d.commit()

    async def close(self) -> None:
        self.d.commit()
        self.d.close()


class DiskCacheSystem(System):
    name = "diskcache"
    fsyncs = False  # SQLite WAL with synchronous=NORMAL: commits are not fsynced

    @classmethod
    def prefill(cls, path: str, data: dict[str, Any]) -> None:
        from diskcache import Index

        index = Index(path)
        index.update(data)
        index.cache.close()

    async def open(self) -> None:
        from diskcache import Index

        self.index = Index(self.path)
        self.bind_mapping(self.index)

    async def close(self) -> None:
        self.index.cache.close()


class TinyDBSystem(System):
    """TinyDB with CachingMiddleware: one document per key, found by doc_id."""

    name = "tinydb"
    fsyncs = False

    @classmethod
    def prefill(cls, path: str, data: dict[str, Any]) -> None:
        with open(path, "wb") as f:
            table = {str(i + 1): {"k": k, "v": v} for i, (k, v) in enumerate(data.items())}
            f.write(orjson.dumps({"_default": table}))

    async def open(self) -> None:
        from tinydb import TinyDB
        from tinydb.middlewares import CachingMiddleware
        from tinydb.storages import JSONStorage
        from tinydb.table import Document

        db = TinyDB(self.path, storage=CachingMiddleware(JSONStorage))
        table = db.table("_default")
        ids = {doc["k"]: doc.doc_id for doc in table.all()}
        self.db = db

        async def get(k: str) -> Any:
            doc_id = ids.get(k)
            if doc_id is None:
                return None
            doc = table.get(doc_id=doc_id)
            return None if doc is None else doc["v"]  # type: ignore[index]

        async def set(k: str, v: Any) -> None:
            doc_id = ids.get(k)
            if doc_id is None:
                ids[k] = table.insert({"k": k, "v": v})
            else:
                table.upsert(Document({"k": k, "v": v}, doc_id=doc_id))

        self.get, self.set = get, set

    async def flush(self) -> None:
        self.file_writes += 1
        self.db.storage.flush()  # type: ignore[attr-defined]

    async def close(self) -> None:
        self.db.close()


class ShelveSystem(System):
    name = "shelve"
    fsyncs = False  # sync() writes to the OS cache only

    @classmethod
    def prefill(cls, path: str, data: dict[str, Any]) -> None:
        with shelve.open(path) as d:
            d.update(data)

    async def open(self) -> None:
        self.d = shelve.open(self.path)  # noqa: SIM115 - closed in close()
        self.bind_mapping(self.d)

    async def flush(self) -> None:
        self.d.sync()

    async def close(self) -> None:
        self.d.close()


class AioSqliteSystem(System):
    """An aiosqlite key-value table, WAL, synchronous=FULL (commits fsync)."""

    name = "aiosqlite"
    fsyncs = True

    @classmethod
    def prefill(cls, path: str, data: dict[str, Any]) -> None:
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB)")
        con.executemany(
            "INSERT OR REPLACE INTO kv VALUES (?, ?)",
            ((k, orjson.dumps(v)) for k, v in data.items()),
        )
        con.commit()
        con.close()

    async def open(self) -> None:
        import aiosqlite

        db = await aiosqlite.connect(self.path)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB)")
        self.db = db

        async def get(k: str) -> Any:
            async with db.execute("SELECT v FROM kv WHERE k = ?", (k,)) as cur:
                row = await cur.fetchone()
            return None if row is None else orjson.loads(row[0])

        async def set(k: str, v: Any) -> None:
            await db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (k, orjson.dumps(v)))

        self.get, self.set = get, set

    async def flush(self) -> None:
        await self.db.commit()

    async def close(self) -> None:
        await self.db.commit()
        await self.db.close()


ALL: list[type[System]] = [
    FloorSystem,
    AioKVSystem,
    RewritePerSet,
    PickleDBSystem,
    SqliteDictSystem,
    DiskCacheSystem,
    TinyDBSystem,
    ShelveSystem,
    AioSqliteSystem,
]
