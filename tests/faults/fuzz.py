"""Campaign 4: feed the loader arbitrary bytes and mutated valid files.

Opening must give the documented dict or raise the documented CorruptFileError:
never another exception, never a hang, and the file is never modified.
Hypothesis drives it in-process; atheris (coverage-guided, where it installs)
drives fileformat.decode in a child process for the long run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiokv import AioKV, CorruptFileError
from tests.faults.common import LONG, Result, Timer, json_values
from tests.helpers import ROOT

values = json_values(30, 20)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid state file, then a few byte-level mutations of it."""
    raw = bytearray(orjson.dumps(draw(st.dictionaries(st.text(max_size=8), values, max_size=8))))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if kind == "flip" and raw:
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            raw[at:at] = raw[at : at + draw(st.integers(1, 16))]
    return bytes(raw)


file_contents = st.binary(max_size=200) | mutated()


def open_once(path: Path, raw: bytes) -> str:
    """Write raw, open it with aiokv; return 'dict' or 'corrupt', else raise."""
    path.write_bytes(raw)
    before = os.stat(path)

    async def load() -> Any:
        async with AioKV(path) as kv:
            return await kv.get_all()

    try:
        got = asyncio.run(asyncio.wait_for(load(), timeout=10))
        outcome = "dict"
        assert type(got) is dict and got == orjson.loads(raw), "loaded something else"
    except CorruptFileError as e:
        outcome = "corrupt"
        assert str(path) in str(e)
    after = os.stat(path)
    assert path.read_bytes() == raw, "the file was modified"
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    return outcome


def run(long: bool = LONG) -> Result:
    """Fuzz with Hypothesis (and atheris for the long run, where it is installed)."""
    result = Result("loader fuzzing")
    directory = Path(tempfile.mkdtemp(prefix="aiokv-fuzz-"))
    outcomes = {"dict": 0, "corrupt": 0}
    try:
        with Timer(result):

            @settings(
                max_examples=4000 if long else 300,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(file_contents)
            def fuzz(raw: bytes) -> None:
                outcomes[open_once(directory / "state.json", raw)] += 1

            try:
                fuzz()
                result.cases += sum(outcomes.values())
                result.survived += sum(outcomes.values())
            except Exception as e:
                result.case(False, f"hypothesis: {type(e).__name__}: {e}")
            result.notes.append(
                f"hypothesis: {outcomes['dict']} loaded, {outcomes['corrupt']} refused as corrupt"
            )
            if long:
                atheris_run(result)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return result


def atheris_run(result: Result, runs: int = 200_000) -> None:
    """Coverage-guided fuzzing of fileformat.decode, in a child (atheris owns its process)."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        result.notes.append("atheris: not installed here, skipped")
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.faults.fuzz_atheris",
            f"-runs={runs}",
            "-max_total_time=300",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    ok = out.returncode == 0
    result.case(ok, f"atheris: exit {out.returncode}: {out.stderr[-2000:]}")
    if ok:
        result.cases += runs - 1
        result.survived += runs - 1
    result.notes.append(f"atheris: {runs} inputs through fileformat.decode")
