"""Copied as conftest.py into python-telegram-bot's unpacked sdist: its tests on aiokv.

PTB's tests/ext/test_basepersistence.py builds every persistence from its
TrackingPersistence, whose dicts are both its storage and what the tests
look at. This conftest puts the same class, with its data kept in an
AioKVPersistence, in its place, and changes none of PTB's tests:

- update_*/drop_* count the call as PTB's class does, write through
  AioKVPersistence, and then show what the store gives back (so the tests'
  assertions are about the store's contents: a state the store does not
  keep shows as missing);
- get_* read from the store, which starts with what the test wrote into the
  dicts before the application started (fill_data and the like);
- refresh_* and the call counters stay PTB's: they are the tests' probes.

AIOKV_SUITE_STORE chooses the store: "file" (a path: the persistence owns an
AioKV), "namespace" (a namespace of an AioKV the test shares) or "redis"
(a RedisKV at AIOKV_SUITE_REDIS_URL).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import BasePersistence

from aiokv import AioKV
from aiokv.integrations.telegram import AioKVPersistence
from aiokv.protocol import Store

STORE = os.environ["AIOKV_SUITE_STORE"]
SUITE = "tests.ext.test_basepersistence"

_numbers = itertools.count()
_made: list[AioKVPersistence] = []  # the current test's persistences, finished at its end
_shared: list[Store | AioKV] = []  # what the current test's persistences share, closed after
_directory: list[Path] = []


def _new_persistence(**options: Any) -> AioKVPersistence:
    number = next(_numbers)
    store: Store | Path
    if STORE == "file":
        store = _directory[0] / f"ptb{number}.json"
    elif STORE == "namespace":
        if not _shared:
            _shared.append(AioKV(_directory[0] / "shared.json"))
        store = _shared[0].namespace(f"ptb{number}")
    elif STORE == "redis":
        from aiokv.redis import RedisKV

        kv = RedisKV(os.environ["AIOKV_SUITE_REDIS_URL"], name=f"ptb-{os.getpid()}-{number}")
        _shared.append(kv)
        store = kv
    else:
        raise ValueError(f"AIOKV_SUITE_STORE={STORE!r}: file, namespace or redis")
    persistence = AioKVPersistence(store, **options)
    _made.append(persistence)
    return persistence


def on_aiokv(tracking: type) -> type:
    """A persistence on aiokv that PTB's tests see as their TrackingPersistence.

    Not a subclass of it (PTB's slot test counts the slots of the parents):
    its counters, dicts and refresh_* are a TrackingPersistence's, the probe.
    """

    class AioKVTrackingPersistence(BasePersistence[Any, Any, Any]):
        CALLBACK_DATA = tracking.CALLBACK_DATA

        def __init__(
            self, store_data: Any = None, update_interval: float = 60, fill_data: bool = False
        ) -> None:
            super().__init__(store_data=store_data, update_interval=update_interval)
            self.probe = tracking(store_data, update_interval, fill_data)
            self.aiokv = _new_persistence(store_data=store_data, update_interval=update_interval)
            self._seeded = False

        def __getattr__(self, name: str) -> Any:
            # The counters, the dicts, fill() and reset_tracking() the tests use.
            if name == "probe":
                raise AttributeError(name)
            return getattr(self.probe, name)

        async def _seed(self) -> None:
            # The store starts with what the test put in the dicts before the start.
            if self._seeded:
                return
            self._seeded = True
            probe, kv = self.probe, self.aiokv
            await kv.update_bot_data(probe.bot_data)
            for chat_id, data in probe.chat_data.items():
                await kv.update_chat_data(chat_id, data)
            for user_id, data in probe.user_data.items():
                await kv.update_user_data(user_id, data)
            for name, states in probe.conversations.items():
                for key, state in states.items():
                    await kv.update_conversation(name, key, state)
            await kv.update_callback_data(probe.callback_data)

        async def get_bot_data(self) -> Any:
            await self._seed()
            return await self.aiokv.get_bot_data()

        async def get_chat_data(self) -> Any:
            await self._seed()
            return await self.aiokv.get_chat_data()

        async def get_user_data(self) -> Any:
            await self._seed()
            return await self.aiokv.get_user_data()

        async def get_callback_data(self) -> Any:
            await self._seed()
            return await self.aiokv.get_callback_data()

        async def get_conversations(self, name: str) -> Any:
            await self._seed()
            return await self.aiokv.get_conversations(name)

        async def update_bot_data(self, data: Any) -> None:
            await self.aiokv.update_bot_data(data)
            await self.probe.update_bot_data(await self.aiokv.get_bot_data())

        async def update_chat_data(self, chat_id: int, data: Any) -> None:
            await self.aiokv.update_chat_data(chat_id, data)
            stored = await self.aiokv.get_chat_data()
            await self.probe.update_chat_data(chat_id, stored[chat_id])

        async def update_user_data(self, user_id: int, data: Any) -> None:
            await self.aiokv.update_user_data(user_id, data)
            stored = await self.aiokv.get_user_data()
            await self.probe.update_user_data(user_id, stored[user_id])

        async def update_callback_data(self, data: Any) -> None:
            await self.aiokv.update_callback_data(data)
            await self.probe.update_callback_data(await self.aiokv.get_callback_data())

        async def update_conversation(self, name: str, key: Any, new_state: Any) -> None:
            await self.aiokv.update_conversation(name, key, new_state)
            stored = await self.aiokv.get_conversations(name)
            await self.probe.update_conversation(name, key, stored.get(key, "<not stored>"))

        async def drop_chat_data(self, chat_id: int) -> None:
            await self.aiokv.drop_chat_data(chat_id)
            await self.probe.drop_chat_data(chat_id)

        async def drop_user_data(self, user_id: int) -> None:
            await self.aiokv.drop_user_data(user_id)
            await self.probe.drop_user_data(user_id)

        async def refresh_bot_data(self, bot_data: Any) -> None:
            await self.probe.refresh_bot_data(bot_data)

        async def refresh_chat_data(self, chat_id: int, chat_data: Any) -> None:
            await self.probe.refresh_chat_data(chat_id, chat_data)

        async def refresh_user_data(self, user_id: int, user_data: Any) -> None:
            await self.probe.refresh_user_data(user_id, user_data)

        async def flush(self) -> None:
            await self.aiokv.flush()
            await self.probe.flush()

    return AioKVTrackingPersistence


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the aiokv-backed class where PTB's tests and build_papp() look it up."""
    suite = sys.modules[SUITE]
    suite.TrackingPersistence = on_aiokv(suite.TrackingPersistence)


@pytest.fixture(autouse=True)
async def _aiokv_stores(tmp_path: Path) -> AsyncIterator[None]:
    """Each test's stores: made in its directory, closed at its end."""
    _directory[:] = [tmp_path]
    yield
    for persistence in _made:
        await persistence.flush()
    for store in _shared:
        await store.aclose()
    _made.clear()
    _shared.clear()
