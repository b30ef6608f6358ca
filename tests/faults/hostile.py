"""Campaign 7: hostile paths.

In a world-writable directory an attacker plants a symlink or a file at the
temp name aiokv will use (made predictable here by fixing the random source);
aiokv must neither write through the link nor into the planted file. A lock
file planted as a symlink is refused. A state path that is a directory, a
FIFO, or on a read-only filesystem gives a clear error at open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from aiokv import AioKV
from tests.faults.common import Result, Timer
from tests.helpers import temp_files


@contextlib.contextmanager
def predictable_names(*tokens: str) -> Iterator[None]:
    """Make aiokv's temp names come from tokens, in order, as an attacker would guess."""
    real = secrets.token_hex
    queue = list(tokens)
    secrets.token_hex = lambda n=None: queue.pop(0) if queue else real(n)  # type: ignore[assignment]
    try:
        yield
    finally:
        secrets.token_hex = real


def write_after_planting(path: Path, plant: Callable[[], None]) -> None:
    """Open the store, then let the attacker plant, then write with guessed names."""

    async def go() -> None:
        # Planted after open: the stale-temp sweep at open would remove it.
        async with AioKV(path) as kv:
            plant()
            with predictable_names("aaaa", "bbbb"):
                await kv.set("mine", 1)
                await kv.flush()

    asyncio.run(go())


def open_error(path: Path) -> BaseException | None:
    async def go() -> None:
        async with AioKV(path):
            pass

    try:
        asyncio.run(asyncio.wait_for(go(), timeout=10))
    except (OSError, asyncio.TimeoutError) as e:
        return e
    return None


def planted_symlink(d: Path) -> list[str]:
    victim = d.parent / f"{d.name}-victim"
    victim.write_bytes(b"precious")
    planted = d / ".state.json.aaaa.aiokv-tmp"
    write_after_planting(d / "state.json", lambda: planted.symlink_to(victim))
    problems = []
    if victim.read_bytes() != b"precious":
        problems.append("wrote through the attacker's symlink")
    if not planted.is_symlink():
        problems.append("replaced the attacker's symlink")
    if (d / "state.json").read_bytes() != b'{"mine":1}':
        problems.append("the state was not written")
    return problems


def planted_file(d: Path) -> list[str]:
    planted = d / ".state.json.aaaa.aiokv-tmp"
    write_after_planting(d / "state.json", lambda: planted.write_bytes(b"attacker"))
    problems = []
    if not planted.exists() or planted.read_bytes() != b"attacker":
        problems.append("wrote into the attacker's file")
    if (d / "state.json").read_bytes() != b'{"mine":1}':
        problems.append("the state was not written")
    return problems


def planted_lock_symlink(d: Path) -> list[str]:
    victim = d.parent / f"{d.name}-victim"
    victim.write_bytes(b"precious")
    (d / "state.json.lock").symlink_to(victim)
    err = open_error(d / "state.json")
    problems = []
    if err is None or "state.json.lock" not in str(err):
        problems.append(f"a symlinked lock file was followed: {err!r}")
    if victim.read_bytes() != b"precious":
        problems.append("wrote through the lock symlink")
    victim.unlink()
    return problems


def state_is_directory(d: Path) -> list[str]:
    (d / "state.json").mkdir()
    err = open_error(d / "state.json")
    return [] if err is not None and "not a regular file" in str(err) else [f"{err!r}"]


def state_is_fifo(d: Path) -> list[str]:
    os.mkfifo(d / "state.json")
    err = open_error(d / "state.json")
    return [] if err is not None and "not a regular file" in str(err) else [f"{err!r}"]


def read_only_filesystem(d: Path) -> list[str]:
    mnt = d / "ro"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "aiokv-ro", str(mnt)], capture_output=True
    )
    if mounted.returncode != 0:
        raise PermissionError(mounted.stderr.decode().strip() or "mount refused")
    try:
        err = open_error(mnt / "state.json")
        if err is None or getattr(err, "errno", None) != 30 or "state.json" not in str(err):
            return [f"no clear EROFS error at open: {err!r}"]
        return []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


SCENARIOS: list[tuple[str, Callable[[Path], list[str]]]] = [
    ("symlink planted at the temp name", planted_symlink),
    ("file planted at the temp name", planted_file),
    ("lock file planted as a symlink", planted_lock_symlink),
    ("state path is a directory", state_is_directory),
    ("state path is a FIFO", state_is_fifo),
    ("state file on a read-only filesystem", read_only_filesystem),
]


def run() -> Result:
    """Each scenario in a fresh world-writable directory."""
    result = Result("hostile paths")
    with Timer(result):
        for name, scenario in SCENARIOS:
            base = Path(tempfile.mkdtemp(prefix="aiokv-hostile-"))
            d = base / "shared"
            d.mkdir()
            os.chmod(d, 0o777)  # anyone may plant names here
            try:
                problems = scenario(d)
            except PermissionError as e:
                result.notes.append(f"{name}: skipped ({e})")
                continue
            finally:
                leftovers = [t for t in temp_files(d) if ".aaaa." not in t] if d.is_dir() else []
                shutil.rmtree(base, ignore_errors=True)
            if leftovers:
                problems.append(f"temp files left: {leftovers}")
            result.case(not problems, f"{name}: {'; '.join(problems)}")
    return result
