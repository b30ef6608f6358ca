"""The aiogram and python-telegram-bot examples on a RedisKV: one line changed, offline."""

from __future__ import annotations

import asyncio

from aiokv.integrations.aiogram import AioKVStorage
from aiokv.redis import RedisKV
from tests.integrations import test_aiogram, test_telegram
from tests.integrations.test_aiogram import aiogram_bot  # the examples
from tests.integrations.test_telegram import telegram_bot
from tests.redis.server import RedisServer


def test_an_aiogram_form_is_finished_by_another_process_s_client(
    server: RedisServer, name: str
) -> None:
    async def step(*texts: str) -> list[str]:
        # Each step a client of its own, as each worker of a bot has.
        async with RedisKV(server.url, name=name) as kv:
            dp = aiogram_bot.make_dispatcher(kv.namespace("tg"))
            answers = await test_aiogram.feed(dp, list(texts))
            await dp.emit_shutdown()  # flushes the shared store, leaves it open
            await kv.set("still_open", True)
            return answers

    assert asyncio.run(step("/start", "Ada")) == [
        "What is your name?",
        "Which city do you live in?",
    ]
    assert server.cli("HGET", name, "tg:fsm:42:42:data").strip() == '{"name":"Ada"}'
    assert asyncio.run(step("Paris")) == ["Ada from Paris: saved."]
    assert server.cli("HKEYS", name).split() == ["still_open"]  # the form ended: cleared


def test_a_telegram_conversation_is_finished_by_another_process_s_client(
    server: RedisServer, name: str
) -> None:
    async def step(*texts: str) -> list[str]:
        async with RedisKV(server.url, name=name) as kv:
            app, request = test_telegram.offline_app(telegram_bot.builder(kv))
            async with app:  # loads the persistence; shutdown hands the data over
                await test_telegram.feed(app, list(texts))
            return list(request.sent)

    assert asyncio.run(step("/start", "Ada")) == [
        "What is your name?",
        "Which city do you live in?",
    ]
    assert server.cli("HGET", name, "user_data:42").strip() == '{"name":"Ada"}'
    assert asyncio.run(step("Paris")) == ["Ada from Paris: saved."]
    assert server.cli("HGET", name, "user_data:42").strip() == '{"name":"Ada","city":"Paris"}'
    # Ended: kept as None, as PTB's own persistences keep it.
    assert server.cli("HGET", name, "conversations:form").strip() == '{"[42, 42]":null}'


def test_aiogram_s_odd_data_and_states_are_refused_on_a_redis_kv_too(
    server: RedisServer, name: str
) -> None:
    async def main() -> None:
        async with RedisKV(server.url, name=name) as kv:
            for store in (kv, kv.namespace("fsm")):
                storage = AioKVStorage(store)
                await test_aiogram.odd_data_is_refused_as_aiogram_refuses_it(storage)
                await storage.set_data(test_aiogram.KEY, {})
                await test_aiogram.states_are_strs_or_states(storage)

    asyncio.run(main())
