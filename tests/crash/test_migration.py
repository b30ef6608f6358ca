"""A migration that fails or is killed at any syscall leaves the old file or the new one, whole.

The program runs in a real child under strace, which fails (EIO) or kills
(SIGKILL) it at the Nth rename or fsync of the migration: the backup's copy,
its rename, the migrated file, its rename, the directories' fsyncs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from tests.helpers import ROOT, temp_files

PROGRAM = textwrap.dedent(
    """
    import asyncio, sys
    from concurrent.futures import ThreadPoolExecutor
    from aiokv import AioKV

    def migrate(old, state):
        return {"settings": state, "migrated_from": old}

    async def main():
        # strace counts a syscall's calls per thread: with one worker thread,
        # the Nth fsync of that thread is the migration's Nth, however loaded
        # the machine (a busy pool may hand the second write a new thread).
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(1))
        async with AioKV(sys.argv[1], version=1, migrate=migrate) as kv:
            print(await kv.get("migrated_from"))

    asyncio.run(main())
    """
)

OLD = orjson.dumps({"prefix": "!", "ids": list(range(100))})
NEW = orjson.dumps(
    {
        "__aiokv__": {"version": 1},
        "settings": {"prefix": "!", "ids": list(range(100))},
        "migrated_from": 0,
    }
)

# The migration's renames: the backup's, then the file's. Its fsyncs: the
# backup, its directory, the migrated file, its directory.
FAULTS = [(call, n) for call, count in (("rename", 2), ("fsync", 4)) for n in range(1, count + 1)]


def run_program(path: Path, *strace: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*strace, sys.executable, "-c", PROGRAM, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("fault", ["error=EIO", "signal=KILL"])
@pytest.mark.parametrize(("call", "n"), FAULTS)
def test_a_migration_cut_short_leaves_a_whole_file_and_runs_again(
    state: Path, call: str, n: int, fault: str
) -> None:
    state.write_bytes(OLD)
    inject = f"inject={call}:{fault}:when={n}"
    cut = run_program(state, "strace", "-f", "-qq", "-o", "/dev/null", "-e", inject)
    assert cut.returncode != 0, cut.stdout  # the fault struck inside the migration
    if fault == "error=EIO":
        assert "OSError" in cut.stderr and str(state) in cut.stderr
    # Old or new, never anything between; the backup, if any, is the old file.
    assert state.read_bytes() in (OLD, NEW)
    backups = [p for p in state.parent.iterdir() if ".bak" in p.name]
    assert all(p.read_bytes() == OLD for p in backups)

    again = run_program(state)  # the next start finishes the job, or finds it done
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "0"
    assert state.read_bytes() == NEW
    assert (state.parent / "state.json.v0.bak").read_bytes() == OLD
    assert temp_files(state.parent) == []
