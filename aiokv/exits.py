"""The exit and fork hooks: open stores saved at interpreter exit, disowned in a forked child.

An open store's unsaved changes live only in memory. A program that forgets
aclose() and exits normally would lose them: the exit hook saves each store
still open, with a ResourceWarning like an unclosed file's. A forked child
inherits the parent's open stores; writing them would roll the parent's file
back to the fork-time state, so the child disowns them.
"""

from __future__ import annotations

import atexit
import os
import warnings
from collections.abc import Callable

# Each open store: its name for the warning, how to save it at exit, how to disown it.
_open: dict[object, tuple[str, Callable[[], None], Callable[[], None]]] = {}


def register(
    store: object, name: str, save: Callable[[], None], disown: Callable[[], None]
) -> None:
    """Watch an open store until unregister(): save() runs at exit, disown() in a child."""
    _open[store] = (name, save, disown)


def unregister(store: object) -> None:
    """Stop watching store (closed, or with nothing left to save); absent is fine."""
    _open.pop(store, None)


def unclosed() -> list[object]:
    """The stores open now, that the exit hook would save."""
    return list(_open)


def disown(store: object) -> None:
    """Let store go as a forked child does: closed here, its file and lock left to others."""
    hooks = _open.pop(store, None)
    if hooks is not None:
        hooks[2]()


@atexit.register
def _save_unclosed() -> None:
    for name, save, _ in list(_open.values()):
        warnings.warn(
            f"{name} was never closed; saving it at exit "
            "(use 'async with AioKV(...)' or await aclose())",
            ResourceWarning,
            stacklevel=1,
        )
        save()


def _forget_parent_stores() -> None:
    for store in list(_open):
        disown(store)


os.register_at_fork(after_in_child=_forget_parent_stores)
