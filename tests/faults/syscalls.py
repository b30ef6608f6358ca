"""Campaign 1: fail each syscall a flush makes, with each errno that applies.

A long-lived writer child (fault_child.py) is attached by
`strace -f -p PID -e inject=SYSCALL:error=ERRNO:when=N+` while it writes, so
the fault hits the Nth and every later call of that syscall. Each case must
show: the background failure logged on the aiokv logger; flush() and aclose()
raising an OSError that names the file; the file a complete earlier version
(byte-identical to the last good one when the fault comes before the rename);
no temp file; and, once strace is gone, every accepted write persisted by the
same process.
"""

from __future__ import annotations

import errno
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from tests.faults.common import LONG, Result, Timer
from tests.helpers import ROOT, temp_files

# The syscalls of a flush (write op) or of clear() (clear op), the errnos each
# can really return, and the occurrences to fail from: 1 is the first call of
# the flush; 2 is the directory's open/fsync/close for openat/fsync/close, and
# the next flush's call for the syscalls a flush makes once.
MATRIX: list[tuple[str, str, list[str], list[int], int]] = [
    ("write", "newfstatat", ["EACCES", "EIO"], [1], 3),
    ("write", "openat", ["ENOSPC", "EIO", "EACCES", "EROFS", "EDQUOT"], [1, 2], 3),
    # The file is written by writev() alone, one call per IOV_MAX (1,024)
    # buffers; the writer keeps a buffer a piece of 64 keys (fault_child.py),
    # so 80,000 keys take two calls.
    ("write", "writev", ["ENOSPC", "EIO", "EDQUOT"], [1, 2], 80_000),
    ("write", "fchmod", ["EPERM", "EROFS", "EIO"], [1], 3),
    ("write", "fsync", ["EIO", "ENOSPC", "EDQUOT"], [1, 2], 3),
    ("write", "close", ["EIO"], [1, 2], 3),
    ("write", "rename", ["EACCES", "EROFS", "ENOSPC", "EDQUOT", "EIO"], [1, 2], 3),
    ("clear", "unlink", ["EACCES", "EROFS", "EIO", "EBUSY"], [1], 3),
]

# Faults that strike before os.replace() in the first flush: the file must
# still be byte-identical to the good version written before the fault.
BEFORE_RENAME = {
    ("newfstatat", 1),
    ("openat", 1),
    ("writev", 1),
    ("writev", 2),
    ("fchmod", 1),
    ("fsync", 1),
    ("close", 1),
    ("rename", 1),
}


def available() -> str | None:
    """None if strace can attach here, else the reason it cannot."""
    if shutil.which("strace") is None:
        return "strace is not installed"
    probe = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        out = subprocess.run(
            ["strace", "-qq", "-p", str(probe.pid), "-e", "trace=none", "-o", "/dev/null"],
            timeout=0.5,
            capture_output=True,
            text=True,
        )
        return f"strace cannot attach: {out.stderr.strip()}"
    except subprocess.TimeoutExpired:
        return None  # attached and tracing until the timeout: ptrace works
    finally:
        probe.kill()
        probe.wait()


def cases(long: bool) -> list[dict[str, Any]]:
    """The case list: the whole matrix once, or (long) many times over."""
    rng = random.Random(1234)
    out = []
    for op, syscall, errnos, whens, size in MATRIX:
        for name in errnos:
            for when in whens:
                out.append(
                    {
                        "op": op,
                        "syscall": syscall,
                        "errno": name,
                        "when": when,
                        "size": size,
                        "rounds": 6,
                    }
                )
    if not long:
        return out
    deep = []
    for seed in range(48):
        for case in out:
            more = dict(case)
            # Later occurrences (a clear() makes one unlink, so only the first
            # applies to it), and states large enough to be written in slices.
            if case["op"] == "write":
                more["when"] = case["when"] + rng.choice([0, 0, 1, 2, 3]) * (seed % 2)
            if case["size"] == 3 and case["op"] == "write":
                more["size"] = rng.choice([3, 50, 80_000])
            more["rounds"] = more["when"] + 6
            deep.append(more)
    return out + deep


