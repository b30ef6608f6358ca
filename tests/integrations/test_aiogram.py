"""AioKVStorage through aiogram's real Dispatcher, FSMContext and Update objects, offline."""

from __future__ import annotations

import asyncio
import enum
import sys
from collections import OrderedDict
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey

from aiokv import AioKV, ClosedError
from aiokv.integrations.aiogram import AioKVStorage
from tests.helpers import ROOT, read_json
from tests.integrations.offline import AiogramSession, aiogram_update, run_step

sys.path.insert(0, str(ROOT / "examples"))
import aiogram_bot  # the example, driven offline

KEY = StorageKey(bot_id=4242, chat_id=42, user_id=42)
EMPTY = StorageKey(bot_id=4242, chat_id=7, user_id=7)  # a key with no data


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def feed(dp: Dispatcher, texts: list[str]) -> list[str]:
    """Feed messages to dp as Telegram updates; return what the bot answered."""
    session = AiogramSession()
    bot = Bot("4242:TEST", session=session)
    for n, text in enumerate(texts, 1):
        await dp.feed_update(bot, aiogram_update(n, text))
    return session.sent


STEP = """
import asyncio, sys
sys.path[:0] = [sys.argv[2], sys.argv[3]]
import aiogram_bot
from tests.integrations.test_aiogram import feed

async def main():
    dp = aiogram_bot.make_dispatcher(sys.argv[1])
    print(await feed(dp, sys.argv[4:]))
    await dp.emit_shutdown()  # what polling does when the bot stops: the storage closes

asyncio.run(main())
"""


def test_a_form_survives_a_restart_of_the_process_in_the_middle(state: Path) -> None:
    def step(*texts: str) -> str:
        return run_step(STEP, state, *texts)

    assert step("/start", "Ada") == "['What is your name?', 'Which city do you live in?']"
    # Between the two processes the file says where the conversation is.
    assert read_json(state) == {"fsm:42:42:state": "Form:city", "fsm:42:42:data": {"name": "Ada"}}
    assert step("Paris") == "['Ada from Paris: saved.']"
    assert not state.exists()  # the form ended: state and data cleared, the store empty


def test_the_example_runs_offline_in_this_process(state: Path) -> None:
    async def main() -> None:
        dp = aiogram_bot.make_dispatcher(str(state))
        answers = await feed(dp, ["/start", "Grace", "Arlington"])
        assert answers[-1] == "Grace from Arlington: saved."
        await dp.emit_shutdown()
        # The storage can serve a dispatcher started again.
        assert await feed(dp, ["/start"]) == ["What is your name?"]
        await dp.emit_shutdown()

    run(main())
    assert read_json(state) == {"fsm:42:42:state": "Form:name"}


def test_a_shared_store_or_namespace_stays_open_and_is_flushed(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state, flush_delay=60, max_flush_delay=60) as kv:
            await kv.set("bot:last_command", "ping")
            storage = AioKVStorage(kv.namespace("telegram"))
            dp = Dispatcher(storage=storage)
            dp.include_router(aiogram_bot.make_router())
            await feed(dp, ["/start"])
            await dp.emit_shutdown()  # close(): the shared store is flushed, not closed
            assert read_json(state) == {
                "bot:last_command": "ping",
                "telegram:fsm:42:42:state": "Form:name",
            }
            assert await kv.get("bot:last_command") == "ping"  # still open

    run(main())


