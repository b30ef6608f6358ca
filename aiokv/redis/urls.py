"""A Redis URL checked before any connection: its DB, its parameters, a unix:// socket's path.

redis-py reads what it can of a URL and drops the rest without a word: a
path that is not a number selects DB 0, and an unknown parameter fails only
at the first connect, in the words of a constructor. RedisKV(url) and the
command both check a URL here, so a store that looks named never opens
another one.
"""

from __future__ import annotations

import inspect
import re
import urllib.parse

from redis.asyncio.connection import (
    URL_QUERY_ARGUMENT_PARSERS,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)

from ..errors import shown_url

_DIGITS = re.compile("[0-9]+")  # a DB index: ASCII digits (int() takes " 1" too)
_STR = re.compile(r"\bstr\b")  # an annotation that takes a str: str, str | None, Optional[str]
_CONNECTIONS = {"redis": Connection, "rediss": SSLConnection, "unix": UnixDomainSocketConnection}


def check(url: str) -> None:
    """Refuse (ValueError, naming the URL without its password) what would open another DB."""
    where = shown_url(url)  # refuses a URL it cannot show, showing none of it
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _CONNECTIONS or "://" not in url:
        raise ValueError(f"{where}: a Redis URL starts redis://, rediss:// or unix://")
    if scheme == "unix" and (parts.netloc.rpartition("@")[2] or not parts.path.startswith("/")):
        # unix://redis.sock reads "redis.sock" as a host: the path is empty.
        raise ValueError(
            f"{where}: unix:// takes the socket's absolute path, after three slashes "
            "(unix:///run/redis.sock)"
        )
    if scheme != "unix" and parts.path and not _DIGITS.fullmatch(parts.path[1:]):
        raise ValueError(f"{where}: the path is the DB's number (/0, /1, ...), not {parts.path!r}")
    known = parameters(scheme)
    seen: set[str] = set()
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if name in seen:  # redis-py would take the first and drop the others
            raise ValueError(f"{where}: ?{name}= is given twice")
        seen.add(name)
        if name not in known:
            raise ValueError(f"{where}: ?{name}= is not a parameter a Redis connection takes")
        if name == "db" and not _DIGITS.fullmatch(value):
            raise ValueError(f"{where}: ?db= is the DB's number (0, 1, ...)")
    if "db" in seen and scheme != "unix" and parts.path:  # unix://'s path is the socket's
        raise ValueError(f"{where}: the DB is given twice (the path and ?db=)")


def parameters(scheme: str) -> set[str]:
    """The query parameters a URL of scheme may give: its connection's, that a URL can say.

    A keyword argument of the connection's class that redis-py converts from
    a URL's text, or that takes a str; not one that wants an object (a
    retry policy, a parser class), which a URL's text would only break.
    """
    names: set[str] = set()
    for cls in _CONNECTIONS[scheme].__mro__:
        init = vars(cls).get("__init__")
        for parameter in inspect.signature(init).parameters.values() if init else ():
            if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD) and (
                parameter.name in URL_QUERY_ARGUMENT_PARSERS
                or _STR.search(str(parameter.annotation))
            ):
                names.add(parameter.name)
    return names - {"self"}


def db(url: str) -> str:
    """The DB a checked URL names, as written ("0" if it names none)."""
    parts = urllib.parse.urlsplit(url)
    given = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)).get("db")
    return given or parts.path[1:] or "0"


def has_password(url: str) -> bool:
    """Whether a URL gives a password: in its user part, or (unix://'s only place) its query."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    return bool(parts.password or query.get("password"))