class Writer:
    """The fault child and the strace attached to it for one case at a time."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "state.json"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.fault_child", str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def send(self, cmd: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(cmd).decode() + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        if not ready:
            self.proc.kill()
            raise RuntimeError("fault child hung for 60 s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"fault child died: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        return orjson.loads(line)  # type: ignore[no-any-return]

    def attach(self, case: dict[str, Any]) -> subprocess.Popen[bytes]:
        s, e, n = case["syscall"], case["errno"], case["when"]
        tracer = subprocess.Popen(
            [
                "strace",
                "-f",
                "-qq",
                "-p",
                str(self.proc.pid),
                "-o",
                "/dev/null",
                "-e",
                f"trace={s}",
                "-e",
                f"inject={s}:error={e}:when={n}+",
            ],
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while not self._traced():
            if tracer.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"strace did not attach: {tracer.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.005)
        return tracer

    def _traced(self) -> bool:
        tasks = Path(f"/proc/{self.proc.pid}/task")
        for task in tasks.iterdir():
            status = (task / "status").read_text()
            if "TracerPid:\t0\n" in status:
                return False
        return True

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def expected_states(size: int, rounds: int) -> list[bytes]:
    """Every state the writer had in a case, as aiokv writes it, oldest first."""
    base: dict[str, Any] = {
        "round": 0,
        **{f"k{i}": {"i": i, "s": "x" * (i % 5)} for i in range(size)},
    }
    out = []
    for r in range(rounds + 1):
        base["round"] = r
        out.append(orjson.dumps(base))
    return out


def run_case(writer: Writer, case: dict[str, Any], result: Result) -> None:
    what = f"{case['syscall']}:{case['errno']}:when={case['when']}+ size={case['size']}"
    writer.send(case)
    assert writer.receive() == {"ready": True}
    good = writer.path.read_bytes()
    # Block SIGUSR1 before the child can send it, then wait for it.
    tracer = writer.attach(case)
    os.kill(writer.proc.pid, signal.SIGUSR1)
    got = signal.sigtimedwait([signal.SIGUSR1], 30)
    problems = []
    if got is None:
        problems.append("the child never finished its faulted phase")
    # The fault is still active: look at the disk from outside.
    on_disk = writer.path.read_bytes() if writer.path.exists() else None
    leftovers = temp_files(writer.path.parent)
    tracer.send_signal(signal.SIGINT)  # strace detaches; the child goes on
    tracer.wait(timeout=10)
    os.kill(writer.proc.pid, signal.SIGUSR1)
    out = writer.receive()
    corrupt = 0
    lost = 0
    if leftovers:
        problems.append(f"temp files left: {leftovers}")
    if not out["logged"] or str(writer.path) not in out["logged"][0]:
        problems.append(f"no aiokv log record naming the file: {out['logged']}")
    if case["op"] == "clear":
        if out["clear_under_fault"] is not False:
            problems.append("clear() under the fault did not return False")
        if on_disk != good:
            problems.append("clear() under the fault changed the file")
        if out["clear_after"] is not True or writer.path.exists():
            problems.append("clear() after the fault did not remove the file")
    else:
        states = expected_states(case["size"], out["rounds"])
        for name in ("flush_error", "close_error"):
            err = out.get(name)
            if err is None:
                problems.append(f"{name[:-6]}() did not raise under the fault")
            elif err["filename"] != str(writer.path) or err["errno"] != getattr(
                errno, case["errno"]
            ):
                problems.append(f"{name}: {err}")
        if on_disk is None or on_disk not in states:
            corrupt = 1
            problems.append("the file under the fault is not a complete earlier version")
        if (case["syscall"], case["when"]) in BEFORE_RENAME and on_disk != good:
            problems.append("a fault before the rename still changed the file")
        after = writer.path.read_bytes() if writer.path.exists() else b""
        if out["state"] is not None and orjson.loads(after) != out["state"]:
            lost = 1
            problems.append("after the fault, the file lacks accepted writes")
        if after != states[-1]:
            lost = 1
            problems.append("the last accepted write is not on disk")
    result.case(not problems, f"{what}: {'; '.join(problems)}", lost=lost, corrupt=corrupt)


def run(long: bool = LONG) -> Result:
    """Run the campaign; the Result counts cases and what did not survive."""
    result = Result("syscall fault injection (strace)")
    reason = available()
    if reason is not None:
        result.notes.append(f"skipped: {reason}")
        return result
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    directory = Path(tempfile.mkdtemp(prefix="aiokv-faults-"))
    try:
        with Timer(result):
            writer = Writer(directory)
            try:
                for case in cases(long):
                    run_case(writer, case, result)
            finally:
                writer.close()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        shutil.rmtree(directory, ignore_errors=True)
    return result
