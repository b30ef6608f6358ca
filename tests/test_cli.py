"""The `aiokv` command, run as users run it: the installed console script, in subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aiokv import AioKV, __version__
from tests.helpers import ROOT, child, read_json

SCRIPT = shutil.which("aiokv", path=str(Path(sys.executable).parent)) or "aiokv"


def aiokv(*args: str, stdin: str | None = None, cwd: Path | None = None) -> Any:
    """Run the console script; return the completed process (text mode)."""
    return subprocess.run(
        [SCRIPT, *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd
    )


def expected_error(result: Any, code: int, *words: str) -> None:
    """An expected failure: its exit code, one line on stderr, no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("aiokv: note:")]
    assert len(lines) == 1 and lines[0].startswith("aiokv: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def untouched(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def test_the_console_script_is_installed_and_python_m_aiokv_is_the_same() -> None:
    assert Path(SCRIPT).exists(), "pip install -e . installs the aiokv command"
    assert aiokv("--version").stdout.strip() == f"aiokv {__version__}"
    module = subprocess.run(
        [sys.executable, "-m", "aiokv", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert module.stdout.strip() == f"aiokv {__version__}"


@pytest.mark.parametrize(
    "command", ["", "get", "keys", "dump", "check", "set", "delete", "load", "copy"]
)
def test_every_command_has_help(command: str) -> None:
    result = aiokv(*([command] if command else []), "--help")
    assert result.returncode == 0 and "usage: aiokv" in result.stdout
    if command in ("set", "delete", "load", "copy"):
        assert "--wait" in result.stdout


def test_set_get_keys_delete(state: Path) -> None:
    path = str(state)
    assert aiokv("set", path, "config", '{"prefix": "!", "mods": [7]}').returncode == 0
    assert aiokv("set", path, "greeting", "héllo", "--string").returncode == 0
    assert aiokv("set", path, "n", "42").returncode == 0
    before = int(time.time())
    assert aiokv("set", path, "seen:1").returncode == 0  # value omitted: the unix time
    assert aiokv("set", path, "guild:1:a", "null").returncode == 0
    saved = read_json(state)
    assert saved["config"] == {"prefix": "!", "mods": [7]} and saved["greeting"] == "héllo"
    assert before <= saved["seen:1"] <= time.time()
    assert aiokv("get", path, "config").stdout == '{"prefix":"!","mods":[7]}\n'
    assert aiokv("get", path, "greeting").stdout == '"héllo"\n'
    assert aiokv("get", path, "guild:1:a").stdout == "null\n"  # present, null
    expected_error(aiokv("get", path, "absent"), 1, "'absent' is not in")
    assert aiokv("keys", path).stdout.splitlines() == [
        "config",
        "greeting",
        "n",
        "seen:1",
        "guild:1:a",
    ]
    assert aiokv("keys", path, "--prefix", "guild:").stdout == "guild:1:a\n"
    assert aiokv("delete", path, "n").returncode == 0
    expected_error(aiokv("delete", path, "n"), 1, "nothing changed")
    assert "n" not in read_json(state)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["set", "k", "hello"], ["not valid JSON", "--string"]),
        (["set", "k", "1e400"], ["not valid JSON"]),
        (["set", "k", "18446744073709551616"], ["outside the 64-bit range"]),
        (["set", "k", "[" * 300 + "]" * 300], ["nests containers more than 253"]),
        (["set", "__aiokv__", "1"], ["reserved", "unchanged"]),
        (["set", "k", "--string"], ["--string needs a VALUE"]),
        (["delete", "k", "--wait", "-1"], ["--wait must be >= 0"]),
        (["dump", "--indent", "-1"], ["--indent must be >= 0"]),
    ],
)
def test_a_refused_value_is_one_line_exit_2_and_the_file_untouched(
    state: Path, args: list[str], words: list[str]
) -> None:
    state.write_text('{"k": 1}')
    before = untouched(state)
    expected_error(aiokv(args[0], str(state), *args[1:]), 2, *words)
    assert untouched(state) == before


