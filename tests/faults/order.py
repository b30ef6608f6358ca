"""Campaign 2: the order of a flush's syscalls, as power-loss safety needs it.

A writer runs under strace; for each flush the trace must show the temp file
created, written, fsynced and closed, then renamed over the target, then the
directory fsynced, and never a write to the target path itself. (Renaming
before the data is synced is how ext4 users got zero-length files.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from tests.faults.common import Result, Timer
from tests.faults.syscalls import available
from tests.helpers import ROOT

WRITER = """
    import asyncio, os, sys
    from aiokv import AioKV

    async def main():
        async with AioKV(sys.argv[1], flush_delay=3600, max_flush_delay=3600) as kv:
            for n, size in enumerate([1, 10, 80_000, 2]):
                os.write(1, b"BEGIN\\n")
                await kv.update({f"k{i}": n for i in range(size)})
                await kv.flush()
                os.write(1, b"END\\n")

    asyncio.run(main())
"""

SYSCALLS = "openat,write,writev,fsync,fdatasync,close,rename,renameat,renameat2,unlink,ftruncate"
LINE = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((.*)")


def flushes(trace: str) -> list[list[tuple[str, str]]]:
    """The (syscall, arguments) events between each BEGIN and END marker."""
    out: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] | None = None
    for line in trace.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        name, rest = m.groups()
        if name == "write" and rest.startswith("1<"):
            if '"BEGIN' in rest:
                current = []
            elif '"END' in rest and current is not None:
                out.append(current)
                current = None
            continue
        if current is not None:
            current.append((name, rest))
    return out


def check_flush(events: list[tuple[str, str]], target: str) -> list[str]:
    """What is wrong with one flush's syscall order (empty if nothing)."""
    directory = os.path.dirname(target)
    tmp_marker = ".aiokv-tmp"
    order: dict[str, int] = {}
    problems = []
    for i, (name, args) in enumerate(events):
        on_tmp = tmp_marker in args.split(",")[0] or (name == "openat" and tmp_marker in args)
        if name == "openat" and tmp_marker in args:
            order.setdefault("create temp", i)
        elif name in ("write", "writev") and on_tmp:
            order.setdefault("first temp write", i)
            order["last temp write"] = i
        elif name in ("fsync", "fdatasync") and on_tmp:
            order["fsync temp"] = i
        elif name == "close" and on_tmp:
            order["close temp"] = i
        elif name.startswith("rename") and tmp_marker in args and target in args:
            order["rename"] = i
        elif name in ("fsync", "fdatasync") and f"<{directory}>" in args:
            order["fsync dir"] = i
        # Nothing may write the target in place.
        if name in ("write", "writev", "ftruncate") and f"<{target}>" in args.split(",")[0]:
            problems.append(f"{name} on the target itself: {args[:80]}")
        if name == "openat" and f'"{target}"' in args and ("O_WRONLY" in args or "O_RDWR" in args):
            problems.append(f"target opened for writing: {args[:80]}")
    wanted = [
        "create temp",
        "first temp write",
        "last temp write",
        "fsync temp",
        "close temp",
        "rename",
        "fsync dir",
    ]
    missing = [w for w in wanted if w not in order]
    if missing:
        return [*problems, f"missing from the trace: {missing}"]
    steps = [order[w] for w in wanted]
    if steps != sorted(steps):
        problems.append("out of order: " + ", ".join(f"{w}@{order[w]}" for w in wanted))
    return problems


def run() -> Result:
    """Trace four flushes (new file, small, sliced large, shrunk) and check each."""
    result = Result("write ordering for power loss")
    reason = available()
    if reason is not None:
        result.notes.append(f"skipped: {reason}")
        return result
    directory = Path(tempfile.mkdtemp(prefix="aiokv-order-"))
    target = str(directory / "state.json")
    trace_file = directory / "trace"
    try:
        with Timer(result):
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            subprocess.run(
                [
                    "strace",
                    "-f",
                    "-qq",
                    "-y",
                    "-s",
                    "64",
                    "-e",
                    f"trace={SYSCALLS}",
                    "-o",
                    str(trace_file),
                    sys.executable,
                    "-c",
                    textwrap.dedent(WRITER),
                    target,
                ],
                check=True,
                env=env,
                capture_output=True,
                timeout=120,
            )
            found = flushes(trace_file.read_text())
            if len(found) != 4:
                result.case(False, f"expected 4 traced flushes, found {len(found)}")
            for n, events in enumerate(found):
                problems = check_flush(events, target)
                result.case(not problems, f"flush {n}: {'; '.join(problems)}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return result
