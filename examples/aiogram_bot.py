"""A Telegram bot on aiogram 3 whose conversations survive restarts, kept by aiokv.

    pip install "aiokv[aiogram]"
    BOT_TOKEN=123456:ABC... python examples/aiogram_bot.py

/start asks for a name, then a city. Stop the bot between the two answers
and start it again: it still knows where the conversation was, because the
FSM states and data are in ./aiogram-fsm.json.
"""

from __future__ import annotations

import asyncio
import os

from aiogram import Bot, Dispatcher, Router
from aiogram.filters import CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from aiokv import Store
from aiokv.integrations.aiogram import AioKVStorage


class Form(StatesGroup):
    """The steps of the form."""

    name = State()
    city = State()


def make_router() -> Router:
    """The bot's handlers (a function: a router belongs to one dispatcher)."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Form.name)
        await message.answer("What is your name?")

    @router.message(Form.name)
    async def name(message: Message, state: FSMContext) -> None:
        await state.update_data(name=message.text)
        await state.set_state(Form.city)
        await message.answer("Which city do you live in?")

    @router.message(Form.city)
    async def city(message: Message, state: FSMContext) -> None:
        data = await state.update_data(city=message.text)
        await state.clear()
        await message.answer(f"{data['name']} from {data['city']}: saved.")

    return router


def make_dispatcher(store: Store | str = "aiogram-fsm.json") -> Dispatcher:
    """A dispatcher whose FSM storage is the aiokv file at a path, or any store.

    On Redis, for bots of several processes: make_dispatcher(RedisKV(url, name="fsm")).
    """
    dispatcher = Dispatcher(storage=AioKVStorage(store))
    dispatcher.include_router(make_router())
    return dispatcher


async def main() -> None:
    bot = Bot(os.environ["BOT_TOKEN"])
    # Polling stops on SIGINT/SIGTERM; its shutdown closes the storage, which
    # writes the final state.
    await make_dispatcher().start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
