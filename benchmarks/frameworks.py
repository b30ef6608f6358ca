"""Workloads (l) and (m): aiokv's adapters beside the bot frameworks' own storages.

(l) aiogram 3's FSM: one update's storage work for a random user, and the loop
stall while updates arrive. (m) python-telegram-bot: an Application holding
many chats' chat_data, its persistence round (update_persistence, then the
write to disk) timed with the bytes it writes, and the loop stall.
"""

from __future__ import annotations

import json
import pickle
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from aiokv import AioKV
from benchmarks.workloads import Bench, Table, dict_value, lateness_while

# (l)'s rows.
MEMORY = "MemoryStorage"
AIOKV_FILE = "AioKVStorage, file"
SQLITE = "aiogram-sqlite-storage"
REDIS = "RedisStorage"
AIOKV_REDIS = "AioKVStorage, RedisKV"
IDLE = "idle"  # the stalls' reference: the same ticker, nothing else
# (m)'s rows.
PICKLE = "PicklePersistence"
DICT = "DictPersistence"
AIOKV_PTB = "AioKVPersistence"
NO_PERSISTENCE = "no persistence"
UPDATES_PER_S = 1_000  # the stalls' stream: one update a millisecond, at most
ROUND_EVERY = 500  # (m)'s stall: updates between persistence rounds (~0.5 s)

Update = Callable[[int], Awaitable[None]]


def written() -> int:
    """Bytes this process has handed to write() so far, every thread's (Linux)."""
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("wchar:"))


def stall_tables(title: str) -> tuple[Table, Table]:
    """A stall's p99 and max tables, against the idle ticker."""
    p99 = Table(f"{title}: p99", "ms", reference=IDLE)
    worst = Table(f"{title.split(':')[0]}: max", "ms", reference=IDLE)
    return p99, worst


async def stall(bench: Bench, p99: Table, worst: Table, updates: dict[str, Update | None]) -> None:
    """Each system's 1 ms ticker lateness while its updates arrive, rotated by repetition."""
    for rep in range(bench.sizes.reps):
        for name in bench.rotation(list(updates), rep):
            lateness = sorted(await lateness_while(bench.sizes.stall_s, updates[name]))
            p99.add(name, 1e3 * lateness[int(len(lateness) * 0.99)])
            worst.add(name, 1e3 * lateness[-1])
    bench.tables += [p99, worst]


# -- (l) aiogram ---------------------------------------------------------------


def fsm_data(user: int) -> dict[str, Any]:
    """A user's FSM data, as a form in progress keeps it."""
    return {"name": f"user{user}", "step": user % 7, "lang": "en"}


async def aiogram_storages(
    bench: Bench, users: int, redis_url: str | None
) -> tuple[dict[str, Any], list[Any]]:
    """Each storage holding a state and data for every user; and what to close after."""
    from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
    from aiogram.fsm.storage.memory import MemoryStorage

    from aiokv.integrations.aiogram import AioKVStorage

    builder = DefaultKeyBuilder()
    keys = [StorageKey(bot_id=1, chat_id=u, user_id=u) for u in range(users)]
    plain = {
        name: value
        for u, key in enumerate(keys)
        for name, value in (
            (builder.build(key, "state"), "Form:name"),
            (builder.build(key, "data"), fsm_data(u)),
        )
    }
    memory = MemoryStorage()
    for u, key in enumerate(keys):
        await memory.set_state(key, "Form:name")
        await memory.set_data(key, fsm_data(u))
    path = bench.workdir / f"aiogram-{users}.json"
    path.write_bytes(orjson.dumps(plain))
    kv = AioKV(path)
    await kv.__aenter__()
    storages: dict[str, Any] = {MEMORY: memory, AIOKV_FILE: AioKVStorage(kv)}
    closing: list[Any] = [kv]
    if sqlite := sqlite_storage(bench.workdir / f"aiogram-{users}.db", users):
        storages[SQLITE] = sqlite
    if redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        from aiokv.redis import RedisKV

        redis = RedisStorage.from_url(redis_url)
        async with redis.redis.pipeline(transaction=False) as pipe:
            for name, value in plain.items():
                pipe.set(name, value if isinstance(value, str) else json.dumps(value))
            await pipe.execute()
        redis_kv = RedisKV(redis_url, name=f"fsm{users}")
        await redis_kv.update(plain)
        storages |= {REDIS: redis, AIOKV_REDIS: AioKVStorage(redis_kv)}
        closing.append(redis_kv)  # RedisStorage.close() closes its client
    return storages, closing


