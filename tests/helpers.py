"""What the tests share: reading files independently of aiokv, and child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def read_json(path: Path) -> Any:
    """Read a state file with the standard library, independently of aiokv."""
    return json.loads(path.read_bytes())


def temp_files(directory: Path) -> list[str]:
    """aiokv temp files left in directory."""
    return sorted(n for n in os.listdir(directory) if n.endswith(".aiokv-tmp"))


def child(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start a Python child running code (dedented) with args in sys.argv[1:]."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def run_child(code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a Python child to the end and return its output."""
    proc = child(code, *args)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
