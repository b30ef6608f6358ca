"""Schema versions: version= records one, migrate= brings older files up, newer are refused."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from aiokv import AioKV, VersionError, lock, pieces
from aiokv.pieces import PIECE_KEYS
from tests.helpers import read_json, run_child, temp_files


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def write(path: Path, state: dict[str, Any], version: int | None = None) -> None:
    async def main() -> None:
        async with AioKV(
            path, version=version, migrate=(lambda v, s: s) if version else None
        ) as kv:
            await kv.update(state)

    run(main())


def test_a_store_without_version_writes_the_0_1_format_byte_for_byte(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dict = {"a": 1, "b": [1, 2], "c": {"d": "é"}}
    write(state, state_dict)
    assert state.read_bytes() == orjson.dumps(state_dict)  # a bare object, as 0.1 wrote
    monkeypatch.setattr(pieces, "GROUP_PIECES", 1)  # a buffer a piece: two writev()s
    big = {f"k{i}": i for i in range(PIECE_KEYS * 1100)}
    state.unlink()
    write(state, big)
    assert state.read_bytes() == orjson.dumps(big)


@pytest.mark.parametrize("keys", [1, PIECE_KEYS * 1100])
def test_a_versioned_file_records_its_version_first_and_hides_it(
    state: Path, monkeypatch: pytest.MonkeyPatch, keys: int
) -> None:
    monkeypatch.setattr(pieces, "GROUP_PIECES", 1)  # a buffer a piece: two writev()s
    data = {f"k{i}": i for i in range(keys)}
    write(state, data, version=3)
    raw = state.read_bytes()
    assert raw.startswith(b'{"__aiokv__":{"version":3},"k0":0')
    assert orjson.loads(raw) == {"__aiokv__": {"version": 3}, **data}

    async def main() -> None:
        async with AioKV(state, version=3) as kv:  # no migrate needed: same version
            assert await kv.keys() == list(data)
            assert await kv.get_all() == data
            await kv.set("k0", -1)
        assert read_json(state)["__aiokv__"] == {"version": 3}

    run(main())


def test_the_version_record_key_is_refused_by_every_method(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state, version=2) as kv:
            calls = [
                kv.get("__aiokv__"),
                kv.set("__aiokv__", 1),
                kv.has("__aiokv__"),
                kv.delete("__aiokv__"),
                kv.incr("__aiokv__"),
                kv.update({"a": 1, "__aiokv__": {"version": 9}}),
            ]
            for call in calls:
                with pytest.raises(ValueError, match="'__aiokv__' is reserved"):
                    await call
            with pytest.raises(ValueError, match="reserved"):
                async with kv.edit("__aiokv__", default={}):
                    pass
            await kv.set("a", 1)
        assert read_json(state) == {"__aiokv__": {"version": 2}, "a": 1}

    run(main())


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_an_older_file_is_migrated_once_durably_with_a_backup(
    state: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    write(state, {"prefix": "!", "admins": [1, 2]})
    os.chmod(state, 0o640)
    old_bytes = state.read_bytes()
    calls: list[tuple[int, dict[str, Any]]] = []

    def change(old: int, data: dict[str, Any]) -> dict[str, Any]:
        calls.append((old, dict(data)))
        return {"settings": {"prefix": data.pop("prefix")}, "admins": data["admins"]}

    async def migrate_async(old: int, data: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return change(old, data)

    migrate = change if kind == "plain" else migrate_async

    async def main() -> None:
        async with AioKV(state, version=2, migrate=migrate) as kv:
            # Durable before the open returned: the file is already migrated.
            assert read_json(state) == {
                "__aiokv__": {"version": 2},
                "settings": {"prefix": "!"},
                "admins": [1, 2],
            }
            assert await kv.get("settings") == {"prefix": "!"}
        async with AioKV(state, version=2, migrate=migrate) as kv:  # not again
            assert await kv.keys() == ["settings", "admins"]

    with caplog.at_level(logging.INFO, logger="aiokv"):
        run(main())
    assert calls == [(0, {"prefix": "!", "admins": [1, 2]})]
    backup = state.parent / "state.json.v0.bak"
    assert backup.read_bytes() == old_bytes  # the old file, exactly
    assert stat.S_IMODE(backup.stat().st_mode) == 0o640  # no wider than the file
    assert temp_files(state.parent) == []
    assert any(str(backup) in r.getMessage() for r in caplog.records)


def test_an_earlier_backup_is_never_overwritten(state: Path) -> None:
    backup = state.parent / "state.json.v1.bak"
    backup.write_bytes(b"an earlier backup")
    write(state, {"a": 1}, version=1)

    async def main() -> None:
        async with AioKV(state, version=2, migrate=lambda old, data: data) as kv:
            assert await kv.get("a") == 1

    run(main())
    assert backup.read_bytes() == b"an earlier backup"
    assert read_json(state.parent / "state.json.v1.bak-1") == {"__aiokv__": {"version": 1}, "a": 1}


def test_a_migration_to_an_empty_state_keeps_the_version(state: Path) -> None:
    write(state, {"a": 1})

    async def main() -> None:
        async with AioKV(state, version=1, migrate=lambda old, data: {}) as kv:
            assert await kv.get_all() == {}
        async with AioKV(state, version=1) as kv:  # version 1 now: nothing to migrate
            assert await kv.get_all() == {}

    run(main())
    assert read_json(state) == {"__aiokv__": {"version": 1}}


def test_a_missing_file_is_a_new_store_at_the_programs_version(state: Path) -> None:
    def never(old: int, data: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("nothing to migrate")

    write(state, {"a": 1}, version=4)
    assert read_json(state)["__aiokv__"] == {"version": 4}

    async def main() -> None:
        async with AioKV(state, version=4, migrate=never) as kv:
            await kv.clear()  # empty: the file goes, and a new one starts at 4 again
        async with AioKV(state, version=4, migrate=never) as kv:
            await kv.set("b", 2)

    run(main())
    assert read_json(state) == {"__aiokv__": {"version": 4}, "b": 2}


def refused(state: Path, store: AioKV) -> BaseException:
    """Open store expecting a refusal: the file untouched, nothing beside it, the lock free."""
    before = (state.read_bytes(), state.stat().st_mtime_ns)

    async def main() -> BaseException:
        with pytest.raises(Exception) as info:
            async with store:
                pass
        return info.value

    error = run(main())
    assert (state.read_bytes(), state.stat().st_mtime_ns) == before
    assert sorted(os.listdir(state.parent)) == ["state.json", "state.json.lock"]
    lock.release(lock.acquire(str(state)))  # raises LockedError if still held
    return error


def test_a_newer_file_is_refused_naming_both_versions(state: Path) -> None:
    write(state, {"a": 1}, version=3)
    error = refused(state, AioKV(state, version=2, migrate=lambda old, data: data))
    assert isinstance(error, VersionError)
    assert (error.found, error.wanted) == (3, 2)
    assert "holds schema version 3, this program's is 2" in str(error)
    assert "newer program" in str(error) and str(state) in str(error)
    # A program that knows nothing of versions is version 0: refused too.
    error = refused(state, AioKV(state))
    assert isinstance(error, VersionError) and (error.found, error.wanted) == (3, 0)


def test_an_older_file_without_migrate_is_refused(state: Path) -> None:
    write(state, {"a": 1})
    error = refused(state, AioKV(state, version=1))
    assert isinstance(error, VersionError) and "no migrate= was given" in str(error)


def boom(old: int, data: dict[str, Any]) -> dict[str, Any]:
    data.clear()  # whatever it did to the state it was given is discarded
    raise KeyError("boom")


async def boom_async(old: int, data: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(0)
    return boom(old, data)


@pytest.mark.parametrize(
    ("migrate", "error", "match"),
    [
        (boom, KeyError, "boom"),
        (boom_async, KeyError, "boom"),
        (lambda old, data: [data], TypeError, "returned list, not a dict"),
        (lambda old, data: {"a": float("nan")}, ValueError, "value for key 'a'"),
        (lambda old, data: {1: "x"}, TypeError, "keys must be str"),
        (lambda old, data: {"__aiokv__": 1}, ValueError, "reserved"),
        (lambda old, data: {"a": {1, 2}}, TypeError, "migrate() from version 0 for"),
    ],
)
def test_a_failed_migration_leaves_the_file_untouched_and_the_lock_free(
    state: Path, migrate: Any, error: type[Exception], match: str
) -> None:
    write(state, {"a": 1})
    raised = refused(state, AioKV(state, version=1, migrate=migrate))
    assert isinstance(raised, error) and match in str(raised)


class Migration:
    """A migrate= that records its calls, cancels its opener, takes a while, may raise."""

    def __init__(self, kind: str, cancels: int = 1, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.opener: asyncio.Task[Any] | None = None  # cancelled once the call began
        self.cancels, self.fail = cancels, fail
        self.function: Any = self.plain if kind == "plain" else self.async_

    def plain(self, old: int, data: dict[str, Any]) -> dict[str, Any]:
        self.begin(old)
        time.sleep(MIGRATING)  # blocks the loop: the cancellation lands at the write
        return self.result(data)

    async def async_(self, old: int, data: dict[str, Any]) -> dict[str, Any]:
        self.begin(old)
        await asyncio.sleep(MIGRATING)  # the cancellations land here
        return self.result(data)

    def begin(self, old: int) -> None:
        self.calls.append(old)
        if self.opener is not None:
            loop = asyncio.get_running_loop()
            for n in range(self.cancels):
                loop.call_later(n * MIGRATING / 5, self.opener.cancel)

    def result(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise KeyError("boom")
        return {**data, "migrated": True}


MIGRATING = 0.05  # how long a Migration runs; its opener is cancelled within it


def open_cancelled(state: Path, migration: Migration, kv: AioKV | None = None) -> None:
    """Open state (in kv) with migration, which cancels the open: CancelledError, the store new."""
    kv = kv or AioKV(state, version=1, migrate=migration.function)

    async def main() -> None:
        migration.opener = asyncio.create_task(kv.__aenter__())
        with pytest.raises(asyncio.CancelledError):
            await migration.opener
        assert kv.stats().state == "new"

    run(main())


def assert_migrated_once(state: Path, migration: Migration, caplog: Any) -> None:
    """Migrated once: one backup, one INFO line; the next open calls migrate no more."""
    assert read_json(state) == {"__aiokv__": {"version": 1}, "a": 1, "migrated": True}
    assert sorted(os.listdir(state.parent)) == [
        "state.json",
        "state.json.lock",
        "state.json.v0.bak",
    ]
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "migrated" in caplog.records[0].getMessage()
    lock.release(lock.acquire(str(state)))  # the lock is free

    async def again() -> None:
        async with AioKV(state, version=1, migrate=migration.function) as kv:
            assert await kv.get_all() == {"a": 1, "migrated": True}

    run(again())
    assert migration.calls == [0]
    assert len(caplog.records) == 1  # no second migration, no second backup


@pytest.mark.parametrize("cancels", [1, 2])
@pytest.mark.parametrize("kind", ["plain", "async"])
def test_an_open_cancelled_while_migrating_still_writes_the_migration(
    state: Path, kind: str, cancels: int, caplog: pytest.LogCaptureFixture
) -> None:
    write(state, {"a": 1})
    migration = Migration(kind, cancels)
    with caplog.at_level(logging.INFO, logger="aiokv"):
        open_cancelled(state, migration)
        assert_migrated_once(state, migration, caplog)


def test_the_same_store_reopens_on_the_file_its_cancelled_open_migrated(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(state, {"a": 1})
    migration = Migration("async")
    kv = AioKV(state, version=1, migrate=migration.function)
    with caplog.at_level(logging.INFO, logger="aiokv"):
        open_cancelled(state, migration, kv)

        async def again() -> None:
            async with kv:
                assert await kv.get("migrated") is True

        run(again())
        assert_migrated_once(state, migration, caplog)


def test_an_aclose_racing_an_open_cancelled_while_migrating(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(state, {"a": 1})
    migration = Migration("async")
    kv = AioKV(state, version=1, migrate=migration.function)

    async def main() -> None:
        migration.opener = asyncio.create_task(kv.__aenter__())
        closing = asyncio.create_task(kv.aclose())
        await closing  # the open it waited for finished, then it closed that
        with pytest.raises(asyncio.CancelledError):
            await migration.opener
        assert kv.stats().state == "closed"

    with caplog.at_level(logging.INFO, logger="aiokv"):
        run(main())
        assert_migrated_once(state, migration, caplog)


def test_a_migration_failing_after_its_open_was_cancelled_is_logged_and_writes_nothing(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(state, {"a": 1})
    before = state.read_bytes()
    migration = Migration("async", fail=True)
    with caplog.at_level(logging.INFO, logger="aiokv"):
        open_cancelled(state, migration)
    assert state.read_bytes() == before
    assert sorted(os.listdir(state.parent)) == ["state.json", "state.json.lock"]
    lock.release(lock.acquire(str(state)))
    # The failure had no caller left to raise to: it is logged, naming the file.
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert str(state) in record.getMessage() and "boom" in record.getMessage()
    # Nothing was written, so the next open migrates (and here fails) again.
    migration.opener = None  # not cancelled this time
    error = refused(state, AioKV(state, version=1, migrate=migration.function))
    assert isinstance(error, KeyError) and migration.calls == [0, 0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"version": 0}, ValueError, "int from 1"),
        ({"version": -1}, ValueError, "int from 1"),
        ({"version": True}, ValueError, "int from 1"),
        # Past what the file's record holds: it failed only at the first write.
        ({"version": 2**64}, ValueError, "int from 1 to 2"),
        ({"version": "2"}, ValueError, "int from 1"),
        ({"migrate": lambda old, data: data}, TypeError, "together with version="),
        ({"version": 2, "migrate": "not a function"}, TypeError, "must be a function"),
    ],
)
def test_bad_version_arguments_raise_at_the_constructor(
    state: Path, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        AioKV(state, **kwargs)


PROGRAM = """
import asyncio, sys
from aiokv import AioKV

