"""The file work: load, atomic durable write, remove.

Every blocking call here runs in a worker thread (through aiofiles or the
loop's executor) or at interpreter exit, never on the event loop. Policy,
meaning when to write, lives in store.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import stat
from itertools import islice
from typing import Any

import aiofiles
import aiofiles.os
import orjson

from . import codec
from .errors import CorruptFileError

# orjson keeps the GIL while it encodes, so one call on a large state would
# freeze the event loop (about 75 ns a key here). A state up to WHOLE keys is
# encoded in one call; a larger one in slices of SLICE keys, each followed by
# a writev() that lets the loop's thread take the GIL back.
WHOLE = 16384
SLICE = 512

_TEMP_SUFFIX = ".aiokv-tmp"
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
    """Decode a state file's bytes, or raise CorruptFileError naming path."""
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
    return state


def remove_stale_temps(path: str) -> None:
    """Delete temp files a killed writer left beside path (call with the lock held)."""
    prefix = temp_prefix(path)
    head, name_prefix = os.path.split(prefix)
    for name in os.listdir(head or "."):
        if name.startswith(name_prefix) and name.endswith(_TEMP_SUFFIX):
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
        tmp = f"{prefix}{secrets.token_hex(6)}{_TEMP_SUFFIX}"
        try:
            return os.open(tmp, flags, _NEW_FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temp file name", prefix)


def _write_all(fd: int, state: dict[str, Any]) -> None:
    if len(state) <= WHOLE:
        _write_bytes(fd, codec.encode(state))
        return
    items = iter(state.items())
    sep = b"{"
    while chunk := dict(islice(items, SLICE)):
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
