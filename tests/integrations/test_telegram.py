"""AioKVPersistence through python-telegram-bot's real Application, offline."""

from __future__ import annotations

import asyncio
import enum
import sys
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import (
    Application,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    PersistenceInput,
    filters,
)

from aiokv import AioKV
from aiokv.integrations.telegram import AioKVPersistence
from tests.helpers import ROOT, read_json
from tests.integrations.offline import TelegramRequest, run_step, telegram_update

sys.path.insert(0, str(ROOT / "examples"))
import telegram_bot  # the example, driven offline


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def offline_app(builder: Any) -> tuple[Any, TelegramRequest]:
    """The example's application from builder, its requests answered locally."""
    request = TelegramRequest()
    app = (
        builder.token("4242:TEST")
        .request(request)
        .get_updates_request(TelegramRequest())
        .updater(None)
        .build()
    )
    telegram_bot.add_handlers(app)
    return app, request


async def feed(app: Any, texts: list[str], user_id: int = 42) -> None:
    for n, text in enumerate(texts, 1):
        await app.process_update(Update.de_json(telegram_update(n, text, user_id), app.bot))


STEP = """
import asyncio, sys
sys.path[:0] = [sys.argv[2], sys.argv[3]]
import telegram_bot
from tests.integrations.test_telegram import feed, offline_app

async def main():
    app, request = offline_app(telegram_bot.builder(sys.argv[1]))
    async with app:  # initialize() loads the persistence; shutdown() hands over and flushes
        await feed(app, sys.argv[4:])
    print(request.sent)

asyncio.run(main())
"""


def test_a_conversation_resumes_after_a_restart_of_the_process(state: Path) -> None:
    def step(*texts: str) -> str:
        return run_step(STEP, state, *texts)

    assert step("/start", "Ada") == "['What is your name?', 'Which city do you live in?']"
    saved = read_json(state)
    assert saved["conversations:form"] == {"[42, 42]": telegram_bot.CITY}
    assert saved["user_data:42"] == {"name": "Ada"}
    assert step("Paris") == "['Ada from Paris: saved.']"
    saved = read_json(state)
    assert saved["conversations:form"] == {"[42, 42]": None}  # ended: None, as PTB keeps it
    assert saved["user_data:42"] == {"name": "Ada", "city": "Paris"}