def sqlite_storage(path: Path, users: int) -> Any:
    """aiogram-sqlite-storage's SQLStorage holding every user, or None if not installed."""
    try:
        from aiogram_sqlite_storage.sqlitestore import SQLStorage
    except ImportError:
        print(f"  (l) {SQLITE} is not installed: left out", file=sys.stderr)
        return None
    storage = SQLStorage(str(path))  # its default: data pickled, a commit per write
    rows = [(f"1:{u}:{u}", "Form:name", pickle.dumps(fsm_data(u))) for u in range(users)]
    storage.con.executemany("INSERT INTO fsm_data VALUES (?, ?, ?)", rows)
    storage.con.commit()
    return storage


def in_turn(update: Callable[[Any], Awaitable[None]], keys: list[Any]) -> Update:
    """The i-th update, for the i-th user of keys (in a loop)."""
    return lambda i: update(keys[i % len(keys)])


def fsm_update(storage: Any) -> Callable[[Any], Awaitable[None]]:
    """One update's FSM work on storage, for the user of key."""

    async def update(key: Any) -> None:
        await storage.get_state(key)
        data = await storage.get_data(key)
        await storage.set_state(key, "Form:age")
        await storage.update_data(key, {"step": data["step"] + 1})

    return update


async def l_aiogram(bench: Bench) -> None:
    """(l): aiogram's FSM storages, each update's work and the loop stall."""
    from aiogram.fsm.storage.base import StorageKey

    from tests.redis.server import RedisServer, available

    s = bench.sizes
    server = None
    if available():
        server = RedisServer(bench.workdir / "redis-l", "--appendonly", "no").start()
    else:
        print("  (l) redis-server is not installed: Redis rows left out", file=sys.stderr)
    try:
        for users in s.fsm_users:
            storages, closing = await aiogram_storages(
                bench, users, server.url if server else None
            )
            rng = random.Random(users)
            keys = [
                StorageKey(bot_id=1, chat_id=u, user_id=u)
                for u in (rng.randrange(users) for _ in range(s.fsm_updates))
            ]
            table = Table(
                f"(l) aiogram FSM, one update (get state, get data, set state, update data) "
                f"for a random user of {users:,}",
                "µs/update",
                reference=MEMORY,
            )
            updates = {name: fsm_update(storage) for name, storage in storages.items()}
            for rep in range(s.reps):
                for name in bench.rotation(list(updates), rep):
                    per_update = await bench.per_op(updates[name], keys, len(keys))
                    table.add(name, 1e6 * per_update)
            bench.tables.append(table)
            if users == max(s.fsm_users):
                p99, worst = stall_tables(
                    f"(l) aiogram FSM, event-loop stall: a 1 ms ticker's lateness while "
                    f"~{UPDATES_PER_S:,} updates/s arrive for {s.stall_s} s, {users:,} users"
                )
                each_ms = {name: in_turn(update, keys) for name, update in updates.items()}
                await stall(bench, p99, worst, {IDLE: None} | each_ms)
            for storage in storages.values():
                await storage.close()
            for store in closing:
                await store.aclose()
    finally:
        if server is not None:
            server.stop()


# -- (m) python-telegram-bot ---------------------------------------------------