def test_load_is_all_or_none_and_replace_replaces(state: Path, tmp_path: Path) -> None:
    path = str(state)
    aiokv("set", path, "old", "1")
    before = untouched(state)
    bad = '{"a": 1, "b": {"c": 18446744073709551616}}'
    expected_error(aiokv("load", path, stdin=bad), 2, "stdin", "64-bit range")
    expected_error(aiokv("load", path, stdin="[1, 2]"), 2, "expected a JSON object")
    expected_error(aiokv("load", path, stdin='{"a": 1, "__aiokv__": 2}'), 2, "reserved")
    expected_error(aiokv("load", path, str(tmp_path / "nope.json")), 5, "nope.json")
    assert untouched(state) == before
    assert aiokv("load", path, stdin='{"a": 1, "b": [2]}').returncode == 0
    assert read_json(state) == {"old": 1, "a": 1, "b": [2]}
    source = tmp_path / "backup.json"
    source.write_text('{"only": true}')
    assert aiokv("load", path, str(source), "--replace").returncode == 0
    assert read_json(state) == {"only": True}


def test_dump_then_load_gives_back_an_identical_state(tmp_path: Path) -> None:
    original = {
        "z": {"nested": [1, 2.5, None, True, {"deep": 'é\n"quoted"'}]},
        "a": 18446744073709551615,
        "min": -9223372036854775808,
        "float": 0.1 + 0.2,
        "tiny": 5e-324,
        "guild:1:user:2": [],
        "empty": {},
        "emoji": "🙂",
        "": "the empty key",
    }
    source, copy = tmp_path / "source.json", tmp_path / "copy.json"

    async def fill() -> None:
        async with AioKV(source) as kv:
            await kv.update(original)

    asyncio.run(fill())
    for indent in ("2", "0", "4"):
        dumped = aiokv("dump", str(source), "--indent", indent)
        assert dumped.returncode == 0
        assert json.loads(dumped.stdout) == original
        assert list(json.loads(dumped.stdout)) == sorted(original)  # sorted, for diffs
        assert aiokv("load", str(copy), "--replace", stdin=dumped.stdout).returncode == 0
        assert aiokv("dump", str(copy), "--indent", indent).stdout == dumped.stdout

        async def read() -> dict[str, Any]:
            async with AioKV(copy) as kv:
                return await kv.get_all()

        assert asyncio.run(read()) == original
    assert aiokv("dump", str(source), "--indent", "0").stdout.count("\n") == 1