def test_states_data_and_key_builders(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            builder = DefaultKeyBuilder(with_destiny=True, with_bot_id=True)
            storage = AioKVStorage(kv, key_builder=builder)
            key = StorageKey(bot_id=1, chat_id=2, user_id=3, destiny="dialog")
            await storage.set_state(key, State("step", group_name="Form"))
            assert await storage.get_state(key) == "Form:step"
            await storage.set_state(key, "plain string")
            assert await storage.get_state(key) == "plain string"
            await storage.set_data(key, {"a": 1})
            assert await storage.update_data(key, {"b": [2]}) == {"a": 1, "b": [2]}
            assert await storage.get_value(key, "b") == [2]
            assert await storage.get_value(key, "absent", 5) == 5
            assert await kv.keys() == ["fsm:1:2:3:dialog:state", "fsm:1:2:3:dialog:data"]
            other_bot = StorageKey(bot_id=9, chat_id=2, user_id=3, destiny="dialog")
            assert await storage.get_state(other_bot) is None
            await storage.set_state(key, None)
            await storage.set_data(key, {})
            assert await kv.keys() == []

    run(main())


def test_data_aiokv_cannot_store_faithfully_is_refused_naming_the_key(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            storage = AioKVStorage(kv)
            await storage.set_data(KEY, {"kept": 1})
            # RedisStorage would quietly turn the int key 7 into "7".
            for bad in ({7: "seven"}, {"when": object()}, {"x": float("nan")}):
                with pytest.raises((TypeError, ValueError), match="fsm:42:42:data"):
                    await storage.set_data(KEY, bad)
                with pytest.raises((TypeError, ValueError), match="fsm:42:42:data"):
                    await storage.update_data(KEY, bad)
            assert await storage.get_data(KEY) == {"kept": 1}

    run(main())


class Step(str, enum.Enum):
    NAME = "Form:name"


async def odd_data_is_refused_as_aiogram_refuses_it(storage: AioKVStorage) -> None:
    """set_data takes a dict only (DataNotDictLikeError), update_data what dict.update takes."""
    await storage.set_data(KEY, {"kept": 1})
    keys = await storage.store.keys()
    name = "fsm:42:42:data"
    for bad in ((), [], 0, None, "", [("a", 1)], MappingProxyType({"m": 1})):
        with pytest.raises(DataNotDictLikeError, match=name):
            await storage.set_data(KEY, bad)  # type: ignore[arg-type]
        with pytest.raises(DataNotDictLikeError, match="fsm:7:7:data"):
            await storage.set_data(EMPTY, bad)  # type: ignore[arg-type]
    for bad, error in ((0, TypeError), (None, TypeError), ("ab", ValueError)):
        with pytest.raises(error, match=name):
            await storage.update_data(KEY, bad)  # type: ignore[arg-type]
        with pytest.raises(error, match="fsm:7:7:data"):
            await storage.update_data(EMPTY, bad)  # type: ignore[arg-type]
    assert await storage.get_data(KEY) == {"kept": 1}
    assert await storage.store.keys() == keys  # nothing stored for the other key either
    assert await storage.update_data(KEY, [("a", 1)]) == {"kept": 1, "a": 1}  # type: ignore[arg-type]
    await storage.set_data(KEY, OrderedDict(o=1))  # a dict, of a subclass
    assert await storage.get_data(KEY) == {"o": 1}


async def states_are_strs_or_states(storage: AioKVStorage) -> None:
    """A str (a StrEnum member as its string) or a State; None or a State without a name clears."""
    await storage.set_state(KEY, Step.NAME)
    stored = await storage.get_state(KEY)
    assert stored == Step.NAME and type(stored) is str
    for bad in (5, Step.NAME.value.encode()):
        with pytest.raises(TypeError, match="fsm:42:42:state"):
            await storage.set_state(KEY, bad)  # type: ignore[arg-type]
    assert await storage.get_state(KEY) == "Form:name"
    await storage.set_state(KEY, State())  # aiogram's State() names no state: cleared
    assert await storage.get_state(KEY) is None
    assert await storage.store.keys() == []


@pytest.mark.parametrize("namespace", [False, True], ids=["store", "namespace"])
def test_odd_data_and_states_are_refused_naming_the_key_and_lose_nothing(
    state: Path, namespace: bool
) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            storage = AioKVStorage(kv.namespace("fsm") if namespace else kv)
            await odd_data_is_refused_as_aiogram_refuses_it(storage)
            await storage.set_data(KEY, {})
            await states_are_strs_or_states(storage)

    run(main())


def test_concurrent_update_data_loses_nothing(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            storage = AioKVStorage(kv)

            async def add(n: int) -> None:
                await storage.update_data(KEY, {f"field{n}": n})

            await asyncio.gather(*(add(n) for n in range(50)))
            assert await storage.get_data(KEY) == {f"field{n}": n for n in range(50)}

    run(main())


def test_close_of_an_owned_store_writes_it_and_releases_the_file(state: Path) -> None:
    async def main() -> None:
        storage = AioKVStorage(state)
        await storage.set_state(KEY, "Form:name")
        await storage.close()
        assert read_json(state) == {"fsm:42:42:state": "Form:name"}
        async with AioKV(state) as kv:  # the lock was released
            assert await kv.get("fsm:42:42:state") == "Form:name"
        shared = AioKV(state)
        await AioKVStorage(shared).close()  # shared: flushed, left open
        await shared.set("x", 1)
        await shared.aclose()
        with pytest.raises(ClosedError):
            await AioKVStorage(shared).get_state(KEY)

    run(main())
