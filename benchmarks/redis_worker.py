"""Workload (k): worker processes, each a stream of bot-like operations on Redis.

    python -m benchmarks.redis_worker SPEC   (SPEC: JSON, see Workers)

A worker makes a client for each system it may be asked to run, warms each
up, prints "ready", then reads one command a line on stdin:
{"system": ..., "start": ..., "seconds": ..., "seed": ...}. It waits until
start (time.time(), shared by the workers), runs its stream for seconds and
prints {"ops": ..., "end": ..., "cpu": ...}: the operations answered, when
the last one was, and the CPU time the process took meanwhile. End of input
ends it. The parent side is Workers, below.

The stream, per round: a set of a small dict at a random user's key, an incr
of a counter, a get of another random user's key (each one operation),
awaited one at a time; on a cluster each round picks one of many stores.
The systems, per store (a Redis hash):

- "kv": RedisKV; "kv-r1": RedisKV(..., replicas=1).
- "hand": redis.asyncio by hand, the same commands: HSET of the value's
  orjson text, HINCRBY, HGET and orjson.loads.
- "hand-wait": "hand" with WAIT 1 after each write, in one pipeline on one
  connection (what a careful hand-written client does), its count checked.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks.workloads import ROOT, dict_value

# WAIT's limit by hand, in ms: RedisKV's (80% of its 5 s timeout).
WAIT_MS = 4000
LEAD = 0.05  # seconds between a command's sending and the workers' common start
WARM_UP_ROUNDS = 30
Op = Callable[[str, int], Awaitable[Any]]  # (store, user)


def user_key(user: int) -> str:
    return f"user:{user}"


def count_key(user: int) -> str:
    return f"n:{user}"


async def _streams(
    source: str, stores: list[str], systems: list[str]
) -> tuple[dict[str, tuple[Op, Op, Op]], Callable[[], Awaitable[None]]]:
    """Each system's (set, incr, get), and what closes their clients."""
    import redis.asyncio as aioredis

    from aiokv.redis import RedisKV
    from tests.redis import sources

    closers: list[Callable[[], Awaitable[None]]] = []

    def client() -> Any:
        # A URL's client as a user makes one; a cluster's without retries
        # (as RedisKV asks), for both sides alike.
        made: Any = aioredis.Redis.from_url(source) if "://" in source else sources.source(source)
        closers.append(made.aclose)
        return made

    streams: dict[str, tuple[Op, Op, Op]] = {}
    for system in systems:
        if system.startswith("kv"):
            replicas = 1 if system == "kv-r1" else 0
            # From a URL, a store's own client (one store); else one client
            # the stores share.
            given = source if "://" in source else client()
            kvs = {name: RedisKV(given, name=name, replicas=replicas) for name in stores}
            closers += [kv.aclose for kv in kvs.values()]
            streams[system] = _kv_ops(kvs)
        else:
            streams[system] = _hand_ops(client(), wait=system == "hand-wait")

    async def close() -> None:
        for closer in reversed(closers):  # the stores before the clients they share
            await closer()

    return streams, close


def _kv_ops(kvs: dict[str, Any]) -> tuple[Op, Op, Op]:
    async def set_(store: str, user: int) -> None:
        await kvs[store].set(user_key(user), dict_value(user))

    async def incr(store: str, user: int) -> None:
        await kvs[store].incr(count_key(user))

    async def get(store: str, user: int) -> None:
        await kvs[store].get(user_key(user))

    return set_, incr, get


def _hand_ops(client: Any, wait: bool) -> tuple[Op, Op, Op]:
    async def waited(queue: Callable[[Any], None]) -> None:
        pipe = client.pipeline(transaction=False)
        queue(pipe)
        pipe.wait(1, WAIT_MS)
        _, confirmed = await pipe.execute()
        if confirmed < 1:
            raise RuntimeError(f"WAIT: {confirmed} replicas confirmed the write, not 1")

    async def set_(store: str, user: int) -> None:
        value = orjson.dumps(dict_value(user))
        if wait:
            await waited(lambda pipe: pipe.hset(store, user_key(user), value))
        else:
            await client.hset(store, user_key(user), value)

    async def incr(store: str, user: int) -> None:
        if wait:
            await waited(lambda pipe: pipe.hincrby(store, count_key(user), 1))
        else:
            await client.hincrby(store, count_key(user), 1)

    async def get(store: str, user: int) -> None:
        raw = await client.hget(store, user_key(user))
        if raw is not None:
            orjson.loads(raw)

    return set_, incr, get


