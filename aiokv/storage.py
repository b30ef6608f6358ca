"""The file work: load, atomic durable write, remove.

Every blocking call here runs in a worker thread (through aiofiles or the
loop's executor) or at interpreter exit, never on the event loop. Policy,
meaning when to write, lives in store.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from typing import Any

import aiofiles

from . import fileformat
from .pieces import Pieces

# The most buffers one writev() takes.
_POSIX_IOV_MAX = 1024  # what POSIX promises where the system cannot be asked
_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else _POSIX_IOV_MAX

# macOS's fsync() stops at the drive, whose cache a power loss empties;
# F_FULLFSYNC has the drive flush it (SQLite's fullfsync). Linux's fsync()
# already reaches the disk and has no F_FULLFSYNC. A settable name, so the
# tests can force the macOS path on Linux.
FULLFSYNC: int | None = getattr(fcntl, "F_FULLFSYNC", None)

# Temp files are named .<file>.<12 hex digits>.aiokv-tmp beside the file.
_TEMP_SUFFIX = ".aiokv-tmp"
_TEMP_TOKEN_BYTES = 6
_NEW_FILE_MODE = 0o600
_FREE_NAMES = 1000  # name-1 ... name-999 beside a kept backup or quarantined file
_TEMP_NAME_TRIES = 100  # random temp names tried before giving up (one almost always does)
# A file up to this size is decoded on the event loop: that takes less time
# than the thread hop that would spare the loop from it.
DECODE_ON_LOOP_BYTES = 64 * 1024


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
        raise _empty_path()
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path)
    return True


def read(path: str) -> fileformat.Decoded | None:
    """The state file read back (None: no file); blocking: call from a thread."""
    try:
        with open(path, "rb", opener=_open_regular) as f:
            raw = f.read()
    except FileNotFoundError:
        if not path:
            raise
        return None
    return fileformat.decode(raw, path)


async def load(path: str) -> fileformat.Decoded | None:
    """read(), with the bytes read through aiofiles: three thread hops (open, read, close).

    A small file is decoded on the loop (microseconds); a large one in a
    fourth hop, since decoding it holds the GIL for a while.
    """
    try:
        async with aiofiles.open(path, "rb", opener=_open_regular) as f:
            raw = await f.read()
    except FileNotFoundError:
        if not path:
            raise
        return None
    if len(raw) <= DECODE_ON_LOOP_BYTES:
        return fileformat.decode(raw, path)
    return await asyncio.to_thread(fileformat.decode, raw, path)


def _open_regular(path: str, flags: int) -> int:
    # open()'s opener: refuse what is not a regular file before reading it.
    # O_NONBLOCK: opening a FIFO would otherwise wait for a writer; it changes
    # nothing for a regular file.
    if not path:
        raise _empty_path()
    fd = os.open(path, flags | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _not_regular(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _empty_path() -> OSError:
    return FileNotFoundError(errno.ENOENT, "the path is empty, which names no file", "")


def _not_regular(path: str) -> OSError:
    return OSError(errno.EINVAL, "not a regular file", path)


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
                sync(fd)
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
    for n in range(_FREE_NAMES):
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


def sync(fd: int) -> None:
    """Make fd's writes durable: F_FULLFSYNC where the platform has it, else fsync()."""
    if FULLFSYNC is not None:
        try:
            fcntl.fcntl(fd, FULLFSYNC)
            return
        except OSError:
            # Some filesystems (network, FUSE) refuse it: fsync() is their best.
            pass
    os.fsync(fd)


def fsync_dir(path: str) -> None:
    """Sync the directory holding path, so a rename or unlink in it is durable."""
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        sync(dfd)
    finally:
        os.close(dfd)


def _create_temp(path: str) -> tuple[int, str]:
    # O_EXCL with O_CREAT never follows a link planted at the name and never
    # opens a file someone else created; a random name makes planting useless.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    prefix = temp_prefix(path)
    for _ in range(_TEMP_NAME_TRIES):
        tmp = f"{prefix}{secrets.token_hex(_TEMP_TOKEN_BYTES)}{_TEMP_SUFFIX}"
        try:
            return os.open(tmp, flags, _NEW_FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temp file name", prefix)


def _write_all(fd: int, bodies: list[bytes | memoryview], version: int | None) -> int:
    # One writev() per _IOV_MAX buffers: the bytes as the pieces keep them
    # (a buffer a group), never joined again.
    buffers = fileformat.frame(bodies, version)
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
