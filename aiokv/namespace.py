"""Namespace: the keys under one prefix of a store, seen without it.

A namespace holds nothing itself: `kv.namespace("guild:42")` reads and
writes the store's keys named "guild:42:<key>", through the store's public
API, so its keys live in the store's one file as plain keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from . import codec
from .protocol import Store

SEPARATOR = ":"  # between a namespace's name and a key: "guild:42" + "user:7"


class Namespace:
    """A view of a store's keys named `<name>:<key>`, with the store's API."""

    __slots__ = ("_prefix", "_store")

    def __init__(self, store: Store, name: str) -> None:
        """View store's keys under name (store.namespace(name) says the same)."""
        self._store = store
        self._prefix = _checked(name) + SEPARATOR

    @property
    def name(self) -> str:
        """The namespace's name: its keys are stored as `<name>:<key>`."""
        return self._prefix[: -len(SEPARATOR)]

    @property
    def store(self) -> Store:
        """The store the namespace's keys live in."""
        return self._store

    def __repr__(self) -> str:
        """Show the name and the store."""
        return f"<Namespace {self.name!r} of {self._store!r}>"

    def _key(self, key: str) -> str:
        # The store checks the whole key; only its type is checked here, so
        # that a wrong one is named as given.
        return self._prefix + codec.plain_str(key, "keys")

    async def get(self, key: str, default: Any = None) -> Any:
        """Return the value stored at key (a private copy), or default."""
        return await self._store.get(self._key(key), default)

    async def set(self, key: str, value: Any = codec.NOW) -> None:
        """Store value at key; with no value, store int(time.time())."""
        if value is codec.NOW:
            await self._store.set(self._key(key))
        else:
            await self._store.set(self._key(key), value)

    async def delete(self, key: str) -> bool:
        """Remove key (present or not); as the store's delete()."""
        return await self._store.delete(self._key(key))

    async def has(self, key: str) -> bool:
        """Return whether key is stored."""
        return await self._store.has(self._key(key))

    async def keys(self, prefix: str = "") -> list[str]:
        """Return the namespace's keys (those starting with prefix), without its name."""
        cut = len(self._prefix)
        return [key[cut:] for key in await self._store.keys(self._key(prefix))]

    async def get_all(self, prefix: str = "") -> dict[str, Any]:
        """Return a copy of the namespace's keys and values, keys without its name."""
        cut = len(self._prefix)
        values = await self._store.get_all(self._key(prefix))
        return {key[cut:]: value for key, value in values.items()}

    async def update(self, mapping: Mapping[str, Any]) -> None:
        """Store every key of mapping at once: all of them or, on a bad one, none."""
        if not isinstance(mapping, Mapping):
            await self._store.update(mapping)  # the store refuses it, in its words
            return
        await self._store.update({self._key(k): v for k, v in mapping.items()})

    async def incr(self, key: str, by: int | float = 1) -> int | float:
        """Add by to the number at key (absent counts as 0) and return the result."""
        return await self._store.incr(self._key(key), by)

    def edit(self, key: str, default: Any = codec.MISSING) -> AbstractAsyncContextManager[Any]:
        """Change the dict or list at key in place, as the store's edit()."""
        if default is codec.MISSING:
            return self._store.edit(self._key(key))
        return self._store.edit(self._key(key), default)

    async def clear(self, prefix: str = "") -> bool:
        """Remove the namespace's keys (those starting with prefix), and only those."""
        return await self._store.clear(self._key(prefix))

    def namespace(self, name: str) -> Namespace:
        """Return the namespace nested in this one: keys `<this>:<name>:<key>`."""
        return Namespace(self._store, self._prefix + _checked(name))

    async def flush(self) -> None:
        """Flush the store (the namespace's keys live in the store's one file)."""
        await self._store.flush()


def _checked(name: str) -> str:
    name = codec.plain_str(name, "namespace names")
    if not name:
        raise ValueError("a namespace name cannot be empty")
    return name
