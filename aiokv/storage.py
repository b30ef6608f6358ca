"""The file work: load, atomic durable write, remove.

Every blocking call here runs in a worker thread (through aiofiles or the
loop's executor) or at interpreter exit, never on the event loop. Policy,
meaning when to write, lives in store.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import secrets
import stat
import time
from itertools import islice
from typing import Any

import aiofiles
import aiofiles.os
import orjson

from . import codec
from .errors import CorruptFileError

# orjson keeps the GIL while it encodes, so one call on a large state would
# freeze the event loop (about 75 ns a key here). A state of up to
# ONE_CALL_KEYS keys is encoded in one call; a larger one in slices of
# SLICE_KEYS keys, each followed by a writev() that lets the loop's thread
# take the GIL back.
ONE_CALL_KEYS = 16384
SLICE_KEYS = 512

# Temp files are named .<file>.<12 hex digits>.aiokv-tmp beside the file.
_TEMP_SUFFIX = ".aiokv-tmp"
_TEMP_TOKEN_BYTES = 6
_NEW_FILE_MODE = 0o600


def temp_prefix(path: str) -> str:
    """The name every temp file for path starts with (hidden, in its directory)."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.")


async def load(path: str) -> dict[str, Any]:
    """Read and parse the state file; a missing file is an empty store."""
    try:
        info = await aiofiles.os.stat(path)
    except FileNotFoundError:
        return {}
    if not stat.S_ISREG(info.st_mode):
        # Opening a FIFO would block forever and a directory cannot be read.
        raise OSError(errno.EINVAL, "not a regular file", path)
    async with aiofiles.open(path, "rb") as f:
        raw = await f.read()
    # Parsing a large file holds the GIL for a while: keep it off the loop.
    return await asyncio.to_thread(parse, raw, path)


def parse(raw: bytes, path: str) -> dict[str, Any]:
    """Decode a state file's bytes, or raise CorruptFileError naming path.

    A file that opens can be written back exactly: one aiokv never could
    (nested deeper than orjson writes, integers beyond 64 bits, which orjson
    reads as rounded floats) is refused, never rewritten.
    """
    if not raw:
        raise CorruptFileError(path, "file is empty (0 bytes), expected a JSON object")
    try:
        state = codec.decode(raw)
    except orjson.JSONDecodeError as e:
        raise CorruptFileError(path, f"not valid JSON ({e})") from None
    if type(state) is not dict:
        raise CorruptFileError(
            path, f"top level is {codec.json_type(state)}, expected a JSON object"
        )
    try:
        again = codec.encode(state)
    except orjson.JSONEncodeError:
        raise CorruptFileError(path, _too_deep(state)) from None
    # A file aiokv wrote encodes back to the same bytes; only another
    # writer's file (json.dump, the original library) needs the exact check.
    if again != raw and (problem := _inexact_integer(raw)):
        raise CorruptFileError(path, problem)
    return state


def _too_deep(state: dict[str, Any]) -> str:
    key = next((k for k, v in state.items() if not _encodes({k: v})), None)
    return (
        f"the value of key {key!r} nests containers more than {codec.MAX_DEPTH} levels "
        "deep, more than aiokv can write back"
    )


def _encodes(state: dict[str, Any]) -> bool:
    try:
        codec.encode(state)
    except orjson.JSONEncodeError:
        return False
    return True


# Every digit becomes "0" and every other byte a space, so a run of digits is
# found by one find() instead of a Python scan.
_DIGIT_RUNS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
# The shortest integer outside -2**63..2**64-1 has 19 digits.
_SHORTEST_INEXACT = b"0" * len(str(codec.INT_MIN).lstrip("-"))


class _InexactInteger(Exception):
    pass


