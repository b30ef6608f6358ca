"""aiokv: an asyncio key-value store kept in memory and persisted to one JSON file."""

# First: off POSIX, one clear ImportError rather than a missing fcntl deep inside.
from . import posix  # noqa: F401
from .errors import (
    AioKVError,
    ClosedError,
    CorruptFileError,
    LockedError,
    NotReplicatedError,
    UnavailableError,
    VersionError,
)
from .namespace import Namespace
from .protocol import Store
from .stats import Stats
from .store import AioKV

__version__ = "0.2.0"  # the one place the version is written
"""The installed release of aiokv."""

aiocache = AioKV  # the library's original name, kept for old call sites
"""The library's original name: the same class as `AioKV`; prefer `AioKV` in new code."""

__all__ = [
    "AioKV",
    "AioKVError",
    "ClosedError",
    "CorruptFileError",
    "LockedError",
    "Namespace",
    "NotReplicatedError",
    "Stats",
    "Store",
    "UnavailableError",
    "VersionError",
    "__version__",
    "aiocache",
]
