"""The exceptions aiokv raises; each message names the state file.

Each one pickles with its attributes (multiprocessing, logging handlers and
test runners that ship exceptions between processes need that).
"""

from __future__ import annotations

import urllib.parse
from typing import Any


class AioKVError(Exception):
    """Base class of every error aiokv raises on its own account."""

    # The attributes, in the order __init__ takes them, that rebuild the error.
    _fields: tuple[str, ...] = ()

    def __reduce__(self) -> str | tuple[Any, ...]:
        """Pickle as the arguments that rebuild the message."""
        if not self._fields:
            return super().__reduce__()
        return type(self), tuple(getattr(self, name) for name in self._fields)


class CorruptFileError(AioKVError, ValueError):
    """The state file cannot be loaded as it is; aiokv refuses it and never touches it."""

    _fields = ("path", "problem", "kept")

    def __init__(self, path: str, problem: str, kept: str = "the file") -> None:
        """path: the state file (or a Redis store); problem: what is wrong; kept: what is left."""
        super().__init__(f"{path}: {problem}; aiokv left {kept} untouched")
        self.path = path
        self.problem = problem
        self.kept = kept


class LockedError(AioKVError):
    """Another opener, in this process or another, already owns the state file."""

    _fields = ("path", "pid")

    def __init__(self, path: str, pid: int | None) -> None:
        """path: the state file; pid: the holder's process id, if it could be read."""
        holder = f"pid {pid}" if pid is not None else "an unknown pid"
        super().__init__(f"{path} is already open in another AioKV ({holder}); one owner per file")
        self.path = path
        self.pid = pid


class ClosedError(AioKVError, RuntimeError):
    """An operation was called on a store that is closed, or closing."""

    _fields = ("path", "why", "kind")

    def __init__(self, path: str, why: str = "is closed", kind: str = "AioKV") -> None:
        """path: the file (or server and hash); why: how it came to refuse; kind: its class."""
        super().__init__(f"{kind}({path!r}) {why}")
        self.path = path
        self.why = why
        self.kind = kind


class VersionError(AioKVError):
    """The state file's schema version is not one this program can open; the file is untouched."""

    _fields = ("path", "found", "wanted", "why")

    def __init__(self, path: str, found: int, wanted: int, why: str) -> None:
        """path: the state file; found: its version; wanted: the program's; why: the refusal."""
        super().__init__(
            f"{path} holds schema version {found}, this program's is {wanted}: {why}; "
            "aiokv left the file untouched"
        )
        self.path = path
        self.found = found
        self.wanted = wanted
        self.why = why


class UnavailableError(AioKVError, ConnectionError):
    """The Redis server could not be reached, or did not answer within the timeout.

    A read changed nothing. A write that raised it was not applied if the
    server could not be reached; if the connection was lost while the write
    was on its way, the server may have applied it (no one can know which).
    """

    _fields: tuple[str, ...] = ("where", "problem")

    def __init__(self, where: str, problem: str) -> None:
        """where: the server's URL (never its password) and the hash; problem: what failed."""
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class NotReplicatedError(UnavailableError):
    """A write the Redis primary applied, but fewer replicas than `replicas=` confirmed in time.

    The write is on the primary: reads see it, and it stays unless a failover
    promotes a replica that lacks it, so it may or may not survive one.
    """

    _fields = ("where", "confirmed", "wanted", "waited_ms", "on_disk")

    def __init__(
        self, where: str, confirmed: int, wanted: int, waited_ms: int, on_disk: bool = False
    ) -> None:
        """where: the server and hash; confirmed of wanted replicas had it after waited_ms.

        on_disk: had it in their append-only files, fsynced (WAITAOF).
        """
        had = "had the write on disk" if on_disk else "confirmed the write"
        super().__init__(
            where,
            f"{confirmed} of the {wanted} replicas asked for {had} within {waited_ms} ms: "
            "the primary applied it, and it may or may not survive a failover",
        )
        self.confirmed = confirmed
        self.wanted = wanted
        self.waited_ms = waited_ms
        self.on_disk = on_disk


def foreign_loop(where: str, kind: str = "AioKV") -> RuntimeError:
    """The error a store raises when used from an event loop other than the one it belongs to."""
    return RuntimeError(
        f"{kind}({where!r}) belongs to the event loop that first used it; it cannot be "
        "used from another loop (aclose() it and open a new one)"
    )


def shown_url(url: str) -> str:
    """Return a Redis URL as messages show it: scheme, host, port, path and query, no secret.

    Never the user, the password, a query parameter whose name holds "pass"
    (password, ssl_password, a misspelling) or the fragment. A URL that cannot be read so is
    refused with ValueError, showing none of it: a host or port that is not
    one, or an "@" after the host (a user or password holding "/", "?" or "#"
    ends the host early, and the rest of it would be shown as host, port or
    path).
    """
    refused = (
        "the Redis URL given (not shown: it may hold a password) is not "
        "SCHEME://[[USER]:PASSWORD@]HOST[:PORT][/DB][?OPTIONS] with"
    )
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL": a "[" in a password, say
        parts = None
    # A unix:// socket's path may hold "@" when the URL names no host.
    if parts is None or (
        "@" in parts.query + parts.fragment
        or ("@" in parts.path and (parts.scheme != "unix" or parts.netloc.rpartition("@")[2]))
    ):
        raise ValueError(
            f"{refused} one '@', before the host: percent-encode '/', '?', '#', '[', ']' "
            "and '@' in the user and password (%2F, %3F, %23, %5B, %5D, %40), and '@' "
            "elsewhere (%40)"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{refused} a port that is a number") from None
    # The query as given (a unix:// socket's DB is there, and a message
    # without it would name another store), but a password: any parameter
    # whose name holds "pass", so a misspelled ?passwrod= is not shown either.
    query = "&".join(
        item
        for item in parts.query.split("&")
        if item and "pass" not in urllib.parse.unquote_plus(item.partition("=")[0]).lower()
    )
    tail = f"?{query}" if query else ""
    if parts.scheme == "unix":
        # A host is no place for a socket (redis-py ignores it): shown, so
        # the message refusing unix://relative.sock shows what was typed.
        return f"unix://{parts.netloc.rpartition('@')[2]}{parts.path}{tail}"
    name = parts.hostname or "localhost"
    if ":" in name:
        name = f"[{name}]"
    return f"{parts.scheme}://{name}{f':{port}' if port else ''}{parts.path}{tail}"
