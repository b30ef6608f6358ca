"""Redis locations: a copy's redis://HOST:PORT/DB?name=NAME read, shown and run as a RedisKV."""

from __future__ import annotations

import asyncio
import os
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from ..errors import AioKVError, CorruptFileError, UnavailableError, shown_url
from .codes import EXIT_OS, EXIT_UNREADABLE, EXIT_USAGE, Failure

if TYPE_CHECKING:
    from ..redis import RedisKV

_T = TypeVar("_T")

_SCHEMES = ("redis", "rediss", "unix")  # a copy location with one of these is a Redis store
_BYTES = "surrogateescape"  # a URL's query decoded so, and encoded back, keeps its bytes
# A password from the environment, for a URL that holds none: argv is visible
# to every user in `ps`, the environment only to the process's owner.
PASSWORD_VARIABLE = "AIOKV_REDIS_PASSWORD"


def location(text: str) -> str | RedisKV:
    """A copy location: a state file's path, or the RedisKV a redis:// URL names."""
    # A state file's path, or a Redis store (its URL without the name).
    parts = _redis_url(text)
    if parts is None:
        return text
    # surrogateescape: bytes that are not UTF-8 stay as they came (the
    # default would replace them, naming another hash), to be refused.
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, errors=_BYTES)
    names = query.pop("name", [])
    if len(names) > 1:  # which hash is meant, no one can say
        raise Failure(EXIT_USAGE, f"{shown(text)}: ?name= is given twice; give one NAME")
    if not names or not names[0]:
        raise Failure(EXIT_USAGE, f"{shown(text)}: add ?name=NAME, the hash holding the store")
    try:
        names[0].encode()
    except UnicodeEncodeError:
        raise Failure(
            EXIT_USAGE, f"{shown(text)}: the name is not UTF-8 (percent-encode its UTF-8 bytes)"
        ) from None
    try:
        from ..redis import RedisKV
    except ImportError:
        raise Failure(
            EXIT_USAGE, "Redis stores need the redis package: pip install 'aiokv[redis]'"
        ) from None
    # The query as given, without the name (RedisKV takes it apart): the
    # parameters keep their spelling, for RedisKV's check and its messages.
    given = [item for item in parts.query.split("&") if item and _parameter(item) != "name"]
    password = os.environ.get(PASSWORD_VARIABLE)
    if password and parts.password is None and "password" not in query:
        # redis-py reads a password from the query for every scheme (unix://
        # has no other place for one); messages never show it.
        given.append(urllib.parse.urlencode({"password": password}, errors=_BYTES))
    url = parts._replace(query="&".join(given)).geturl()
    if not parts.netloc and text.partition(":")[2].startswith("//"):
        # geturl() writes a URL with no host (unix:///path) as unix:/path,
        # which redis-py refuses from 8.2 on: it gets its "//" back.
        url = f"{parts.scheme}://{url.partition(':')[2]}"
    try:
        return RedisKV(url, name=names[0])
    except ValueError as e:  # a URL it cannot read (its message shows no password)
        # It names the URL it was given; the command's names the one typed.
        where = shown(text)  # a URL that cannot be shown is refused here, showing none of it
        problem = str(e).removeprefix(f"{shown_url(url)}: ")
        raise Failure(EXIT_USAGE, f"{where}: {problem}") from None


def is_redis(text: str) -> bool:
    """Whether a location names a Redis store (redis://, rediss:// or unix://)."""
    return text.partition(":")[0].lower() in _SCHEMES and "://" in text


def _parameter(item: str) -> str:
    # A query item's parameter name, decoded as parse_qs decodes it.
    return urllib.parse.unquote_plus(item.partition("=")[0], errors=_BYTES)


def _redis_url(text: str) -> urllib.parse.SplitResult | None:
    # A Redis location's parts, or None for a state file's path.
    scheme = text.partition(":")[0].lower()
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError as e:  # a "[" in the host without its "]"
        if scheme not in _SCHEMES:
            return None  # a file's name may hold brackets
        raise Failure(EXIT_USAGE, f"a {scheme}:// URL that is not valid ({e})") from None
    return parts if parts.scheme in _SCHEMES else None


def shown(text: str) -> str:
    """A location as messages show it: a Redis one without its password."""
    if _redis_url(text) is None:
        return text
    try:
        return shown_url(text)  # as RedisKV shows it: never a password
    except ValueError as e:  # a URL that cannot be shown so (its message shows none of it)
        raise Failure(EXIT_USAGE, str(e)) from None


def run_redis(kv: RedisKV, work: Callable[[RedisKV], Awaitable[_T]], outcome: str = "") -> _T:
    """Run work on a Redis store, its failures as one-line errors ending in "; " + outcome."""
    tail = f"; {outcome}" if outcome else ""

    async def run() -> _T:
        async with kv:
            return await work(kv)

    try:
        return asyncio.run(run())
    except UnavailableError as e:
        raise Failure(EXIT_OS, str(e)) from None
    except CorruptFileError as e:  # the hash holds what no store can read (another tool wrote it)
        raise Failure(EXIT_UNREADABLE, f"{e.path}: {e.problem}{tail}") from None
    except (TypeError, ValueError) as e:  # a DB the server lacks, a value or key refused
        where = f"{kv.url} (hash {kv.name!r})"
        problem = str(e).removeprefix(f"{where}: ")  # said once, where it names the store
        raise Failure(EXIT_USAGE, f"{where}: {problem}{tail}") from None
    except AioKVError as e:
        raise Failure(EXIT_UNREADABLE, str(e)) from None
