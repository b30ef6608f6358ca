"""aiokv/opening.py: an open as a room of its own, on real files, without a store."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from aiokv import lock
from aiokv.errors import CorruptFileError, LockedError, VersionError
from aiokv.opening import Opener
from tests.helpers import read_json


def opener(**options: Any) -> Opener:
    how: dict[str, Any] = {"fsync": False, "on_corrupt": "raise", "version": None}
    return Opener(**{**how, "migrate": None, **options})


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"on_corrupt": "ignore"}, ValueError, "on_corrupt must be"),
        ({"version": 0}, ValueError, "version must be an int from 1"),
        ({"version": 2**64}, ValueError, "version must be an int from 1"),
        ({"version": True}, ValueError, "version must be an int from 1"),
        ({"migrate": lambda v, s: s}, TypeError, "given together with version="),
        ({"version": 2, "migrate": "f"}, TypeError, "migrate must be a function"),
    ],
)
def test_bad_options_are_refused_at_once(options: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        opener(**options)


def test_an_open_holds_the_lock_of_the_resolved_path_and_gives_the_state(tmp_path: Path) -> None:
    real = tmp_path / "state.json"
    real.write_text('{"a": 1}')
    (tmp_path / "link.json").symlink_to(real)
    stale = tmp_path / ".state.json.0123456789ab.aiokv-tmp"
    stale.write_text("{")

    async def main() -> None:
        opened = await opener().open(str(tmp_path / "link.json"))
        try:
            assert opened.path == str(real) and opened.state == {"a": 1}
            assert lock.holder(str(real)) == os.getpid() and not stale.exists()
            with pytest.raises(LockedError):
                await opener().open(str(real))
        finally:
            lock.release(opened.lock_fd)
        assert lock.holder(str(real)) is None

    asyncio.run(main())


def test_a_refused_file_is_left_as_it_was_and_its_lock_given_back(tmp_path: Path) -> None:
    path = tmp_path / "state.json"

    async def refused(how: Opener, raw: bytes, error: type) -> None:
        path.write_bytes(raw)
        with pytest.raises(error):
            await how.open(str(path))
        assert path.read_bytes() == raw and lock.holder(str(path)) is None

    async def main() -> None:
        await refused(opener(), b"{", CorruptFileError)
        await refused(opener(), b'{"__aiokv__": {"version": 2}}', VersionError)
        await refused(opener(version=3), b'{"__aiokv__": {"version": 2}}', VersionError)

    asyncio.run(main())


def test_quarantine_moves_a_corrupt_file_aside_and_opens_empty(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"{")

    async def main() -> None:
        opened = await opener(on_corrupt="quarantine").open(str(path))
        lock.release(opened.lock_fd)
        assert opened.state == {} and not path.exists()
        (aside,) = tmp_path.glob("state.json.corrupt-*")
        assert aside.read_bytes() == b"{"

    asyncio.run(main())


def test_migrate_brings_the_file_to_the_version_and_keeps_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"n": 1}')

    async def migrate(old: int, state: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"n": state["n"] + old + 1}

    async def main() -> None:
        opened = await opener(version=2, migrate=migrate).open(str(path))
        lock.release(opened.lock_fd)
        assert opened.state == {"n": 2}
        assert read_json(path) == {"__aiokv__": {"version": 2}, "n": 2}
        assert read_json(tmp_path / "state.json.v0.bak") == {"n": 1}

    asyncio.run(main())


def test_an_open_cancelled_at_once_holds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"

    async def main() -> None:
        for _ in range(20):
            task = asyncio.ensure_future(opener().open(str(path)))
            await asyncio.sleep(0)
            task.cancel()
            try:
                opened = await task
            except asyncio.CancelledError:
                pass
            else:  # it finished first: then it is ours to release
                lock.release(opened.lock_fd)
            assert lock.holder(str(path)) is None

    asyncio.run(main())