def test_every_kind_of_data_round_trips_with_its_types(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            p = AioKVPersistence(kv.namespace("ptb"))
            await p.update_user_data(7, {"xp": 1})
            await p.update_user_data(-100, {"xp": 2})
            await p.update_chat_data(-1001234, {"lang": "en"})
            await p.update_bot_data({"started": 1})
            await p.update_conversation("form", (42, 7), 1)
            await p.update_conversation("form", (42, "name"), "STATE")
            await p.update_conversation("other", (1,), 0)
            await p.update_callback_data(([("uuid-1", 1.5, {"button": "a"})], {"q1": "uuid-1"}))
            assert await p.get_user_data() == {7: {"xp": 1}, -100: {"xp": 2}}
            assert await p.get_chat_data() == {-1001234: {"lang": "en"}}
            assert await p.get_bot_data() == {"started": 1}
            assert await p.get_conversations("form") == {(42, 7): 1, (42, "name"): "STATE"}
            assert await p.get_conversations("other") == {(1,): 0}
            assert await p.get_conversations("absent") == {}
            assert await p.get_callback_data() == (
                [("uuid-1", 1.5, {"button": "a"})],
                {"q1": "uuid-1"},
            )
            await p.update_conversation("form", (42, 7), None)  # ended
            assert await p.get_conversations("form") == {(42, 7): None, (42, "name"): "STATE"}
            await p.drop_user_data(7)
            await p.drop_chat_data(-1001234)
            assert await p.get_user_data() == {-100: {"xp": 2}}
            assert await p.get_chat_data() == {}
            await p.refresh_user_data(-100, {})  # nothing changes behind PTB's back
            await p.refresh_chat_data(1, {})
            await p.refresh_bot_data({})
            await p.flush()  # shared: flushed, the store stays open
            assert read_json(state)["ptb:bot_data"] == {"started": 1}
            assert await kv.get("ptb:user_data:-100") == {"xp": 2}

    run(main())


def test_fresh_persistence_has_nothing_and_no_callback_data(state: Path) -> None:
    async def main() -> None:
        p = AioKVPersistence(state)
        assert await p.get_user_data() == {} and await p.get_bot_data() == {}
        assert await p.get_callback_data() is None
        await p.flush()

    run(main())
    assert not state.exists()


def test_data_aiokv_cannot_store_is_refused_naming_the_key(state: Path) -> None:
    async def main() -> None:
        p = AioKVPersistence(state)
        await p.update_user_data(7, {"ok": 1})
        with pytest.raises(TypeError, match="user_data:7"):
            await p.update_user_data(7, {"when": object()})
        with pytest.raises(TypeError, match="conversations:form"):
            await p.update_conversation("form", (1, 2), object())
        # In data an enum stays refused: JSON would give back its value, not the member.
        with pytest.raises(TypeError, match="user_data:7"):
            await p.update_user_data(7, {"step": Step.CITY})
        assert await p.get_user_data() == {7: {"ok": 1}}
        await p.flush()

    run(main())


def test_store_data_is_honoured_by_the_application(state: Path) -> None:
    # PTB asks a persistence for, and hands it, only what store_data enables.
    async def main() -> None:
        p = AioKVPersistence(state, store_data=PersistenceInput(user_data=False))
        app, _ = offline_app(Application.builder().persistence(p))
        async with app:
            await feed(app, ["/start", "Ada"])

    run(main())
    saved = read_json(state)
    assert "user_data:42" not in saved
    assert saved["conversations:form"] == {"[42, 42]": telegram_bot.CITY}


def test_the_update_interval_is_the_persistences(state: Path) -> None:
    p = AioKVPersistence(state, update_interval=5)
    assert p.update_interval == 5


class Step(enum.IntEnum):
    NAME = 1
    CITY = 2


class Mode(str, enum.Enum):
    EDIT = "edit"


class Count(int, enum.Enum):
    ONE = 1


class Color(enum.Enum):
    RED = 1


def test_enum_states_of_int_or_str_are_kept_as_their_values(state: Path) -> None:
    # As PTB's own JSON persistence keeps them; ConversationHandler finds each equal.
    async def main() -> None:
        p = AioKVPersistence(state)
        await p.update_conversation("form", (1, 1), Step.CITY)
        await p.update_conversation("form", (2, 2), Mode.EDIT)
        await p.update_conversation("form", (3, 3), Count.ONE)
        await p.update_conversation("form", (4, 4), ConversationHandler.END)
        states = await p.get_conversations("form")
        assert states == {(1, 1): Step.CITY, (2, 2): Mode.EDIT, (3, 3): 1, (4, 4): -1}
        assert [type(s) for s in states.values()] == [int, str, int, int]
        await p.flush()

    run(main())
    assert read_json(state)["conversations:form"] == {
        "[1, 1]": 2,
        "[2, 2]": "edit",
        "[3, 3]": 1,
        "[4, 4]": -1,
    }


def test_an_enum_state_of_another_type_is_refused_naming_the_key(state: Path) -> None:
    async def main() -> None:
        p = AioKVPersistence(state)
        await p.update_conversation("form", (1, 1), 1)
        with pytest.raises(TypeError, match=r"conversations:form.*Color\.RED"):
            await p.update_conversation("form", (1, 1), Color.RED)  # Color.RED != 1
        assert await p.get_conversations("form") == {(1, 1): 1}
        await p.flush()

    run(main())


async def ask_name(update: Update, _: Any) -> Step:
    assert update.message is not None
    await update.message.reply_text("name?")
    return Step.NAME


async def ask_city(update: Update, _: Any) -> Step:
    assert update.message is not None
    await update.message.reply_text(f"city, {update.message.text}?")
    return Step.CITY


async def done(update: Update, _: Any) -> int:
    assert update.message is not None
    await update.message.reply_text(f"{update.message.text}: done")
    return ConversationHandler.END


def test_an_int_enum_conversation_resumes_after_a_restart(state: Path) -> None:
    text = filters.TEXT & ~filters.COMMAND

    async def step(*texts: str) -> list[str]:
        request = TelegramRequest()
        app = (
            Application.builder()
            .token("4242:TEST")
            .request(request)
            .get_updates_request(TelegramRequest())
            .updater(None)
            .persistence(AioKVPersistence(state))
            .build()
        )
        app.add_handler(
            ConversationHandler(
                entry_points=[CommandHandler("start", ask_name)],
                states={
                    Step.NAME: [MessageHandler(text, ask_city)],
                    Step.CITY: [MessageHandler(text, done)],
                },
                fallbacks=[],
                name="steps",
                persistent=True,
            )
        )
        async with app:  # each step a fresh application on the file: a restart
            await feed(app, list(texts))
        return request.sent

    assert run(step("/start")) == ["name?"]
    assert read_json(state)["conversations:steps"] == {"[42, 42]": 1}
    assert run(step("Ada")) == ["city, Ada?"]
    assert run(step("Paris")) == ["Paris: done"]
    assert read_json(state)["conversations:steps"] == {"[42, 42]": None}
    assert run(step("/start")) == ["name?"]  # ended: the entry point answers again