class Bot:
    """One persistence under a real Application, and its round: hand over, then write."""

    def __init__(self, name: str, persistence: Any, write: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.persistence = persistence
        self.write = write
        self.app: Any = None

    async def start(self) -> None:
        """Build the Application offline and load the persistence (PTB's initialize)."""
        from telegram import Update as TelegramUpdate
        from telegram.ext import Application, TypeHandler

        from tests.integrations.offline import TelegramRequest

        async def count(update: Any, context: Any) -> None:
            context.chat_data["count"] = context.chat_data.get("count", 0) + 1

        builder = Application.builder().token("4242:TEST").request(TelegramRequest())
        builder = builder.get_updates_request(TelegramRequest()).updater(None)
        if self.persistence is not None:
            builder = builder.persistence(self.persistence)
        self.app = builder.build()
        self.app.add_handler(TypeHandler(TelegramUpdate, count))
        await self.app.initialize()

    async def update(self, n: int, chat: int) -> None:
        """Process one message of chat, as Telegram delivers it."""
        from telegram import Update as TelegramUpdate

        from tests.integrations.offline import telegram_update

        await self.app.process_update(
            TelegramUpdate.de_json(telegram_update(n, "hi", user_id=chat), self.app.bot)
        )

    async def round(self) -> None:
        """PTB's periodic hand-over, then what makes it durable."""
        await self.app.update_persistence()
        await self.write()

    async def stop(self) -> None:
        """Shut the Application down: PTB hands over and flushes once more."""
        await self.app.shutdown()


def telegram_bots(bench: Bench, chats: int) -> list[Bot]:
    """Each persistence, holding every chat's chat_data on disk; and none, for reference."""
    from telegram.ext import DictPersistence, PersistenceInput, PicklePersistence

    from aiokv.integrations.telegram import AioKVPersistence

    only_chats = PersistenceInput(user_data=False, bot_data=False, callback_data=False)
    data = {chat: dict_value(chat) for chat in range(chats)}
    pickled = bench.workdir / f"ptb-{chats}.pickle"
    with pickled.open("wb") as f:  # PicklePersistence's single file
        pickle.dump(
            {"conversations": {}, "user_data": {}, "chat_data": data, "bot_data": {},
             "callback_data": None},
            f,
        )  # fmt: skip
    # on_flush=True and flush() each round: one dump a round. Its default
    # dumps the whole file once for every changed chat in update_persistence.
    on_pickle = PicklePersistence(pickled, store_data=only_chats, on_flush=True)
    json_path = bench.workdir / f"ptb-{chats}.json"
    json_path.write_text(json.dumps(data))
    on_dict = DictPersistence(store_data=only_chats, chat_data_json=json_path.read_text())

    async def write_json() -> None:
        json_path.write_text(on_dict.chat_data_json)

    kv_path = bench.workdir / f"ptb-{chats}.aiokv"
    kv_path.write_bytes(orjson.dumps({f"chat_data:{c}": v for c, v in data.items()}))
    on_aiokv = AioKVPersistence(kv_path, store_data=only_chats)  # its own, closed at stop

    async def nothing() -> None:
        pass

    return [
        Bot(PICKLE, on_pickle, on_pickle.flush),
        Bot(DICT, on_dict, write_json),
        Bot(AIOKV_PTB, on_aiokv, on_aiokv.store.flush),
        Bot(NO_PERSISTENCE, None, nothing),
    ]


async def m_telegram(bench: Bench) -> None:
    """(m): python-telegram-bot's persistences: the round's time and bytes, the loop stall."""
    s = bench.sizes
    chats = s.ptb_chats
    bots = telegram_bots(bench, chats)
    for bot in bots:
        await bot.start()
    persisting = [bot for bot in bots if bot.persistence is not None]
    rng = random.Random(chats)
    n = 0
    for changes in s.ptb_changes:
        took = Table(
            f"(m) python-telegram-bot, {chats:,} chats' chat_data: a persistence round "
            f"(update_persistence, then the write) after {changes:,} updates, each to a "
            "random chat",
            "ms",
            reference=PICKLE,
        )
        wrote = Table(f"(m) bytes written by that round, {changes:,} chats changed", "KiB",
                      reference=PICKLE)  # fmt: skip
        for rep in range(s.reps):
            picked = [rng.randrange(chats) for _ in range(changes)]
            for bot in bench.rotation(persisting, rep):
                for chat in picked:
                    n += 1
                    await bot.update(n, chat)
                before, start = written(), time.perf_counter()
                await bot.round()
                took.add(bot.name, 1e3 * (time.perf_counter() - start))
                wrote.add(bot.name, (written() - before) / 2**10)
        bench.tables += [took, wrote]
    p99, worst = stall_tables(
        f"(m) python-telegram-bot, event-loop stall: a 1 ms ticker's lateness while "
        f"~{UPDATES_PER_S:,} updates/s arrive for {s.stall_s} s, {chats:,} chats, a "
        f"persistence round every {ROUND_EVERY} updates"
    )
    each_ms = {bot.name: chat_updates(bot, chats, rng) for bot in bots}
    await stall(bench, p99, worst, {IDLE: None} | each_ms)
    for bot in bots:
        await bot.stop()


def chat_updates(bot: Bot, chats: int, rng: random.Random) -> Update:
    """The i-th update, to a random chat; a persistence round after every ROUND_EVERY."""

    async def update(i: int) -> None:
        await bot.update(i + 1, rng.randrange(chats))
        if (i + 1) % ROUND_EVERY == 0:
            await bot.round()

    return update