async def _run(
    ops: tuple[Op, Op, Op], stores: list[str], users: int, seconds: float, seed: int, start: float
) -> tuple[int, float]:
    """Operations answered from start for seconds, and when the last one was."""
    set_, incr, get = ops
    rng = random.Random(seed)
    await asyncio.sleep(max(0.0, start - time.time()))
    end = start + seconds
    done = 0
    while True:
        store = stores[rng.randrange(len(stores))]
        user, other = rng.randrange(users), rng.randrange(users)
        for op, who in ((set_, user), (incr, user), (get, other)):
            if time.time() >= end:
                return done, time.time()
            await op(store, who)
            done += 1


async def main(spec: dict[str, Any]) -> None:
    stores, users = spec["stores"], spec["users"]
    streams, close = await _streams(spec["source"], stores, spec["systems"])
    try:
        for ops in streams.values():
            # Connections made, scripts cached, every node of a cluster met.
            for i in range(max(WARM_UP_ROUNDS, len(stores))):
                for op in ops:
                    await op(stores[i % len(stores)], i % users)
        print("ready", flush=True)
        # Nothing else runs on this loop meanwhile: a blocking read is fine.
        while line := sys.stdin.readline():
            command = json.loads(line)
            ops = streams[command["system"]]
            cpu = time.process_time()
            done, last = await _run(
                ops, stores, users, command["seconds"], command["seed"], command["start"]
            )
            cpu = time.process_time() - cpu
            print(json.dumps({"ops": done, "end": last, "cpu": cpu}), flush=True)
    finally:
        await close()


class Workers:
    """Worker processes on one deployment, each with every system's clients, kept between runs.

    spec: {"source": a redis:// URL or "cluster:HOST:PORT", "stores": [hash
    names], "users": keys per kind per store, "systems": the names above}.
    """

    def __init__(self, spec: dict[str, Any], count: int, logs: Path) -> None:
        """Start count workers and wait until each is ready (their stderr goes to logs)."""
        logs.mkdir(parents=True, exist_ok=True)
        self._processes: list[subprocess.Popen[str]] = []
        self._logs: list[Path] = []
        try:
            for i in range(count):
                log = logs / f"worker{i}.log"
                with log.open("w") as err:
                    self._processes.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "benchmarks.redis_worker", json.dumps(spec)],
                            stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE,
                            stderr=err,
                            text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                        )
                    )
                self._logs.append(log)
            for i in range(count):
                self._answer(i)
        except BaseException:
            self.stop()
            raise

    def run(self, system: str, count: int, seconds: float, seed: int) -> tuple[int, float, float]:
        """The first count workers running system at once for seconds: ops answered, time, CPU.

        The time runs from their common start to the last answer; the CPU
        time is the workers' own (the client's work: encoding, parsing, the
        event loop, system calls), in all.
        """
        start = time.time() + LEAD
        for i, process in enumerate(self._processes[:count]):
            assert process.stdin is not None
            command = {"system": system, "start": start, "seconds": seconds, "seed": seed + i}
            process.stdin.write(json.dumps(command) + "\n")
            process.stdin.flush()
        answers = [json.loads(self._answer(i)) for i in range(count)]
        ops = sum(a["ops"] for a in answers)
        return ops, max(a["end"] for a in answers) - start, sum(a["cpu"] for a in answers)

    def stop(self) -> None:
        """End every worker (end of input), killing one that does not end."""
        for process in self._processes:
            if process.stdin is not None and not process.stdin.closed:
                process.stdin.close()
        for process in self._processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _answer(self, i: int) -> str:
        process = self._processes[i]
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            process.wait(10)
            raise RuntimeError(
                f"worker {i} ended (exit {process.returncode}):\n"
                + self._logs[i].read_text()[-3000:]
            )
        return line


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
