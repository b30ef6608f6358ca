"""The one-owner lock: an flock()ed file beside the state file.

flock() locks belong to an open file description, so a second open of the
same state file conflicts even inside the owning process, and the kernel drops
the lock when the process dies: a crash never leaves a stale lock. The lock
file itself stays (removing it would let two openers lock two different files).
"""

from __future__ import annotations

import fcntl
import os
import time

from .errors import LockedError

_LOCK_FILE_MODE = 0o600  # private, as a new state file is
_PID_BYTES = 32  # more than any pid and its newline

# How long acquire() waits out shared locks in its way: holder()'s probe holds
# one for microseconds; one held longer is another program's (flock -s), and
# the open is refused rather than spun on.
_SHARED_WAIT = 0.1  # seconds
_SHARED_POLL = 0.001  # seconds between tries

# Where Linux lists every flock(); a settable name, so the tests can force the
# probe that other systems use.
PROC_LOCKS = "/proc/locks"


def lock_path(path: str) -> str:
    """The lock file's path for a resolved state file path."""
    return f"{path}.lock"


def acquire(path: str) -> int:
    """Take the lock for path and return its fd; LockedError names the holder."""
    lpath = lock_path(path)
    try:
        fd = os.open(lpath, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, _LOCK_FILE_MODE)
    except OSError as e:
        # Named as the user named it: the state file (its directory is
        # missing or unwritable), the lock file beside it in the reason.
        raise OSError(e.errno, f"{e.strerror} (making its lock file {lpath})", path) from e
    try:
        if not _take(fd):
            raise LockedError(path, _holder_of(fd))
        # Written after locking, so a loser never erases the holder's pid.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _take(fd: int) -> bool:
    # Lock fd exclusively; False if another process holds it. Owners lock
    # exclusively, and holder()'s probe locks shared for the instant between
    # two system calls: while only shared locks are in the way (a shared lock
    # is granted), wait them out a moment rather than refuse a file that has
    # no owner. A shared lock held longer is another program's, and refuses.
    deadline = time.monotonic() + _SHARED_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        if time.monotonic() >= deadline:
            return False
        time.sleep(_SHARED_POLL)


def release(fd: int) -> None:
    """Drop the lock taken by acquire()."""
    os.close(fd)


def _holder_of(fd: int) -> int | None:
    # The kernel's word first: the pid in the file is the last aiokv owner's,
    # and a holder that is not aiokv (flock(1)) never wrote its own there.
    table = _lock_table()
    listed = None if table is None else _listed(table, os.fstat(fd))
    return listed or _read_pid(fd)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, _PID_BYTES, 0))
    except ValueError:
        # The holder is between flock() and writing its pid.
        return None


def holder(path: str) -> int | None:
    """The pid of the process holding path's lock (0 if unknown), or None if it is free.

    Linux lists every flock() in /proc/locks. Elsewhere a shared lock is tried
    for an instant, which acquire() tells from an owner's lock and waits out:
    a probe never makes an opener fail.
    """
    lpath = lock_path(path)
    try:
        info = os.stat(lpath)
    except FileNotFoundError:
        return None
    table = _lock_table()
    return _probe(lpath) if table is None else _listed(table, info)


def _lock_table() -> str | None:
    try:
        with open(PROC_LOCKS) as f:
            return f.read()
    except OSError:
        return None


def _listed(table: str, info: os.stat_result) -> int | None:
    # The pid holding an flock() on the file in /proc/locks (0 if not shown),
    # or None if nothing holds one.
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a blocked
        # waiter's line ("1: -> FLOCK ...") holds nothing.
        fields = line.split()
        if "FLOCK" in fields and device in fields and "->" not in fields:
            pid = fields[fields.index(device) - 1]
            return int(pid) if pid.isdigit() else 0
    return None


def _probe(lpath: str) -> int | None:
    fd = os.open(lpath, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or 0
        return None
    finally:
        os.close(fd)
