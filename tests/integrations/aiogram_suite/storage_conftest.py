"""Dropped into aiogram's sdist as tests/test_fsm/storage/conftest.py: it only chooses the storage.

aiogram's TestStorages runs every test on each storage its `storage` parameter
names (their `storage` fixture looks the name up as a fixture). This replaces
those names with aiokv's stores, defined here; their tests, fixtures and
assertions are used as they ship.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from aiokv import AioKV
from aiokv.integrations.aiogram import AioKVStorage
from aiokv.redis import RedisKV

# Set by the runner when it started a redis-server; without one only the file stores run.
REDIS_URL = os.environ.get("AIOKV_SUITE_REDIS_URL")
FILE_STORES = ["aiokv_file", "aiokv_namespace"]
REDIS_STORES = ["aiokv_redis", "aiokv_redis_namespace"]
STORES = FILE_STORES + (REDIS_STORES if REDIS_URL else [])


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    """Point a class's `storage` parametrization at aiokv's stores, before it is collected."""
    marks = getattr(obj, "pytestmark", None)
    if isinstance(obj, type) and marks:
        obj.pytestmark = [
            pytest.mark.parametrize("storage", STORES, indirect=True).mark
            if mark.name == "parametrize" and mark.args[0] == "storage"
            else mark
            for mark in marks
        ]


@pytest.fixture()
async def aiokv_file(tmp_path: Path) -> AsyncIterator[AioKVStorage]:
    """A storage owning its file store, as `AioKVStorage("fsm.json")`."""
    storage = AioKVStorage(tmp_path / "fsm.json")
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture()
async def aiokv_namespace(tmp_path: Path) -> AsyncIterator[AioKVStorage]:
    """A storage on a namespace of a file store the bot shares."""
    async with _shared(AioKV(tmp_path / "bot.json"), namespace=True) as storage:
        yield storage


@pytest.fixture()
async def aiokv_redis() -> AsyncIterator[AioKVStorage]:
    """A storage on a RedisKV (a new hash for each test)."""
    async with _shared(_redis_kv(), namespace=False) as storage:
        yield storage


@pytest.fixture()
async def aiokv_redis_namespace() -> AsyncIterator[AioKVStorage]:
    """A storage on a namespace of a RedisKV."""
    async with _shared(_redis_kv(), namespace=True) as storage:
        yield storage


@asynccontextmanager
async def _shared(kv: Any, namespace: bool) -> AsyncIterator[AioKVStorage]:
    """A storage on kv or on its namespace "fsm", as a bot shares its store."""
    async with kv:
        storage = AioKVStorage(kv.namespace("fsm") if namespace else kv)
        try:
            yield storage
        finally:
            await storage.close()
            await kv.clear()  # a RedisKV's hash outlives the test


def _redis_kv() -> RedisKV:
    assert REDIS_URL is not None
    return RedisKV(REDIS_URL, name=f"aiogram-suite-{uuid.uuid4().hex}")
