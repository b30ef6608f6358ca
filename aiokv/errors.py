"""The exceptions aiokv raises; each message names the state file."""

from __future__ import annotations


class AioKVError(Exception):
    """Base class of every error aiokv raises on its own account."""


class CorruptFileError(AioKVError, ValueError):
    """The state file is not a JSON object; aiokv refuses it and never touches it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}; aiokv left the file untouched")
        self.path = path
        self.problem = problem


class LockedError(AioKVError):
    """Another opener, in this process or another, already owns the state file."""

    def __init__(self, path: str, pid: int | None) -> None:
        holder = f"pid {pid}" if pid is not None else "an unknown pid"
        super().__init__(f"{path} is already open in another AioKV ({holder}); one owner per file")
        self.path = path
        self.pid = pid


class ClosedError(AioKVError, RuntimeError):
    """An operation was called on a store after aclose()."""

    def __init__(self, path: str) -> None:
        super().__init__(f"AioKV({path!r}) is closed")
        self.path = path
