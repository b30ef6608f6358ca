"""aiogram 3 FSM storage on aiokv: AioKVStorage.

    from aiokv.integrations.aiogram import AioKVStorage
    dp = Dispatcher(storage=AioKVStorage("fsm.json"))

States and data live under the keys aiogram's KeyBuilder makes
("fsm:<chat>:<user>:state", "...:data"), as plain keys of the store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

try:
    from aiogram.exceptions import DataNotDictLikeError
    from aiogram.fsm.state import State
    from aiogram.fsm.storage.base import (
        BaseStorage,
        DefaultKeyBuilder,
        KeyBuilder,
        StateType,
        StorageKey,
    )
except ImportError as e:  # pragma: no cover - what a user without the extra sees
    raise ImportError(
        'aiokv.integrations.aiogram needs aiogram: pip install "aiokv[aiogram]"'
    ) from e

from .. import codec
from ..protocol import Store
from ._owner import Owner


class AioKVStorage(BaseStorage):
    """aiogram's FSM storage, kept in an aiokv store: crash-safe, readable, one file."""

    def __init__(
        self,
        store: Store | str | os.PathLike[str],
        key_builder: KeyBuilder | None = None,
    ) -> None:
        """store: a path (a store of its own, closed by close()) or an open Store or namespace.

        key_builder: aiogram's, DefaultKeyBuilder() by default; with_destiny=True
        for aiogram-dialog, with_bot_id=True for several bots in one process.
        """
        self._owner = Owner(store)
        self.key_builder = key_builder or DefaultKeyBuilder()

    @property
    def store(self) -> Store:
        """The store states and data are kept in."""
        return self._owner.store

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        """Set the state for key (a State or its name, a str); None clears it."""
        name = self.key_builder.build(key, "state")
        if isinstance(state, State):
            state = state.state  # None for a State without a name, as in MemoryStorage
        if state is None:
            await self.store.delete(name)
        else:
            # A StrEnum member is kept as its string, which compares equal to it.
            await self.store.set(name, codec.plain_str(state, f"state for {name!r}"))

    async def get_state(self, key: StorageKey) -> str | None:
        """Return the state's name for key, or None."""
        state: str | None = await self.store.get(self.key_builder.build(key, "state"))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Replace key's data: a dict of JSON values (else it raises, naming the key)."""
        name = self.key_builder.build(key, "data")
        # aiogram's own storages take a dict and nothing else, not even a Mapping.
        if not isinstance(data, dict):
            raise DataNotDictLikeError(
                f"data for {name!r} must be a dict, got {type(data).__name__}; "
                "the stored data is unchanged"
            )
        if not data:
            await self.store.delete(name)
        else:
            await self.store.set(name, dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """Return a copy of key's data ({} if none)."""
        data: dict[str, Any] = await self.store.get(self.key_builder.build(key, "data"), {})
        return data

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge data into key's data, losing no concurrent update; return the result."""
        name = self.key_builder.build(key, "data")
        async with self.store.edit(name, default={}) as current:
            try:
                current.update(data)  # pairs work too, as in aiogram's storages
            except (TypeError, ValueError) as e:
                raise type(e)(
                    f"data for {name!r} cannot be updated with {type(data).__name__}: {e}"
                ) from e
            result: dict[str, Any] = dict(current)
        return result

    async def close(self) -> None:
        """Make everything durable: close a store built from a path, flush a shared one."""
        await self._owner.finish()
