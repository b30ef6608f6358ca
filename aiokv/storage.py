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
import re
import secrets
import stat
import time
from collections.abc import Callable
from typing import Any

import aiofiles
import orjson

from . import codec
from .errors import CorruptFileError
from .pieces import Pieces

# The most buffers one writev() takes.
_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024

# Temp files are named .<file>.<12 hex digits>.aiokv-tmp beside the file.
_TEMP_SUFFIX = ".aiokv-tmp"
_TEMP_TOKEN_BYTES = 6
_NEW_FILE_MODE = 0o600


def temp_prefix(path: str) -> str:
    """The name every temp file for path starts with (hidden, in its directory)."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.")


def is_file(path: str) -> bool:
    """Whether a state file is at path (False: none yet); OSError naming path if none can be.

    An empty path names no file, and one that is not a regular file (a
    directory, FIFO, socket or device) is never read: a FIFO would block forever.
    """
    if not path:
        raise FileNotFoundError(errno.ENOENT, "the path is empty, which names no file", path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, "not a regular file", path)
    return True


async def load(path: str) -> tuple[dict[str, Any], int | None]:
    """Read and parse the state file: its keys and its schema version (None: no file)."""
    if not await asyncio.to_thread(is_file, path):
        return {}, None
    async with aiofiles.open(path, "rb") as f:
        raw = await f.read()
    # Parsing a large file holds the GIL for a while: keep it off the loop.
    state = await asyncio.to_thread(parse, raw, path)
    return state, pop_version(state, path)


def parse(raw: bytes, path: str) -> dict[str, Any]:
    """Decode a state file's bytes, or raise CorruptFileError naming path.

    A file that opens can be written back exactly: one aiokv never could
    (nested deeper than orjson writes, integers beyond 64 bits, which orjson
    reads as rounded floats) is refused, never rewritten. The version record,
    if any, is still in the result (see pop_version).
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
    if again != raw and (problem := inexact_integer(raw)):
        raise CorruptFileError(path, problem)
    return state


def pop_version(state: dict[str, Any], path: str) -> int:
    """Remove the version record from a parsed state and return the version (0: none)."""
    if codec.VERSION_KEY not in state:
        return 0
    record = state.pop(codec.VERSION_KEY)
    version = record.get("version") if type(record) is dict else None
    if type(record) is not dict or len(record) != 1 or type(version) is not int or version < 1:
        raise CorruptFileError(
            path,
            f"key {codec.VERSION_KEY!r} is aiokv's version record, but holds "
            f'{orjson.dumps(record).decode()[:80]} instead of {{"version": <int >= 1>}}',
        )
    return version


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


# In a valid JSON text (orjson has read it), a string, or an integer token:
# digits not part of a fraction or an exponent. Scanned, not parsed, so no
# nesting is too deep for it (the json module recurses level by level).
_STRING_OR_INTEGER = re.compile(rb'"(?:[^"\\]|\\.)*"|(?<![0-9.eE+-])(-?[0-9]+)(?![0-9.eE])')


def inexact_integer(raw: bytes) -> str | None:
    """Say which integer of the JSON text raw orjson would read inexactly, if any."""
    # Only a text with a long enough run of digits (anywhere, strings
    # included) is scanned for its integers.
    if raw.translate(_DIGIT_RUNS).find(_SHORTEST_INEXACT) < 0:
        return None
    for token in _STRING_OR_INTEGER.finditer(raw):
        digits = token[1]
        if digits is not None and len(digits) >= len(_SHORTEST_INEXACT):
            number = int(digits)
            if not codec.INT_MIN <= number <= codec.INT_MAX:
                return (
                    f"integer {number} is outside the 64-bit range aiokv reads exactly "
                    "(it would be rounded at the next write)"
                )
    return None