def _inexact_integer(raw: bytes) -> str | None:
    # Only a file with a long enough run of digits (anywhere, strings
    # included) is parsed again, exactly, by the standard library.
    if raw.translate(_DIGIT_RUNS).find(_SHORTEST_INEXACT) < 0:
        return None

    def exact(text: str) -> int:
        number = int(text)
        if not codec.INT_MIN <= number <= codec.INT_MAX:
            raise _InexactInteger(text)
        return number

    try:
        json.loads(raw, parse_int=exact)
    except _InexactInteger as e:
        return (
            f"integer {e} is outside the 64-bit range aiokv reads exactly "
            "(it would be rounded at the next write)"
        )
    return None


def remove_stale_temps(path: str) -> None:
    """Delete temp files a killed writer left beside path (call with the lock held).

    Only this file's own: a neighbour such as state.json.bak has temp files
    that start with the same characters, and they may be in use.
    """
    head, name_prefix = os.path.split(temp_prefix(path))
    own = re.compile(
        re.escape(name_prefix) + f"[0-9a-f]{{{2 * _TEMP_TOKEN_BYTES}}}" + re.escape(_TEMP_SUFFIX)
    )
    for name in os.listdir(head or "."):
        if own.fullmatch(name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(head, name))


def write(path: str, state: dict[str, Any], fsync: bool) -> None:
    """Replace path with state, atomically and (with fsync) durably.

    Temp file in the same directory, written and fsynced, renamed over path,
    then the directory fsynced so the rename itself survives a power loss.
    On any failure the temp file is removed and path is left as it was; the
    OSError raised names path whichever syscall failed.
    """
    try:
        _replace(path, state, fsync)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from e


def _replace(path: str, state: dict[str, Any], fsync: bool) -> None:
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = _NEW_FILE_MODE
    fd, tmp = _create_temp(path)
    try:
        try:
            _write_all(fd, state)
            os.fchmod(fd, mode)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if fsync:
        fsync_dir(path)


def move_aside(path: str, fsync: bool) -> str:
    """Rename a file aiokv refused to <path>.corrupt-<UTC time>[-N]; return the new name.

    An earlier quarantined file keeps its name (call with the lock held: no
    other aiokv renames files beside path meanwhile).
    """
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for n in range(1000):
        aside = f"{path}.corrupt-{stamp}" + (f"-{n}" if n else "")
        if os.path.lexists(aside):
            continue
        try:
            os.rename(path, aside)
        except OSError as e:
            raise OSError(e.errno, e.strerror, path) from e
        if fsync:
            fsync_dir(path)
        return aside
    raise FileExistsError(errno.EEXIST, "no free name to move the file aside", path)


def remove(path: str, fsync: bool) -> None:
    """Delete path (absent is fine) and make the deletion durable."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    if fsync:
        fsync_dir(path)


def fsync_dir(path: str) -> None:
    """fsync the directory holding path, so a rename or unlink in it is durable."""
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _create_temp(path: str) -> tuple[int, str]:
    # O_EXCL with O_CREAT never follows a link planted at the name and never
    # opens a file someone else created; a random name makes planting useless.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    prefix = temp_prefix(path)
    for _ in range(100):
        tmp = f"{prefix}{secrets.token_hex(_TEMP_TOKEN_BYTES)}{_TEMP_SUFFIX}"
        try:
            return os.open(tmp, flags, _NEW_FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temp file name", prefix)


def _write_all(fd: int, state: dict[str, Any]) -> None:
    if len(state) <= ONE_CALL_KEYS:
        _write_bytes(fd, codec.encode(state))
        return
    items = iter(state.items())
    sep = b"{"
    while chunk := dict(islice(items, SLICE_KEYS)):
        body = memoryview(codec.encode(chunk))[1:-1]
        # One writev per slice: the separator and the slice's members.
        written = os.writev(fd, [sep, body])
        if written < len(sep) + len(body):
            _write_bytes(fd, (sep + body)[written:])
        sep = b","
    _write_bytes(fd, b"}")


def _write_bytes(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
