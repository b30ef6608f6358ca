"""The file itself: loading, refusing corrupt files, modes, links, temp files."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from aiokv import AioKV, CorruptFileError, codec, pieces, storage
from aiokv.pieces import PIECE_KEYS
from tests.helpers import ROOT, encoded_keys, read_json, temp_files

CORRUPT = {
    "truncated": (b'{"a": 1, "b": [1, 2', "not valid JSON"),
    "garbage": (b"\x00\xff\xfe not json", "not valid JSON"),
    "empty": (b"", "empty (0 bytes)"),
    "list": (b"[1, 2, 3]", "top level is an array"),
    "string": (b'"just a string"', "top level is a string"),
    "null": (b"null", "top level is null"),
    "nan": (b'{"a": NaN}', "not valid JSON"),
    "trailing": (b'{"a": 1} x', "not valid JSON"),
    "number": (b"42", "top level is a number"),
    # Files aiokv could not write back exactly (json.dump writes both).
    "int above 2**64-1": (b'{"a": 18446744073709551616}', "integer 18446744073709551616"),
    "int below -2**63": (b'{"a": [1, -9223372036854775809]}', "integer -9223372036854775809"),
    "huge int, spaced": (b'{\n  "a": {"b": 123456789012345678901234567890}\n}', "64-bit range"),
    "nested 254 deep": (
        b'{"ok": 1, "deep": ' + b"[" * 254 + b"]" * 254 + b"}",
        "key 'deep' nests containers more than 253 levels",
    ),
    # A version record aiokv did not write.
    "version record a number": (b'{"__aiokv__": 3, "a": 1}', "aiokv's version record"),
    "version record null": (b'{"a": 1, "__aiokv__": null}', "aiokv's version record"),
    "version 0 recorded": (b'{"__aiokv__": {"version": 0}}', 'instead of {"version": <int >= 1>}'),
    "version a string": (b'{"__aiokv__": {"version": "2"}}', "aiokv's version record"),
    "version record extra": (b'{"__aiokv__": {"version": 2, "x": 1}}', "aiokv's version record"),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_file_is_refused_at_open_and_never_touched(state: Path, name: str) -> None:
    content, problem = CORRUPT[name]
    state.write_bytes(content)
    os.chmod(state, 0o640)
    before = state.stat()

    async def main() -> None:
        with pytest.raises(CorruptFileError) as info:
            async with AioKV(state):
                pass
        assert str(state) in str(info.value)
        assert problem in str(info.value)
        # A later attempt, with writes in between, fails the same way.
        kv = AioKV(state, flush_delay=0)
        with pytest.raises(CorruptFileError):
            await kv.set("x", 1)
        await asyncio.sleep(0.05)
        await kv.aclose()

    asyncio.run(main())
    after = state.stat()
    assert state.read_bytes() == content
    assert (after.st_ino, after.st_mtime_ns, after.st_mode) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_mode,
    )
    assert temp_files(state.parent) == []


def test_files_at_the_edges_of_what_aiokv_writes_back_open_exactly(state: Path) -> None:
    # Long digit runs that are not out-of-range integers: in strings, in
    # floats, and the range's own ends, from another writer (spaces).
    state.write_bytes(
        b'{"max": 18446744073709551615, "min": -9223372036854775808, '
        b'"s": "123456789012345678901234567890", "f": 0.1234567890123456789012, '
        b'"deep": ' + b"[" * 253 + b"]" * 253 + b", "
        # A member nested past the json module's reach (a RecursionError,
        # once), holding long numbers, replaced by a later duplicate key:
        # orjson keeps the later one; the exact check scans, never recurses.
        b'"gone": '
        + b"[" * 990
        + b"12345678901234567890, 1.5e-12345678901234567890"
        + b"]" * 990
        + b', "gone": 1}'
    )

    async def main() -> None:
        async with AioKV(state) as kv:
            everything = await kv.get_all()
            assert everything["max"] == 2**64 - 1 and everything["min"] == -(2**63)
            assert everything["s"] == "123456789012345678901234567890"
            assert everything["gone"] == 1
            await kv.set("x", 1)  # the whole state is written back
        again = read_json(state)
        assert again["max"] == 2**64 - 1 and again["min"] == -(2**63)

    asyncio.run(main())


def test_new_file_is_private(state: Path) -> None:
    old = os.umask(0)
    try:
        storage.write(str(state), {"a": 1}, fsync=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o400])
def test_existing_file_keeps_its_mode(state: Path, mode: int) -> None:
    state.write_bytes(b"{}")
    os.chmod(state, mode)

    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("a", 1)

    asyncio.run(main())
    assert read_json(state) == {"a": 1}
    assert stat.S_IMODE(state.stat().st_mode) == mode


def test_symlinked_state_file_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "data" / "real.json"
    real.parent.mkdir()
    real.write_bytes(b'{"a": 1}')
    link = tmp_path / "link.json"
    link.symlink_to(real)

    async def main() -> None:
        async with AioKV(link) as kv:
            assert await kv.get("a") == 1
            await kv.set("a", 2)

    asyncio.run(main())
    assert link.is_symlink()
    assert os.readlink(link) == str(real)
    assert read_json(real) == {"a": 2}
    assert temp_files(tmp_path) == [] and temp_files(real.parent) == []


def test_stale_temp_files_are_removed_at_open(state: Path) -> None:
    state.write_bytes(b'{"a": 1}')
    stale = state.parent / ".state.json.0123456789ab.aiokv-tmp"
    stale.write_bytes(b'{"a": ')
    # Only this store's own temp files: not another file's, and not those of
    # a neighbour whose name starts with this one's (state.json.bak).
    others = [
        state.parent / ".other.json.0123456789ab.aiokv-tmp",
        state.parent / ".state.json.bak.0123456789ab.aiokv-tmp",
        state.parent / ".state.json.x.aiokv-tmp",
    ]
    for other in others:
        other.write_bytes(b"keep")

    async def main() -> None:
        async with AioKV(state) as kv:
            assert await kv.get("a") == 1

    asyncio.run(main())
    assert not stale.exists()
    assert all(other.read_bytes() == b"keep" for other in others)


def test_opening_a_store_never_breaks_a_neighbours_writes(tmp_path: Path) -> None:
    # state.json.bak's temp files start with ".state.json."; opening
    # state.json while the neighbour flushes must not delete them.
    neighbour = tmp_path / "state.json.bak"
    failures: list[BaseException] = []

    async def main() -> None:
        async with AioKV(neighbour, flush_delay=60, max_flush_delay=60) as bak:
            big = {f"k{i}": "v" * 40 for i in range(30_000)}

            async def flushes() -> None:
                for i in range(20):
                    await bak.set("round", i)
                    try:
                        await bak.flush()
                    except OSError as e:
                        failures.append(e)

            async def opens() -> None:
                for _ in range(40):
                    async with AioKV(tmp_path / "state.json"):
                        pass
                    await asyncio.sleep(0)

            await bak.update(big)
            await asyncio.gather(flushes(), opens())
        assert read_json(neighbour)["round"] == 19

    asyncio.run(main())
    assert failures == []


def test_failed_write_leaves_old_file_and_no_temp(state: Path) -> None:
    target = state.parent / "dir-in-the-way"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        storage.write(str(target), {"a": 1}, fsync=True)
    assert info.value.filename == str(target)
    assert temp_files(state.parent) == []


@pytest.mark.parametrize("version", [None, 3])
@pytest.mark.parametrize("group", [1, pieces.GROUP_PIECES])
def test_large_state_is_written_in_pieces_as_one_valid_object(
    state: Path, monkeypatch: pytest.MonkeyPatch, version: int | None, group: int
) -> None:
    big = {f"k{i}": {"i": i, "s": "x" * (i % 7)} for i in range(PIECE_KEYS * 1100 + 5)}
    # A buffer a group: 1,101 groups of one piece take two writev() calls
    # (IOV_MAX 1,024), 69 groups of 16 one.
    monkeypatch.setattr(pieces, "GROUP_PIECES", group)
    calls: list[int] = []
    writev = os.writev
    monkeypatch.setattr(os, "writev", lambda fd, buffers: calls.append(1) or writev(fd, buffers))
    # Each encode holds the GIL: none may take more than a piece of the state.
    encoded = encoded_keys(monkeypatch)
    size = storage.write(str(state), big, fsync=False, version=version)
    assert len(calls) == (2 if group == 1 else 1)
    record = 1 if version else 0  # the version record is encoded on its own
    assert max(encoded) == PIECE_KEYS and sum(encoded) == len(big) + record
    assert size == state.stat().st_size  # what stats() reports as the flush's bytes
    saved = read_json(state)
    assert saved.pop(codec.VERSION_KEY, None) == ({"version": 3} if version else None)
    assert saved == big
    assert storage.write(str(state), {}, fsync=False) == state.stat().st_size == 2
    assert read_json(state) == {}


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_state_path_that_is_not_a_file_fails_at_open(state: Path, kind: str) -> None:
    if kind == "directory":
        state.mkdir()
    else:
        os.mkfifo(state)

    async def main() -> None:
        with pytest.raises(OSError, match="not a regular file") as info:
            await asyncio.wait_for(AioKV(state).__aenter__(), timeout=5)
        assert info.value.filename == str(state)
        # The lock was released: the failure left nothing held.
        with pytest.raises(OSError):
            await AioKV(state).__aenter__()

    asyncio.run(main())


def test_unwritable_directory_fails_at_open(tmp_path: Path) -> None:
    # Root ignores permission bits, so the real case is a directory that
    # does not exist: the lock file cannot be created, and open says so.
    missing = tmp_path / "nope" / "state.json"

    async def main() -> None:
        with pytest.raises(FileNotFoundError, match="nope"):
            async with AioKV(missing):
                pass

    asyncio.run(main())


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_quarantine_moves_a_refused_file_aside_and_opens_empty(
    state: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    content, problem = CORRUPT[name]
    state.write_bytes(content)
    os.chmod(state, 0o640)

    async def main() -> None:
        async with AioKV(state, on_corrupt="quarantine") as kv:
            assert await kv.get_all() == {}
            await kv.set("fresh", 1)

    with caplog.at_level(logging.ERROR, logger="aiokv"):
        asyncio.run(main())
    [aside] = [p for p in state.parent.iterdir() if ".corrupt-" in p.name]
    assert re.fullmatch(r"state\.json\.corrupt-\d{8}T\d{6}", aside.name)
    assert aside.read_bytes() == content  # nothing is ever deleted or changed
    assert stat.S_IMODE(aside.stat().st_mode) == 0o640
    assert read_json(state) == {"fresh": 1}
    [record] = [r for r in caplog.records if r.name == "aiokv"]
    assert record.levelno == logging.ERROR
    assert str(state) in record.getMessage() and str(aside) in record.getMessage()
    assert problem in record.getMessage()


def test_quarantine_never_overwrites_an_earlier_quarantined_file(state: Path) -> None:
    async def open_corrupt(content: bytes) -> None:
        state.write_bytes(content)
        async with AioKV(state, on_corrupt="quarantine") as kv:
            assert await kv.get_all() == {}

    for content in (b"first", b"second", b"third"):  # within one second, most likely
        asyncio.run(open_corrupt(content))
    asides = sorted(p.read_bytes() for p in state.parent.iterdir() if ".corrupt-" in p.name)
    assert asides == [b"first", b"second", b"third"]
    assert not state.exists()  # the empty store had nothing to write


def test_default_is_raise_and_a_bad_policy_raises_at_the_constructor(state: Path) -> None:
    state.write_bytes(b"{")
    with pytest.raises(CorruptFileError):
        asyncio.run(AioKV(state).get("a"))
    assert state.read_bytes() == b"{"
    with pytest.raises(ValueError, match="on_corrupt"):
        AioKV(state, on_corrupt="delete")


# -- reading: one way for the store's open and the command --------------------


def test_read_and_load_agree_and_say_none_for_no_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    assert storage.read(str(path)) is None
    assert asyncio.run(storage.load(str(path))) is None
    path.write_bytes(b'{"__aiokv__":{"version":2},"a":1}')
    assert storage.read(str(path))[:2] == ({"a": 1}, 2)  # type: ignore[index]
    assert asyncio.run(storage.load(str(path)))[:2] == ({"a": 1}, 2)  # type: ignore[index]


@pytest.mark.parametrize("kind", ["empty", "directory", "fifo"])
def test_read_and_load_refuse_what_is_not_a_regular_file_without_blocking(
    tmp_path: Path, kind: str
) -> None:
    path = "" if kind == "empty" else str(tmp_path / "s.json")
    if kind == "directory":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)  # with no writer: a blocking open would wait for ever
    error = FileNotFoundError if kind == "empty" else OSError
    match = "path is empty" if kind == "empty" else "not a regular file"
    with pytest.raises(error, match=match):
        storage.read(path)
    with pytest.raises(error, match=match):
        asyncio.run(asyncio.wait_for(storage.load(path), 10))


class _CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        type(self).submitted += 1
        return super().submit(*args, **kwargs)


@pytest.mark.parametrize(("size", "hops"), [(100, 3), (storage.DECODE_ON_LOOP_BYTES + 1, 4)])
def test_load_takes_three_thread_hops_and_a_fourth_only_to_decode_a_large_file(
    tmp_path: Path, size: int, hops: int
) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(b'{"a":"' + b"x" * (size - 8) + b'"}')

    async def main() -> None:
        executor = _CountingExecutor(max_workers=1)
        asyncio.get_running_loop().set_default_executor(executor)
        _CountingExecutor.submitted = 0
        loaded = await storage.load(str(path))
        assert loaded is not None and len(loaded.state["a"]) == size - 8
        assert _CountingExecutor.submitted == hops

    asyncio.run(main())


# The durable write's syncs, as strace sees them: a child writes one state with
# storage.FULLFSYNC set as given (None: Linux's own path).
SYNC_CHILD = """
    import fcntl, sys
    from aiokv import storage
    storage.FULLFSYNC = {cmd}
    storage.write(sys.argv[1], {{"a": 1}}, True)