def test_corrupt_and_missing_files_are_one_line_errors_and_never_touched(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_bytes(b'{"a": [1, 2')
    before = untouched(corrupt)
    for args in (["get", "a"], ["keys"], ["dump"], ["set", "a", "1"], ["delete", "a"]):
        expected_error(aiokv(args[0], str(corrupt), *args[1:]), 4, str(corrupt), "not valid JSON")
    checked = aiokv("check", str(corrupt))
    expected_error(checked, 4, "not valid JSON")
    assert "status: unhealthy" in checked.stdout and "bytes: 11" in checked.stdout
    assert untouched(corrupt) == before
    for text, problem in ((b"[1]", "top level is an array"), (b"", "empty")):
        corrupt.write_bytes(text)
        expected_error(aiokv("check", str(corrupt)), 4, problem)
    missing = tmp_path / "missing.json"
    for args in (["get", "a"], ["keys"], ["dump"], ["check"]):
        expected_error(aiokv(args[0], str(missing), *args[1:]), 5, "missing.json")
    expected_error(aiokv("delete", str(missing), "a"), 1)  # an empty store: absent
    assert not missing.exists()
    expected_error(aiokv("set", str(tmp_path / "no" / "dir.json"), "a", "1"), 5, "dir.json")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # a read would block forever: refused at once
    for target in (fifo, tmp_path):
        for args in (["get", "a"], ["dump"], ["check"], ["set", "a", "1"]):
            expected_error(aiokv(args[0], str(target), *args[1:]), 5, "not a regular file")


HOLDER = """
import asyncio, sys
from aiokv import AioKV

async def main():
    async with AioKV(sys.argv[1], flush_delay=0) as kv:
        await kv.set("held", 1)
        await kv.flush()
        print("holding", flush=True)
        await asyncio.sleep(float(sys.argv[2]))

asyncio.run(main())
"""


def test_an_owned_file_is_read_but_never_written_beside_its_owner(state: Path) -> None:
    holder = child(HOLDER, str(state), "30")
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        before = untouched(state)
        read = aiokv("get", str(state), "held")
        assert read.returncode == 0 and read.stdout == "1\n"
        assert f"pid {holder.pid} owns" in read.stderr and "last flushed state" in read.stderr
        for args in (["set", "x", "1"], ["delete", "held"], ["load"]):
            refused = aiokv(args[0], str(state), *args[1:], stdin="{}")
            expected_error(refused, 3, f"owned by pid {holder.pid}", "--wait")
        expected_error(aiokv("set", str(state), "x", "1", "--wait", "0.3"), 3, "waited 0.3 s")
        checked = aiokv("check", str(state))
        assert checked.returncode == 0
        assert f"lock: held by pid {holder.pid}" in checked.stdout
        assert untouched(state) == before
    finally:
        holder.kill()
        holder.wait()


def test_wait_takes_the_file_once_its_owner_lets_go(state: Path) -> None:
    holder = child(HOLDER, str(state), "1.0")
    assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
    result = aiokv("set", str(state), "after", "2", "--wait", "20")
    assert result.returncode == 0, result.stderr
    holder.wait(timeout=10)
    assert read_json(state) == {"held": 1, "after": 2}


def test_check_reports_a_healthy_file(state: Path) -> None:
    async def fill() -> None:
        async with AioKV(state, version=3) as kv:
            await kv.update({"a": 1, "b": 2})

    asyncio.run(fill())
    stale = state.parent / ".state.json.0123456789ab.aiokv-tmp"
    stale.write_text("{")
    neighbour = state.parent / ".state.json.bak.0123456789ab.aiokv-tmp"  # not ours
    neighbour.write_text("{")
    result = aiokv("check", str(state))
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["keys"] == "2" and lines["schema version"] == "3"
    assert lines["bytes"] == str(state.stat().st_size)
    assert lines["temp files"].startswith("1 (left by a killed writer")
    assert lines["lock"] == "free" and lines["status"] == "healthy"
    # A write keeps the version the file records.
    assert aiokv("set", str(state), "c", "3").returncode == 0
    assert read_json(state) == {"__aiokv__": {"version": 3}, "a": 1, "b": 2, "c": 3}
    assert not stale.exists() and neighbour.exists()  # the write's open swept ours only
    assert aiokv("keys", str(state)).stdout.split() == ["a", "b", "c"]


def test_a_dump_cut_short_by_a_closed_pipe_is_not_an_error(state: Path) -> None:
    state.write_text(json.dumps({f"k{i}": "x" * 100 for i in range(50_000)}))
    dump = subprocess.Popen(
        [SCRIPT, "dump", str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert dump.stdout is not None and dump.stderr is not None
    dump.stdout.read(100)
    dump.stdout.close()
    assert dump.wait(timeout=30) == 0
    assert b"Traceback" not in dump.stderr.read()


def test_copy_between_files_is_all_or_none_and_keeps_the_schema_version(tmp_path: Path) -> None:
    source, dest = tmp_path / "a.json", tmp_path / "b.json"

    async def versioned() -> None:
        async with AioKV(source, version=2, migrate=lambda old, state: state) as kv:
            await kv.update({"k": [1, 2], "n": 18446744073709551615})

    asyncio.run(versioned())
    result = aiokv("copy", str(source), str(dest))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"copied 2 keys from {source} to {dest}\n"
    assert read_json(dest) == read_json(source)  # the version record included
    assert read_json(dest)["__aiokv__"] == {"version": 2}
    # A destination that holds keys is refused, untouched, unless --replace.
    other, third = tmp_path / "c.json", tmp_path / "d.json"
    aiokv("set", str(other), "mine", "1")
    aiokv("set", str(third), "theirs", "2")
    before = untouched(other)
    expected_error(aiokv("copy", str(third), str(other)), 2, str(other), "not empty", "--replace")
    # A destination of another schema version is refused, whatever --replace says.
    expected_error(aiokv("copy", str(dest), str(other), "--replace"), 4, "version")
    assert untouched(other) == before
    result = aiokv("copy", str(dest), str(other), "--replace", "--version", "0")
    assert result.returncode == 0, result.stderr
    assert read_json(other) == {"k": [1, 2], "n": 18446744073709551615}
    expected_error(aiokv("copy", str(tmp_path / "none.json"), str(other)), 5, "none.json")
    expected_error(aiokv("copy", str(source), "redis://h:1/0"), 2, "?name=NAME")