release = int(sys.argv[2])
version = {1: None, 2: 1, 3: 2}[release]  # release 1 knew nothing of versions

def to_1(state):  # release 2 moved the prefix into settings
    return {"settings": {"prefix": state.pop("prefix")}, **state}

def to_2(state):  # release 3 counts commands instead of logging them
    state["commands"] = len(state.pop("command_log", []))
    return state

def migrate(old, state):
    for step in [to_1, to_2][old:version]:
        state = step(state)
    return state

async def main():
    async with AioKV(sys.argv[1], version=version, migrate=migrate if version else None) as kv:
        if release == 1:
            await kv.update({"prefix": "!", "command_log": ["ping", "help"]})
        elif release == 2:
            async with kv.edit("command_log", default=[]) as log:
                log.append("stats")
        print(sorted((await kv.get_all()).items()))

asyncio.run(main())
"""


def test_each_release_of_a_program_opens_the_file_the_previous_one_wrote(state: Path) -> None:
    # Three releases of one program, each a real process on the same file.
    first = run_child(PROGRAM, str(state), "1")
    assert first.returncode == 0, first.stderr
    assert read_json(state) == {"prefix": "!", "command_log": ["ping", "help"]}

    second = run_child(PROGRAM, str(state), "2")
    assert second.returncode == 0, second.stderr
    assert read_json(state) == {
        "__aiokv__": {"version": 1},
        "settings": {"prefix": "!"},
        "command_log": ["ping", "help", "stats"],
    }
    assert read_json(state.parent / "state.json.v0.bak") == {
        "prefix": "!",
        "command_log": ["ping", "help"],
    }

    downgrade = run_child(PROGRAM, str(state), "1")  # the old release again: refused
    assert downgrade.returncode != 0
    assert "VersionError" in downgrade.stderr and "schema version 1" in downgrade.stderr

    third = run_child(PROGRAM, str(state), "3")
    assert third.returncode == 0, third.stderr
    assert read_json(state) == {
        "__aiokv__": {"version": 2},
        "settings": {"prefix": "!"},
        "commands": 3,
    }
    assert read_json(state.parent / "state.json.v1.bak")["__aiokv__"] == {"version": 1}
    assert run_child(PROGRAM, str(state), "2").returncode != 0  # and a downgrade by one


def test_a_newer_file_is_never_quarantined(state: Path) -> None:
    # A newer file is not damaged: on_corrupt="quarantine" leaves it in place.
    write(state, {"a": 1}, version=2)
    error = refused(state, AioKV(state, version=1, on_corrupt="quarantine"))
    assert isinstance(error, VersionError)


def test_the_exit_save_of_a_versioned_store_keeps_its_version(state: Path) -> None:
    forgot = run_child(
        """
        import asyncio, sys, warnings
        from aiokv import AioKV
        warnings.simplefilter("ignore", ResourceWarning)

        async def main():
            kv = AioKV(sys.argv[1], version=5, flush_delay=60, max_flush_delay=60)
            await kv.set("a", 1)  # never closed: saved by the exit hook

        asyncio.run(main())
        """,
        str(state),
    )
    assert forgot.returncode == 0, forgot.stderr
    assert state.read_bytes() == b'{"__aiokv__":{"version":5},"a":1}'
