"""python-telegram-bot persistence on aiokv: AioKVPersistence.

    from aiokv.integrations.telegram import AioKVPersistence
    app = Application.builder().token(TOKEN).persistence(AioKVPersistence("ptb.json")).build()

Keys in the store: "user_data:<id>", "chat_data:<id>", "bot_data",
"callback_data" and "conversations:<name>", whose value maps each
conversation key, as JSON text ("[chat_id, user_id]"), to its state (None
once it ended, as in PTB's own persistences). Every value must be of aiokv's
JSON types; anything else raises, naming the key. The one exception: a
conversation state that is an enum of int or str (IntEnum, StrEnum, or an
Enum mixed with int or str) is kept as its plain value, which
ConversationHandler finds equal to it, as PTB's JSON persistence does.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from typing import Any

try:
    from telegram.ext import BasePersistence, PersistenceInput
    from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey
except ImportError as e:  # pragma: no cover - what a user without the extra sees
    raise ImportError(
        'aiokv.integrations.telegram needs python-telegram-bot: pip install "aiokv[telegram]"'
    ) from e

from ..protocol import Store
from ._owner import Owner

Data = dict[Any, Any]


class AioKVPersistence(BasePersistence[Data, Data, Data]):
    """python-telegram-bot's persistence, kept in an aiokv store: crash-safe, readable."""

    def __init__(
        self,
        store: Store | str | os.PathLike[str],
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
    ) -> None:
        """store: a path (a store of its own, closed by flush()) or an open Store or namespace.

        store_data and update_interval as for PTB's own persistences. Each
        update_* writes to the store at once (memory, then aiokv's debounced
        flush); update_interval only says how often PTB hands over its data.
        """
        super().__init__(store_data=store_data, update_interval=update_interval)
        self._owner = Owner(store)

    @property
    def store(self) -> Store:
        """The store the data is kept in."""
        return self._owner.store

    # -- user, chat and bot data ---------------------------------------------------

    async def _by_id(self, kind: str) -> dict[int, Data]:
        return {int(k): v for k, v in (await self.store.namespace(kind).get_all()).items()}

    async def get_user_data(self) -> dict[int, Data]:
        """Every user's data, by user id."""
        return await self._by_id("user_data")

    async def get_chat_data(self) -> dict[int, Data]:
        """Every chat's data, by chat id."""
        return await self._by_id("chat_data")

    async def get_bot_data(self) -> Data:
        """The bot's data ({} if none)."""
        data: Data = await self.store.get("bot_data", {})
        return data

    async def update_user_data(self, user_id: int, data: Data) -> None:
        """Store one user's data."""
        await self.store.set(f"user_data:{user_id}", data)

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        """Store one chat's data."""
        await self.store.set(f"chat_data:{chat_id}", data)

    async def update_bot_data(self, data: Data) -> None:
        """Store the bot's data."""
        await self.store.set("bot_data", data)

    async def drop_user_data(self, user_id: int) -> None:
        """Forget one user's data."""
        await self.store.delete(f"user_data:{user_id}")

    async def drop_chat_data(self, chat_id: int) -> None:
        """Forget one chat's data."""
        await self.store.delete(f"chat_data:{chat_id}")

    # PTB calls these before each update, for persistences whose data can
    # change behind its back; the store changes only through PTB here.

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        """Nothing to do: the store holds what PTB last handed over."""

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        """Nothing to do: the store holds what PTB last handed over."""

    async def refresh_bot_data(self, bot_data: Data) -> None:
        """Nothing to do: the store holds what PTB last handed over."""

    # -- callback data and conversations ---------------------------------------------

    async def get_callback_data(self) -> CDCData | None:
        """The arbitrary callback data cache, or None if none was stored."""
        stored = await self.store.get("callback_data")
        if stored is None:
            return None
        buttons, mapping = stored
        return [(uuid, at, data) for uuid, at, data in buttons], mapping

    async def update_callback_data(self, data: CDCData) -> None:
        """Store the arbitrary callback data cache."""
        buttons, mapping = data
        await self.store.set("callback_data", [[list(entry) for entry in buttons], mapping])

    async def get_conversations(self, name: str) -> ConversationDict:
        """The states of conversation handler name, by conversation key."""
        stored: dict[str, object] = await self.store.get(f"conversations:{name}", {})
        return {tuple(json.loads(key)): state for key, state in stored.items()}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        """Store one conversation's new state; None (ended) is kept, as PTB's persistences do."""
        text = json.dumps(list(key))
        store_key = f"conversations:{name}"
        state = _plain_state(new_state, store_key)
        async with self.store.edit(store_key, default={}) as states:
            states[text] = state

    async def flush(self) -> None:
        """Make everything durable: close a store built from a path, flush a shared one."""
        await self._owner.finish()


def _plain_state(state: object, key: str) -> object:
    """The state as JSON keeps it: an enum of int or str as its int or str.

    ConversationHandler only compares states (==, and as dict keys), and
    such an enum member compares equal to its plain value. Another enum's
    member does not, so it is refused rather than stored as its value.
    """
    if not isinstance(state, Enum):
        return state
    if isinstance(state, int):
        return int(state)
    if isinstance(state, str):
        return str.__str__(state)
    raise TypeError(
        f"value for key {key!r}: state {state!r} is an enum whose members are neither int "
        "nor str: stored as its value it would not compare equal to the state; use an "
        "IntEnum, a StrEnum, or plain values"
    )
