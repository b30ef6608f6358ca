"""Telegram answered locally: what the framework tests feed and what they read back.

No network: aiogram's Bot gets a session, and python-telegram-bot's a
request object, that answer each API call from here and record it.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import Chat, Message, Update, User
from telegram.request import BaseRequest, RequestData

from tests.helpers import ROOT, run_child

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "aiokv test bot", "username": "aiokv_bot"}


class AiogramSession(BaseSession):
    """An aiogram session that answers sendMessage locally and records every text."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def make_request(
        self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None
    ) -> Any:
        if not isinstance(method, SendMessage):
            raise AssertionError(f"unexpected API call offline: {method!r}")
        self.sent.append(str(method.text))
        return Message(
            message_id=len(self.sent),
            date=datetime.datetime.now(datetime.timezone.utc),
            chat=Chat(id=int(method.chat_id), type="private"),
            text=method.text,
        )

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        raise AssertionError("no downloads offline")
        yield b""

    async def close(self) -> None:
        pass


def aiogram_update(n: int, text: str, user_id: int = 42) -> Update:
    """A private message from user_id, as Telegram would deliver it."""
    user = User(id=user_id, is_bot=False, first_name=f"user {user_id}")
    return Update(
        update_id=n,
        message=Message(
            message_id=n,
            date=datetime.datetime.now(datetime.timezone.utc),
            chat=Chat(id=user_id, type="private"),
            from_user=user,
            text=text,
            entities=[{"type": "bot_command", "offset": 0, "length": len(text)}]
            if text.startswith("/")
            else None,
        ),
    )


class TelegramRequest(BaseRequest):
    """A python-telegram-bot request object answering getMe and sendMessage locally."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **_: Any
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        if endpoint == "getMe":
            result: Any = BOT_USER
        elif endpoint == "sendMessage":
            self.sent.append(str(params["text"]))
            result = {
                "message_id": len(self.sent),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params["text"],
            }
        elif endpoint in ("deleteWebhook", "close", "logOut"):
            result = True
        else:
            raise AssertionError(f"unexpected API call offline: {endpoint}")
        return 200, json.dumps({"ok": True, "result": result}).encode()


def telegram_update(n: int, text: str, user_id: int = 42) -> dict[str, Any]:
    """A private message from user_id, as the JSON Telegram delivers."""
    message: dict[str, Any] = {
        "message_id": n,
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private"},
        "from": {"id": user_id, "is_bot": False, "first_name": f"user {user_id}"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": n, "message": message}


def run_step(program: str, state: Path, *texts: str) -> str:
    """Run one process of a bot (program) on state, fed texts; return what it printed."""
    result = run_child(program, str(state), str(ROOT), str(ROOT / "examples"), *texts)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
