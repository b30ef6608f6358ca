"""A python-telegram-bot bot whose conversations survive restarts, kept by aiokv.

    pip install "aiokv[telegram]"
    BOT_TOKEN=123456:ABC... python examples/telegram_bot.py

/start asks for a name, then a city. Stop the bot between the two answers
and start it again: the conversation resumes where it was, because its
state and user_data are in ./ptb-state.json.
"""

from __future__ import annotations

import os
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from aiokv import Store
from aiokv.integrations.telegram import AioKVPersistence

NAME, CITY = range(2)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None
    await update.message.reply_text("What is your name?")
    return NAME


async def name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and context.user_data is not None
    context.user_data["name"] = update.message.text
    await update.message.reply_text("Which city do you live in?")
    return CITY


async def city(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and context.user_data is not None
    context.user_data["city"] = update.message.text
    await update.message.reply_text(
        f"{context.user_data['name']} from {context.user_data['city']}: saved."
    )
    return ConversationHandler.END


def add_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The bot's conversation, persistent: its state is kept by the persistence."""
    text = filters.TEXT & ~filters.COMMAND
    application.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={NAME: [MessageHandler(text, name)], CITY: [MessageHandler(text, city)]},
            fallbacks=[],
            name="form",
            persistent=True,
        )
    )


def builder(
    store: Store | str = "ptb-state.json",
) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
    """An application builder whose persistence is the aiokv file at a path, or any store.

    On Redis, for bots of several processes: builder(RedisKV(url, name="ptb")).
    """
    return ApplicationBuilder().persistence(AioKVPersistence(store))


def main() -> None:
    application = builder().token(os.environ["BOT_TOKEN"]).build()
    add_handlers(application)
    # Polling stops on SIGINT/SIGTERM; the shutdown hands the data over and
    # flushes the persistence, which closes the store.
    application.run_polling()


if __name__ == "__main__":
    main()