"""
MACOS_F_FULLFSYNC = 51  # its value in macOS's <fcntl.h>; Linux refuses it (EINVAL)


def traced_syncs(state: Path, cmd: str) -> list[str]:
    """The fcntl() and fsync() calls from the temp file's creation on, fds as 'file'/'dir'."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("needs strace (apt-get install strace; CI installs it)")
    log = state.parent / "strace.log"
    code = textwrap.dedent(SYNC_CHILD.format(cmd=cmd))
    traced = ["-f", "-qq", "-o", str(log), "-e", "trace=openat,fcntl,fsync"]
    subprocess.run(
        [strace, *traced, sys.executable, "-c", code, str(state)],
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    calls: list[str] = []
    fds: dict[str, str] = {}
    for line in log.read_text().splitlines():
        _pid, call = line.split(None, 1)
        call = " ".join(call.split())  # strace pads to a column
        opened = re.match(r'openat\(.*"(.*)", ([^)]*)\) = (\d+)', call)
        if opened and opened[1].endswith(".aiokv-tmp"):
            fds, calls = {opened[3]: "file"}, []
        elif opened and "O_DIRECTORY" in opened[2] and fds:
            fds[opened[3]] = "dir"
        synced = re.match(r"(fcntl|fsync)\((\d+)(.*)", call)
        if synced and synced[2] in fds:
            calls.append(f"{synced[1]}({fds[synced[2]]}{synced[3]}")
    return calls


def test_linux_syncs_the_file_and_its_directory_with_fsync(state: Path) -> None:
    assert storage.FULLFSYNC is None  # Linux has no F_FULLFSYNC
    assert traced_syncs(state, "None") == ["fsync(file) = 0", "fsync(dir) = 0"]


def test_where_f_fullfsync_exists_it_syncs_instead_of_fsync(state: Path) -> None:
    # Forced on Linux: F_GETFL succeeds as macOS's F_FULLFSYNC does, and then
    # no fsync() follows, for the file and for the directory.
    calls = traced_syncs(state, "fcntl.F_GETFL")
    assert [c.split(")")[0] for c in calls] == ["fcntl(file, F_GETFL", "fcntl(dir, F_GETFL"]
    assert read_json(state) == {"a": 1}


def test_a_refused_f_fullfsync_falls_back_to_fsync(state: Path) -> None:
    # macOS's value, refused here as some filesystems refuse it there.
    calls = traced_syncs(state, str(MACOS_F_FULLFSYNC))
    assert [c.split(" /*")[0].split(")")[0] for c in calls] == [
        "fcntl(file, 0x33",
        "fsync(file",
        "fcntl(dir, 0x33",
        "fsync(dir",
    ]
    assert "EINVAL" in calls[0] and calls[1] == "fsync(file) = 0"
    assert read_json(state) == {"a": 1}
