"""A child process's stream of writes to a RedisKV, each outcome logged as a JSON line.

The tests of failovers, node kills and slot moves start several of these and
compare their logs with the state the deployment ends with. Run as
`python -m tests.redis.writers SOURCE NAME WRITER STOPFILE [REPLICAS] [TIMEOUT]`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

from aiokv import AioKVError, NotReplicatedError, UnavailableError
from aiokv.redis import RedisKV
from tests.helpers import ROOT
from tests.redis import sources

PAUSE_AFTER_FAILURE = 0.05  # seconds: a failed write is not retried at once
# seconds: an edit whose lease's end was lost holds its key this long at most,
# and the writer's next edit of that key waits for it
EDIT_LEASE = 2.0


class Writer(NamedTuple):
    """A writer process and the file it logs to."""

    process: subprocess.Popen[str]
    log: Path


def start(spelled: str, name: str, me: str, stop: Path, replicas: int, timeout: float) -> Writer:
    """A writer process streaming to the store name until stop exists.

    Its log goes to a file beside stop (a pipe nobody reads until the end
    would fill, and stop the writer).
    """
    log = stop.with_name(f"{me}.log")
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.redis.writers", spelled, name, me, str(stop),
             str(replicas), str(timeout)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
    return Writer(process, log)


def finish(started: list[Writer]) -> list[list[dict[str, Any]]]:
    """Wait for every writer; fail with its stderr if one failed; return their logs."""
    logs = []
    for process, log in started:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-3000:]
        logs.append(read_log(log.read_text()))
    return logs


def acknowledged(writer: Writer) -> int:
    """How many calls writer logged as acknowledged so far."""
    text = writer.log.read_text() if writer.log.exists() else ""
    return text.count('"outcome": "ok"')


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll check until true, or fail naming what."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


async def until_it_works(call: Callable[[], Awaitable[Any]], what: str, within: float) -> None:
    """Await call() again (after each UnavailableError) until it succeeds; fail after within s."""
    deadline = time.monotonic() + within
    while True:
        try:
            await call()
            return
        except UnavailableError:
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.1)


def outcome(error: BaseException | None) -> str:
    """How a call ended, as the logs spell it."""
    if error is None:
        return "ok"
    if isinstance(error, NotReplicatedError):
        return "not-replicated"
    if isinstance(error, UnavailableError):
        return "unavailable"
    return f"error: {type(error).__name__}: {error}"


async def stream(
    spelled: str, name: str, me: str, stop: Path, replicas: int, timeout: float
) -> None:
    """Write until stop exists: a key of its own per round, its counter, an edit of its list."""
    given = sources.source(spelled, timeout)
    async with RedisKV(
        given,
        name=name,
        replicas=replicas,
        timeout=timeout,
        edit_lease=EDIT_LEASE,
        close_client=True,
    ) as kv:
        i = 0
        while not stop.exists():
            i += 1
            for op in ("set", "incr", "edit"):
                started = time.monotonic()
                error: BaseException | None = None
                try:
                    if op == "set":
                        await kv.set(f"{me}:{i}", i)
                    elif op == "incr":
                        await kv.incr(f"n:{me}")
                    else:
                        await appended(kv, f"list:{me}", i)
                except (UnavailableError, AioKVError) as e:
                    error = e
                line: dict[str, Any] = {
                    "op": op,
                    "i": i,
                    "outcome": outcome(error),
                    "error": None if error is None else str(error),
                    "took": round(time.monotonic() - started, 3),
                    "at": time.time(),
                }
                print(json.dumps(line), flush=True)
                if error is not None:
                    await asyncio.sleep(PAUSE_AFTER_FAILURE)


async def appended(kv: RedisKV, key: str, i: int) -> None:
    """Append i to the list at key, in an edit."""
    async with kv.edit(key, []) as items:
        items.append(i)


def read_log(text: str) -> list[dict[str, Any]]:
    """A writer's log, one dict per call."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def check(log: list[dict[str, Any]], me: str, final: dict[str, Any], timeout: float) -> None:
    """Assert the final state keeps every acknowledged write of the writer me.

    An acknowledged set is there with its value; the counter lies between
    the acknowledged increments and those plus the ones that failed (which
    may or may not have counted); the list holds every acknowledged edit's
    number once, and only numbers of edits that were tried. Every call
    ended within its bound, with a documented outcome.
    """
    assert log, f"writer {me} logged nothing"
    for line in log:
        assert line["outcome"] in ("ok", "unavailable", "not-replicated"), line
        # A write that meets a lease left by a failed edit waits for it:
        # within a lease's length plus its own round trips.
        assert line["took"] < EDIT_LEASE + 4 * timeout + 1, line
    acked = [line for line in log if line["outcome"] == "ok"]
    sets = [line["i"] for line in acked if line["op"] == "set"]
    missing = [i for i in sets if final.get(f"{me}:{i}") != i]
    assert not missing, f"writer {me}: {len(missing)} acknowledged sets lost: {missing[:10]}"
    incrs = [line for line in log if line["op"] == "incr"]
    counted = sum(line["outcome"] == "ok" for line in incrs)
    assert counted <= final.get(f"n:{me}", 0) <= len(incrs), (me, counted, len(incrs))
    listed = final.get(f"list:{me}", [])
    edited = {line["i"] for line in acked if line["op"] == "edit"}
    tried = {line["i"] for line in log if line["op"] == "edit"}
    assert len(listed) == len(set(listed)), f"writer {me}: an edit stored twice"
    assert edited <= set(listed) <= tried, (me, sorted(edited - set(listed)))


if __name__ == "__main__":
    source, name, me, stop = sys.argv[1:5]
    replicas = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 2.0
    asyncio.run(stream(source, name, me, Path(stop), replicas, timeout))
