"""One owner per file: in this process, in another, and after a kill -9."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import stat
from pathlib import Path

import pytest

from aiokv import AioKV, LockedError, lock
from tests.helpers import child

HOLD = """
    import asyncio, sys
    from aiokv import AioKV

    async def main():
        async with AioKV(sys.argv[1]) as kv:
            await kv.set("holder", "child")
            await kv.flush()
            print("locked", flush=True)
            await asyncio.sleep(60)

    asyncio.run(main())
"""


def test_second_opener_in_the_same_process_is_refused(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("a", 1)
            with pytest.raises(LockedError) as info:
                async with AioKV(state):
                    pass
            assert str(state) in str(info.value)
            assert f"pid {os.getpid()}" in str(info.value)
            assert info.value.pid == os.getpid()
            assert await kv.get("a") == 1
        async with AioKV(state) as kv:  # released by aclose()
            assert await kv.get("a") == 1

    asyncio.run(main())


def test_symlink_and_relative_paths_meet_the_same_lock(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = state.parent / "alias.json"
    link.symlink_to(state)
    sub = state.parent / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)

    async def main() -> None:
        async with AioKV(state):
            for other in (link, "../state.json", f"{state.parent}/./sub/../state.json"):
                with pytest.raises(LockedError, match=r"state\.json"):
                    await AioKV(other).__aenter__()

    asyncio.run(main())


def test_lock_holds_across_processes_and_dies_with_a_killed_holder(state: Path) -> None:
    holder = child(HOLD, str(state))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"

        async def refused() -> None:
            with pytest.raises(LockedError, match=f"pid {holder.pid}"):
                async with AioKV(state):
                    pass

        asyncio.run(refused())
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        assert holder.returncode == -signal.SIGKILL
    finally:
        holder.kill()
        holder.wait()

    async def reopened() -> None:
        async with AioKV(state) as kv:
            assert await kv.get("holder") == "child"

    asyncio.run(reopened())


def test_this_process_refuses_while_a_child_holds_then_child_is_refused(state: Path) -> None:
    async def main() -> None:
        async with AioKV(state) as kv:
            await kv.set("parent", 1)
            proc = child(HOLD, str(state))
            _, err = proc.communicate(timeout=30)
            assert proc.returncode != 0
            assert "LockedError" in err and f"pid {os.getpid()}" in err

    asyncio.run(main())


@pytest.fixture
def not_a_file(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A path under tmp_path/home that exists and can never be a state file."""
    home = tmp_path / "home"
    home.mkdir()
    path = home / "state.json"
    kind = request.param
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        listening = socket.socket(socket.AF_UNIX)
        listening.bind(str(path))
        request.addfinalizer(listening.close)
    elif kind == "device":  # /dev/null's twin: a failure must not write into /dev
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("making a device node needs root")
    elif kind == "link to a directory":
        (home / "elsewhere").mkdir()
        path.symlink_to(home / "elsewhere")
    return path


@pytest.mark.parametrize(
    "not_a_file", ["directory", "fifo", "socket", "device", "link to a directory"], indirect=True
)
def test_an_open_refused_for_what_is_not_a_file_makes_no_lock_file(not_a_file: Path) -> None:
    before = sorted(os.listdir(not_a_file.parent))

    async def main() -> None:
        with pytest.raises(OSError, match="not a regular file") as info:
            await asyncio.wait_for(AioKV(not_a_file).__aenter__(), timeout=5)
        assert info.value.filename == str(not_a_file) and info.value.errno == errno.EINVAL

    asyncio.run(main())
    assert sorted(os.listdir(not_a_file.parent)) == before


def test_an_empty_path_is_refused_without_a_lock_file_beside_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    store = AioKV("")
    assert store.path == ""  # not the cwd it would resolve to

    async def main() -> None:
        with pytest.raises(FileNotFoundError, match="empty") as info:
            await store.__aenter__()
        assert info.value.filename == ""

    asyncio.run(main())
    assert os.listdir(tmp_path) == ["cwd"] and os.listdir(tmp_path / "cwd") == []


# holder() where there is no /proc/locks (macOS): forced here by pointing the
# module at a path that does not exist.
NO_PROC_LOCKS = "/nonexistent/proc-locks"

PROBE_LOOP = """
    import sys, time
    from aiokv import lock
    lock.PROC_LOCKS = sys.argv[2]
    probes, end = 0, time.monotonic() + float(sys.argv[3])
    print("probing", flush=True)
    while time.monotonic() < end:
        lock.holder(sys.argv[1])
        probes += 1
    print(probes)
"""


def test_the_probe_without_proc_locks_finds_the_holder(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock, "PROC_LOCKS", NO_PROC_LOCKS)
    real = str(state)
    assert lock.holder(real) is None  # no lock file
    fd = lock.acquire(real)
    assert lock.holder(real) == os.getpid()
    lock.release(fd)
    assert lock.holder(real) is None  # a lock file, free
    proc = child(HOLD, real)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        assert lock.holder(real) == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert lock.holder(real) is None


def test_the_probe_without_proc_locks_never_makes_an_open_fail(state: Path) -> None:
    # Another process probes as fast as it can while this one takes and drops
    # the lock: its instant shared locks must never read as an owner.
    real, opens = str(state), 0
    lock.release(lock.acquire(real))
    proc = child(PROBE_LOOP, real, NO_PROC_LOCKS, "2")
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "probing\n"
        while proc.poll() is None:
            lock.release(lock.acquire(real))
            opens += 1
        out, err = proc.communicate()
        assert proc.returncode == 0, err
    finally:
        proc.kill()
        proc.wait()
    assert opens > 0 and int(out) > 0


# A lock taken by another program, not aiokv: flock(1) from util-linux does
# this, a backup script's `flock -s state.json.lock cp ...` say.
FOREIGN_LOCK = """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH if sys.argv[2] == "shared" else fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("kind", ["shared", "exclusive"])
def test_another_programs_lock_refuses_at_once_naming_its_pid(state: Path, kind: str) -> None:
    # A shared lock is waited out only for a probe's instant, never spun on
    # while the other program holds it; and the pid named is the holder's,
    # not the last aiokv owner's that the lock file still records.
    real = str(state)
    lock.release(lock.acquire(real))  # the file now records this process's pid
    proc = child(FOREIGN_LOCK, lock.lock_path(real), kind)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        with pytest.raises(LockedError) as info:
            lock.acquire(real)
        assert info.value.pid == proc.pid
        assert lock.holder(real) == proc.pid
        assert proc.poll() is None  # refused while the lock is still held
    finally:
        proc.kill()
        proc.wait()
    lock.release(lock.acquire(real))
