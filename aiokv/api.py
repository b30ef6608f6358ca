"""What AioKV and RedisKV share: the API's checks and messages, written once.

Both stores call these, so a key, a value, an update, an incr or an edit is
refused by both in the same words. Their lifecycles stay their own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from . import codec
from .namespace import Namespace


class StoreBase:
    """The methods whose body is the same in every store."""

    async def aclose(self) -> None:
        """Close the store (each store says what that means)."""
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store: see aclose()."""
        await self.aclose()

    def namespace(self, name: str) -> Namespace:
        """Return a view of the keys named `<name>:<key>`, with this same API."""
        return Namespace(self, name)  # type: ignore[arg-type]


def key(key: object) -> str:
    """Return key as a plain str a store can hold: at once for an ASCII str, else checked."""
    if type(key) is str and key.isascii() and key != codec.VERSION_KEY:
        return key
    return codec.check_key(key)


def value(value: Any, key: str) -> Any:
    """Return what set(key, value) stores: the time for no value, else value checked and copied."""
    kind = type(value)
    if kind is str:
        return value if value.isascii() else codec.accept(value, key)
    if kind is int:
        return value if codec.INT_MIN <= value <= codec.INT_MAX else codec.accept(value, key)
    if value is codec.NOW:
        return int(time.time())
    return codec.accept(value, key)


def accepted(mapping: object) -> dict[str, Any]:
    """Every key and value of an update() mapping, checked and copied, or an error naming one."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"update() takes a mapping, not {type(mapping).__name__}")
    return {(k := key(raw)): codec.accept(v, k) for raw, v in mapping.items()}


def accepted_state(state: object, source: str) -> dict[str, Any]:
    """A whole state from user code (migrate's result), checked and copied as set() would."""
    if type(state) is not dict:
        raise TypeError(f"{source} returned {type(state).__name__}, not a dict of the new state")
    try:
        return accepted(state)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{source} returned a state aiokv cannot store: {e}") from None


def check_by(key: str, by: object) -> None:
    """Refuse an incr() step that is not an int or a float."""
    if type(by) is not int and type(by) is not float:
        raise TypeError(f"incr({key!r}): by must be an int or float, not {type(by).__name__}")


def incremented(key: str, current: Any, by: int | float) -> int | float:
    """The value incr() stores: current (MISSING counts as 0) plus by, checked as set() would."""
    if current is codec.MISSING:
        current = 0
    if type(current) is not int and type(current) is not float:
        raise TypeError(
            f"incr({key!r}): the stored value is {codec.json_type(current)}, not a number"
        )
    result: int | float = codec.accept(current + by, key)
    return result


def editable(key: str, current: Any, default: Any) -> Any:
    """What an edit() block gets: a copy of current (MISSING: of default), a dict or a list."""
    if current is codec.MISSING:
        if default is codec.MISSING:
            raise KeyError(f"edit({key!r}): the key is absent and no default was given")
        current = codec.accept(default, key)
    if not isinstance(current, (dict, list)):
        raise TypeError(
            f"edit({key!r}): the stored value is {codec.json_type(current)}; edit() "
            "changes a dict or a list in place (use set() or incr() for others)"
        )
    return codec.copy_out(current)


def editing_itself(key: str) -> RuntimeError:
    """The error for a write, inside an edit() block, to a key that block's task is editing."""
    return RuntimeError(
        f"{key!r} is being edited by this very task: change the edited value "
        "instead of writing the key inside its edit() block"
    )
