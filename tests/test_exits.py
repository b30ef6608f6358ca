"""aiokv/exits.py: the registry the exit and fork hooks walk, with stand-in stores.

The hooks themselves run in real processes: tests/crash/test_exit.py (a
program that exits without aclose(), a forked child, SIGTERM).
"""

from __future__ import annotations

from aiokv import exits
from tests.helpers import run_child


class Stand:
    """A stand-in store that records what the hooks did to it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def register(self) -> None:
        exits.register(self, "Stand()", lambda: self.calls.append("save"), self.disowned)

    def disowned(self) -> None:
        self.calls.append("disown")


def test_a_registered_store_is_listed_until_unregistered() -> None:
    store = Stand()
    store.register()
    assert store in exits.unclosed()
    exits.unregister(store)
    exits.unregister(store)  # absent is fine
    assert store not in exits.unclosed() and store.calls == []


def test_disown_runs_the_stores_own_disown_once_and_forgets_it() -> None:
    store = Stand()
    store.register()
    exits.disown(store)
    exits.disown(store)
    assert store.calls == ["disown"] and store not in exits.unclosed()


def test_at_exit_each_open_store_is_saved_with_a_resource_warning() -> None:
    done = run_child(
        """
        import warnings
        warnings.simplefilter("always")
        from aiokv import exits
        class Stand:
            pass
        for n in range(2):
            exits.register(Stand(), f"Stand({n})", lambda n=n: print("saved", n), print)
        """
    )
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split("\n")[:2]) == ["saved 0", "saved 1"]
    assert done.stderr.count("ResourceWarning: Stand(") == 2
    assert "was never closed; saving it at exit" in done.stderr


def test_a_forked_child_disowns_the_parents_stores() -> None:
    done = run_child(
        """
        import os
        from aiokv import exits
        class Stand:
            pass
        parent = Stand()
        exits.register(parent, "Stand()", lambda: None, lambda: print("disowned", os.getpid()))
        pid = os.fork()
        if pid == 0:
            os._exit(0 if not exits.unclosed() else 1)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status), "parent keeps", len(exits.unclosed()))
        exits.unregister(parent)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "child 0 parent keeps 1" in done.stdout and done.stdout.count("disowned") == 1