def temp_files(path: str) -> list[str]:
    """The paths of path's own temp files: a write in progress, or a killed writer's.

    Only this file's: a neighbour such as state.json.bak has temp files that
    start with the same characters.
    """
    head, name_prefix = os.path.split(temp_prefix(path))
    own = re.compile(
        re.escape(name_prefix) + f"[0-9a-f]{{{2 * _TEMP_TOKEN_BYTES}}}" + re.escape(_TEMP_SUFFIX)
    )
    return [os.path.join(head, name) for name in os.listdir(head or ".") if own.fullmatch(name)]


def remove_stale_temps(path: str) -> None:
    """Delete temp files a killed writer left beside path (call with the lock held)."""
    for temp in temp_files(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def write(
    path: str,
    state: dict[str, Any],
    fsync: bool,
    version: int | None = None,
    pieces: Pieces | None = None,
) -> int:
    """Replace path with state, atomically and (with fsync) durably.

    Temp file in the same directory, written and fsynced, renamed over path,
    then the directory fsynced so the rename itself survives a power loss.
    On any failure the temp file is removed and path is left as it was; the
    OSError raised names path whichever syscall failed. With a version, the
    file's first member is the version record. pieces, if given, already
    hold state encoded (the store keeps them between writes); else state is
    encoded here. Returns the file's size.
    """
    if pieces is None:
        pieces = Pieces()
        pieces.update(state, state, ())
    bodies = pieces.bodies()
    try:
        return _replace(path, lambda fd: _write_all(fd, bodies, version), path, fsync)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from e


def back_up(path: str, version: int, fsync: bool) -> str:
    """Copy path, atomically and durably, to <path>.v<version>.bak[-N]; return that name.

    A copy, not a rename: path stays whole until its replacement lands. An
    earlier backup keeps its name (call with the lock held).
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
        backup = _free_name(f"{path}.v{version}.bak")
        _replace(backup, lambda fd: _write_bytes(fd, raw), path, fsync)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from e
    return backup


def _replace(target: str, fill: Callable[[int], int], path: str, fsync: bool) -> int:
    # Replace target (path or a file beside it) with a temp file filled by
    # fill(fd), and return the bytes fill wrote. The temp file is named after
    # path, so a killed writer's is swept at the next open, and gets path's
    # permissions (or private ones).
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = _NEW_FILE_MODE
    fd, tmp = _create_temp(path)
    try:
        try:
            size = fill(fd)
            os.fchmod(fd, mode)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if fsync:
        fsync_dir(target)
    return size


def move_aside(path: str, fsync: bool) -> str:
    """Rename a file aiokv refused to <path>.corrupt-<UTC time>[-N]; return the new name.

    An earlier quarantined file keeps its name (call with the lock held: no
    other aiokv renames files beside path meanwhile).
    """
    try:
        aside = _free_name(f"{path}.corrupt-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
        os.rename(path, aside)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from e
    if fsync:
        fsync_dir(path)
    return aside


def _free_name(name: str) -> str:
    # name, or name-1, name-2...: the first that names nothing yet.
    for n in range(1000):
        free = f"{name}-{n}" if n else name
        if not os.path.lexists(free):
            return free
    raise FileExistsError(errno.EEXIST, "no free name beside it", name)


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


def _write_all(fd: int, bodies: list[bytes], version: int | None) -> int:
    # One writev() per _IOV_MAX buffers: the bytes as the pieces keep them
    # (a buffer a group), never joined again.
    buffers: list[bytes | memoryview] = [b"{", *bodies, b"}"]
    if version is not None:
        buffers[0] = codec.encode({codec.VERSION_KEY: {"version": version}})[:-1]
    elif bodies:
        buffers[1] = memoryview(bodies[0])[1:]  # the first member has no comma before it
    size = 0
    for start in range(0, len(buffers), _IOV_MAX):
        batch = buffers[start : start + _IOV_MAX]
        wanted = sum(map(len, batch))
        written = os.writev(fd, batch)
        if written < wanted:
            _write_bytes(fd, b"".join(batch)[written:])
        size += wanted
    return size


def _write_bytes(fd: int, data: bytes | memoryview) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)
