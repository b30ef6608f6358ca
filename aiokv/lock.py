"""The one-owner lock: an flock()ed file beside the state file.

flock() locks belong to an open file description, so a second open of the
same state file conflicts even inside the owning process, and the kernel drops
the lock when the process dies: a crash never leaves a stale lock. The lock
file itself stays (removing it would let two openers lock two different files).
"""

from __future__ import annotations

import fcntl
import os

from .errors import LockedError

_LOCK_FILE_MODE = 0o600  # private, as a new state file is
_PID_BYTES = 32  # more than any pid and its newline

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
            raise LockedError(path, _read_pid(fd))
        # Written after locking, so a loser never erases the holder's pid.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _take(fd: int) -> bool:
    # Lock fd exclusively; False if an owner holds it. Owners lock exclusively
    # and only holder()'s probe locks shared, for the instant between two
    # system calls: when a shared lock is granted, no owner exists and a probe
    # was in the way, so try again rather than refuse a free file.
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


def release(fd: int) -> None:
    """Drop the lock taken by acquire()."""
    os.close(fd)


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
    try:
        with open(PROC_LOCKS) as f:
            table = f.read()
    except OSError:
        return _probe(lpath)
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (a blocked
        # waiter's line has "->" after the number)
        fields = line.split()
        if "FLOCK" in fields and device in fields:
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
