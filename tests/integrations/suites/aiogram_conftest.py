"""Dropped into aiogram's sdist as tests/test_fsm/storage/conftest.py: it only chooses the storage.

aiogram's TestStorages runs every test on each storage its `storage` parameter
names (their `storage` fixture looks the name up as a fixture). This puts one
name there instead, `aiokv`: an AioKVStorage on the store AIOKV_SUITE_STORE
names ("file": a file store of its own; "namespace": a namespace of a file
store the bot shares; "redis" and "redis_namespace": the same on a RedisKV at
AIOKV_SUITE_REDIS_URL). Their tests, fixtures and assertions are used as they
ship.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aiokv import AioKV
from aiokv.integrations.aiogram import AioKVStorage
from aiokv.redis import RedisKV

STORE = os.environ["AIOKV_SUITE_STORE"]


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    """Point a class's `storage` parametrization at aiokv's storage, before it is collected."""
    marks = getattr(obj, "pytestmark", None)
    if isinstance(obj, type) and marks:
        obj.pytestmark = [
            pytest.mark.parametrize("storage", ["aiokv"], indirect=True).mark
            if mark.name == "parametrize" and mark.args[0] == "storage"
            else mark
            for mark in marks
        ]


def _file_kv(tmp_path: Path) -> AioKV:
    return AioKV(tmp_path / "bot.json")


def _redis_kv(tmp_path: Path) -> RedisKV:
    return RedisKV(os.environ["AIOKV_SUITE_REDIS_URL"], name=f"aiogram-suite-{uuid.uuid4().hex}")


# The stores shared with the bot: what makes the store, and whether the storage takes
# a namespace of it ("file", the storage's own store, is made by the storage).
SHARED = {
    "namespace": (_file_kv, True),
    "redis": (_redis_kv, False),
    "redis_namespace": (_redis_kv, True),
}


@pytest.fixture()
async def aiokv(tmp_path: Path) -> AsyncIterator[AioKVStorage]:
    """An AioKVStorage on the store AIOKV_SUITE_STORE names."""
    if STORE == "file":  # as AioKVStorage("fsm.json")
        storage = AioKVStorage(tmp_path / "fsm.json")
        yield storage
        await storage.close()
        return
    make, namespace = SHARED[STORE]
    async with make(tmp_path) as kv:
        storage = AioKVStorage(kv.namespace("fsm") if namespace else kv)
        yield storage
        await storage.close()
        await kv.clear()  # a RedisKV's hash outlives the test
