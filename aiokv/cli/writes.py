"""The writes (set, delete, load): a change made through AioKV, as the file's one owner."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import io
import os
import stat
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import orjson

from .. import AioKV, api, codec
from ..errors import CorruptFileError, LockedError, VersionError
from .codes import EXIT_ABSENT, EXIT_OK, EXIT_OS, EXIT_OWNED, EXIT_UNREADABLE, EXIT_USAGE, Failure
from .interrupt import committing, leave
from .locations import is_redis, shown
from .stores import is_store

_T = TypeVar("_T")
STDIN = "-"  # VALUE or SOURCE: read stdin instead

# Writes go through AioKV itself, so they are atomic and durable, have the
# library's value rules, and are refused while another process owns the file.

# Seconds: longer than any command holds its store, so the store never writes
# on its own; the change reaches the file at the close, in one atomic write.
_NO_FLUSH = 3600
_POLL = 0.05  # seconds between tries at a file another process owns (--wait)


def set_command(args: argparse.Namespace) -> int:
    """aiokv set: store VALUE (or stdin's, for "-") at KEY, as the file's one owner."""
    refuse_missing(args.file, args.create)  # before stdin is read, as copy before its source
    if args.value is None:
        if args.string:
            raise Failure(EXIT_USAGE, "--string needs a VALUE")
        value: Any = codec.NOW
    elif args.value == STDIN:  # stdin's bytes, all of them: as `load` reads it
        raw = read_input(STDIN)
        if args.string:
            try:
                value = raw.decode()
            except UnicodeDecodeError as e:
                raise Failure(EXIT_USAGE, f"stdin is not UTF-8 text ({e.reason})") from None
        else:
            value = _parse_json(raw, "stdin", " (for text, add --string)")
    elif args.string:
        value = args.value
    else:
        value = _parse_json(os.fsencode(args.value), "VALUE", " (for text, add --string)")
    # Checked before the store opens: a refusal leaves nothing behind, not
    # even the lock file a new store's open makes (--create).
    # (The checks' copies are dropped: the store takes the value itself.)
    key = _valid(args.file, lambda: api.key(args.key))
    if value is not codec.NOW:  # set()'s own "no value given": the time when it is made
        _valid(args.file, lambda: api.value(value, key))

    async def change(kv: AioKV) -> int:
        await kv.set(key, value)
        return EXIT_OK

    return write_as_owner(args.file, args.wait, change, create=args.create)


def delete_command(args: argparse.Namespace) -> int:
    """aiokv delete: remove KEY (exit 1 if it was absent)."""

    async def change(kv: AioKV) -> int:
        if not await kv.has(args.key):
            raise Failure(EXIT_ABSENT, f"{args.key!r} is not in {args.file}; nothing changed")
        await kv.delete(args.key)
        return EXIT_OK

    return write_as_owner(args.file, args.wait, change, create=None)


def load_command(args: argparse.Namespace) -> int:
    """aiokv load: import a JSON object's keys, all of them or none."""
    refuse_missing(args.file, args.create)  # before SOURCE is read, as copy before its own
    where = "stdin" if args.source in (None, STDIN) else args.source
    raw = read_input(args.source)
    new = _parse_json(raw, where, "")
    del raw
    if type(new) is not dict:
        raise Failure(EXIT_USAGE, f"{where}: expected a JSON object, not {codec.json_type(new)}")
    # Every key and value checked before the store opens, as for set.
    _valid(args.file, lambda: api.accepted(new))

    async def change(kv: AioKV) -> int:
        await kv.update(new)  # every key and value checked first: all or none
        if args.replace:
            for key in set(await kv.keys()) - new.keys():
                await kv.delete(key)
        # One write of the result when the store closes: the file goes from
        # the old state to the new one at once.
        return EXIT_OK

    return write_as_owner(args.file, args.wait, change, args.schema_version, create=args.create)


def _valid(path: str, check: Callable[[], _T]) -> _T:
    # The library's own check of a key or value, its refusal a usage error.
    try:
        return check()
    except (TypeError, ValueError) as e:
        raise Failure(EXIT_USAGE, f"{e}; {path} unchanged") from None


def read_input(source: str | None) -> bytes:
    """All of SOURCE, or of stdin for None or "-": a regular file or a pipe; one-line errors."""
    stdin = source is None or source == STDIN
    try:
        if source is not None and not stdin:
            with open(source, "rb", opener=_source) as f:
                return f.read()
        if sys.stdin is None:  # `<&-`: Python gives no stream for a closed descriptor
            raise OSError(errno.EBADF, "closed; nothing to read")
        with contextlib.suppress(io.UnsupportedOperation):  # a stream in memory (tests)
            _readable(sys.stdin.fileno())
        return sys.stdin.buffer.read()
    except OSError as e:
        raise Failure(EXIT_OS, f"{'stdin' if stdin else source}: {e.strerror}") from None


def _source(path: str, flags: int) -> int:
    # open()'s opener for load's SOURCE: checked as stdin is.
    fd = os.open(path, flags)
    try:
        _readable(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _readable(fd: int) -> None:
    # The one rule for every input read whole: a regular file, or a pipe
    # (what `|` and `<(command)` give). A device (/dev/zero) would be read
    # until memory runs out, a terminal until a Ctrl-D nobody knows to type;
    # a directory or a socket holds no JSON.
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise OSError(errno.EINVAL, "not a regular file or a pipe")


def _parse_json(raw: bytes, what: str, hint: str) -> Any:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise Failure(EXIT_USAGE, f"{what} is not valid JSON: {e}{hint}") from None
    # Whatever orjson reads it can write, unless it nests deeper than it
    # writes; refused first, as the exact integer check below recurses.
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise Failure(
            EXIT_USAGE,
            f"{what} nests containers more than {codec.MAX_DEPTH} levels deep, "
            "more than aiokv can write to its file",
        ) from None
    if problem := codec.inexact_integer(raw):  # orjson would round it: refuse, as the store
        raise Failure(EXIT_USAGE, f"{what}: {problem}")
    return value


def write_as_owner(
    path: str,
    wait: float,
    change: Callable[[AioKV], Coroutine[Any, Any, int]],
    version: int | None = None,
    *,
    create: bool | None,
) -> int:
    """Open path as its owner, make the change and close: the close is one atomic write.

    A path where no store is refuses the change unless create (None: the
    command makes no store, as delete).
    """
    refuse_missing(path, create)
    # Open the file as its owner (waiting up to --wait for another owner to
    # go), make the change, and close: the close writes it, atomically. The
    # file keeps the schema version it records, or, given one, must hold it.
    deadline = time.monotonic() + wait
    keep = version is None

    async def run() -> int:
        schema = version or None
        while True:
            kv = AioKV(path, version=schema, flush_delay=_NO_FLUSH, max_flush_delay=_NO_FLUSH)
            try:
                async with kv:
                    code = await change(kv)
                    committing()
                    try:
                        await kv.aclose()  # the commit: the change's one atomic write
                    except OSError as e:
                        # The store still holds the change, to write at exit
                        # (and its close would retry): leave without either.
                        leave(EXIT_OS, f"{e.filename or path}: {e.strerror}")
                    return code
            except LockedError as e:
                if time.monotonic() >= deadline:
                    waited = f" (waited {wait:g} s)" if wait else " (see --wait)"
                    holder = f"pid {e.pid}" if e.pid else "another process"
                    raise Failure(EXIT_OWNED, f"{path} is owned by {holder}{waited}") from None
                await asyncio.sleep(_POLL)
            except VersionError as e:
                if keep and schema is None and e.found > 0:
                    schema = e.found  # keep the file at the version it records
                    continue
                raise Failure(EXIT_UNREADABLE, str(e)) from None
            except CorruptFileError as e:
                raise Failure(EXIT_UNREADABLE, str(e)) from None
            except (TypeError, ValueError) as e:  # a value or key the store refused
                raise Failure(EXIT_USAGE, f"{e}; {path} unchanged") from None
            except OSError as e:
                raise Failure(EXIT_OS, f"{e.filename or path}: {e.strerror}") from None

    return asyncio.run(run())


def refuse_missing(path: str, create: bool | None) -> None:
    """Refuse a write where no store is, unless create: a typo must not make a new store.

    Whether a store is there is stores.is_store's answer, as for the reads.
    """
    if is_redis(path):  # not a file's name: a typo must not make a file named so either
        raise Failure(
            EXIT_USAGE,
            f"{shown(path)}: set, delete and load write a state file; a Redis store is "
            "written by the processes that share it, or with copy",
        )
    if create or is_store(path):
        return
    # Checked before the open, which would make the lock file beside it.
    hint = "" if create is None else " (--create makes a new store there)"
    raise Failure(EXIT_USAGE, f"{path or repr(path)}: no such store; nothing written{hint}")
