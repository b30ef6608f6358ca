"""A write script followed by WAIT on its connection: acknowledged once N replicas have it.

WAIT counts the replicas that confirmed every write its own connection
made (WAITAOF, on_disk: the replicas that wrote it to their append-only
file and fsynced it), so the script and WAIT go in one pipeline, on one
connection: on a cluster, both sent to the node that holds the store's
slot. A redirect (the slot moved, or is moving) means the script did not
run there; it is sent again where the cluster says, within the timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, MovedError, NoScriptError, ResponseError, TryAgainError

from ..errors import NotReplicatedError, UnavailableError
from . import scripts
from .pool import AnyClient

# WAIT's share of the time left; the rest is for the server's "too few" to
# come back before the connection's timeout ends the wait as unanswered.
_WAIT_SHARE = 0.8
# At least this much (seconds) is left for that answer: an idle server ends
# a WAIT on its next tick, up to 100 ms late at hz 10, and a busy machine's
# loop is late too. But WAIT keeps at least as much itself (or its share of
# a shorter time): replicas that confirm need the time more than a refusal
# needs its own words (without them it is "no answer in time", unavailable).
_LEAST = 0.25
_TRY_AGAIN_PAUSE = 0.05  # seconds: a slot half moved is finished in a moment
_MOST_REPLICAS = 2**63 - 1  # the most WAIT and WAITAOF take (a signed 64-bit count)


def check(replicas: object, on_disk: object) -> None:
    """Refuse (ValueError) replicas that WAIT cannot take, and on_disk without them."""
    if type(replicas) is not int or not 0 <= replicas <= _MOST_REPLICAS:
        raise ValueError(
            f"RedisKV replicas must be a whole number >= 0 (and below 2**63, as WAIT "
            f"takes it), not {replicas!r}"
        )
    if type(on_disk) is not bool or (on_disk and not replicas):
        raise ValueError(
            f"RedisKV on_disk must be True or False, and True only with replicas >= 1 "
            f"(it waits for the replicas' disks), not {on_disk!r} with replicas={replicas}"
        )


def wait_within(left: float) -> int:
    """The milliseconds WAIT may take when its answer is due within left seconds (at least 1)."""
    wait = left * _WAIT_SHARE
    if left - wait < _LEAST:
        wait = max(left - _LEAST, min(_LEAST, wait))
    return max(1, round(wait * scripts.MS_PER_S))


async def run(
    client: AnyClient,
    where: str,
    name: str,
    keys: list[str],
    args: Sequence[str | bytes],
    replicas: int,
    window: float,
    on_disk: bool = False,
) -> Any:
    """The reply of script name, once `replicas` replicas have its write (else NotReplicatedError).

    window: the seconds its tries, WAIT included, may take; on_disk: in
    their append-only files (WAITAOF), not only in their memory. A reply
    that says the script wrote nothing (an edit holds its key: a positive
    number) is returned as it is, whatever WAIT said.
    """
    deadline = time.monotonic() + window
    script = ("EVALSHA", scripts.SHAS[name])
    asked: ClusterNode | None = None  # the node an ASK redirect named
    while True:
        # WAIT gets its share of what is left: a try that came to nothing (the
        # script unknown, a redirect) waited too, on the writes before it.
        left = deadline - time.monotonic()
        wait_ms = wait_within(left)
        command = (*script, len(keys), *keys, *args)
        # WAITAOF's answer: how many fsynced it here (none asked), and on replicas.
        wait = ("WAITAOF", 0, replicas, wait_ms) if on_disk else ("WAIT", replicas, wait_ms)
        reply, confirmed = await _pipelined(client, keys[0], [command, wait], asked)
        if on_disk and isinstance(confirmed, list):
            confirmed = confirmed[1]
        asked = None
        if isinstance(reply, NoScriptError):
            # The node's script cache lacks it (restarted, flushed, a new node):
            # EVAL sends the body, which runs and caches it.
            script = ("EVAL", scripts.SCRIPTS[name])
            continue
        if isinstance(reply, (AskError, TryAgainError)) and isinstance(client, RedisCluster):
            # Not run: the slot is moving (MovedError is an AskError too).
            if time.monotonic() > deadline:
                raise UnavailableError(where, f"the cluster is moving the store's slot ({reply})")
            asked = await _redirect(client, keys[0], reply)
            continue
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(confirmed, BaseException):
            raise confirmed
        if type(reply) is int and reply > 0:
            return reply  # an edit holds a key: nothing was written
        if confirmed < replicas:
            raise NotReplicatedError(where, confirmed, replicas, wait_ms, on_disk)
        return reply


async def check_wait(client: AnyClient, where: str, key: str, on_disk: bool) -> None:
    """Refuse (ValueError) a server that will not wait for its replicas as asked, before any write.

    A write whose WAIT (or WAITAOF) the server then refused would be applied
    and neither acknowledged nor refused: asked first with nothing to wait
    for, the server answers at once, or says why not (no WAITAOF before Redis
    7.2, a replica, an ACL user without the command).
    """
    probe = ("WAITAOF", 0, 0, 0) if on_disk else ("WAIT", 0, 0)
    [answer] = await _pipelined(client, key, [probe])
    if isinstance(answer, ResponseError):
        if "unknown command" in str(answer).lower():
            why = "the server lacks (Redis 7.2 or later has it, and Valkey)"
        else:
            why = "the server refuses"
        setting = "on_disk=True" if on_disk else "replicas="
        raise ValueError(
            f"{where}: {setting} needs {probe[0]}, which {why}: it said {answer}"
        ) from answer
    if isinstance(answer, BaseException):
        raise answer


async def _pipelined(
    client: AnyClient,
    key: str,
    commands: list[tuple[Any, ...]],
    asked: ClusterNode | None = None,
) -> list[Any]:
    # The replies (a refusal as its error) of commands sent in one pipeline:
    # one connection, as WAIT needs; on a cluster, that of the node of key's
    # slot (or the one an ASK named, after ASKING).
    if not isinstance(client, RedisCluster):
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute(raise_on_error=False))
    await client.initialize()  # the slot map, once
    node = asked or client.get_node_from_key(key)
    on_node = client.pipeline()
    if asked is not None:
        on_node.execute_command("ASKING", target_nodes=node)
    for command in commands:
        on_node.execute_command(*command, target_nodes=node)
    replies = await on_node.execute(raise_on_error=False, allow_redirections=False)
    return list(replies[-len(commands) :])


async def _redirect(client: RedisCluster, key: str, error: Exception) -> ClusterNode | None:
    # Where to send the script again: the node an ASK names (the slot is
    # moving and key has left); after a MOVED, the slot's new owner, learnt
    # by a read of key, which redis-py follows and remembers.
    if isinstance(error, MovedError):
        await client.exists(key)
        return None
    if isinstance(error, AskError):
        return client.get_node(host=error.host, port=error.port)
    await asyncio.sleep(_TRY_AGAIN_PAUSE)  # TRYAGAIN: the slot's keys are on both nodes
    return None
