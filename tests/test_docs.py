"""The README's code blocks and examples/bot.py run as written."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT, read_json


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def run(args: list[str], cwd: Path) -> str:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    quickstart = next(b for b in python_blocks() if "async with AioKV" in b and "SIGTERM" not in b)
    run(["-c", quickstart], tmp_path)
    # It ends with clear(), which removes the file; the lock file stays.
    assert not (tmp_path / "state.json").exists()
    assert (tmp_path / "state.json.lock").exists()


def test_readme_migration_snippet_runs(tmp_path: Path) -> None:
    snippet = next(b for b in python_blocks() if "import aiocache" in b)
    run(["-c", snippet + "\nimport asyncio\nasyncio.run(kv.aclose())\n"], tmp_path)


def test_example_bot_remembers_across_runs(tmp_path: Path) -> None:
    bot = str(ROOT / "examples" / "bot.py")
    first = run([bot], tmp_path)
    assert "First run" in first
    saved = read_json(tmp_path / "bot-state.json")
    assert saved["runs"] == 1
    second = run([bot], tmp_path)
    assert "Run #2" in second
    assert repr(saved["last_command"]) in second
    assert str(saved["seen_ids"]) in second


def test_readme_sigterm_pattern_runs_as_written_and_keeps_the_workers_writes(
    tmp_path: Path,
) -> None:
    block = next(b for b in python_blocks() if "SIGTERM" in b)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-c", block], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    time.sleep(1.0)  # the workers have handled a few events each
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    saved = read_json(tmp_path / "state.json")
    assert sorted(saved) == [f"w{n}:handled" for n in range(4)]
    assert all(count >= 1 for count in saved.values())
