"""Store: the async key-value API that AioKV and its namespaces share.

Code that only needs a place to keep state (a framework integration, a
helper) takes a Store, so any store with this API fits, including a
namespace of one.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Store(Protocol):
    """The async key-value API of AioKV and of its namespaces."""

    async def get(self, key: str, default: Any = None) -> Any:
        """Return the value stored at key (a private copy), or default."""

    async def set(self, key: str, value: Any = ...) -> None:
        """Store value at key; with no value, store int(time.time())."""

    async def delete(self, key: str) -> bool:
        """Remove key (present or not)."""

    async def has(self, key: str) -> bool:
        """Return whether key is stored."""

    async def keys(self, prefix: str = "") -> list[str]:
        """Return the stored keys that start with prefix."""

    async def get_all(self, prefix: str = "") -> dict[str, Any]:
        """Return a copy of the keys that start with prefix and their values."""

    async def update(self, mapping: Mapping[str, Any]) -> None:
        """Store every key of mapping at once: all of them or none."""

    async def incr(self, key: str, by: int | float = 1) -> int | float:
        """Add by to the number at key (absent counts as 0) and return the result."""

    def edit(self, key: str, default: Any = ...) -> AbstractAsyncContextManager[Any]:
        """Change the dict or list at key in place, losing no concurrent update."""

    async def clear(self, prefix: str = "") -> bool:
        """Remove every key that starts with prefix (every key by default)."""

    def namespace(self, name: str) -> Store:
        """Return a view of the keys named `<name>:<key>`, with this same API."""

    async def flush(self) -> None:
        """Return once every change made before the call is durable."""
