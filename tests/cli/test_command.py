"""The `aiokv` command, run as users run it: the installed console script, in subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from aiokv import AioKV, __version__
from tests.helpers import ROOT, child, read_json, temp_files

SCRIPT = shutil.which("aiokv", path=str(Path(sys.executable).parent)) or "aiokv"


def aiokv(
    *args: str,
    stdin: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Any:
    """Run the console script; return the completed process (text mode); env adds variables."""
    return subprocess.run(
        [SCRIPT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, **env} if env else None,
    )


def expected_error(result: Any, code: int, *words: str) -> None:
    """An expected failure: its exit code, one line on stderr, no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()  # a note too would make two: a failure is one line
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
    "command", ["", "get", "keys", "dump", "check", "set", "delete", "load", "copy", "completion"]
)
def test_every_command_has_help(command: str) -> None:
    result = aiokv(*([command] if command else []), "--help")
    assert result.returncode == 0 and "usage: aiokv" in result.stdout
    if command in ("set", "delete", "load", "copy"):
        assert "--wait" in result.stdout


def test_set_get_keys_delete(state: Path) -> None:
    path = str(state)
    assert aiokv("set", path, "config", '{"prefix": "!", "mods": [7]}', "--create").returncode == 0
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
        (["delete", "k", "--wait", "-1"], ["--wait", "seconds >= 0"]),
        (["dump", "--indent", "-1"], ["--indent", "from 0 to 16"]),
        (["set", "k", "[" * 1000 + "1234567890123456789" + "]" * 1000], ["more than 253"]),
        (["set", "k", "[" * 254 + "1234567890123456789" + "]" * 254], ["more than 253"]),
        (["set", "k", '{"a": ' * 2000 + "1" + "}" * 2000], ["not valid JSON", "depth"]),
        (["set", "k", "\udcff"], ["not valid JSON", "UTF-8"]),  # a byte 0xff in argv
        (["set", "k", "\udcff", "--string"], ["lone surrogate", "unchanged"]),
        (["set", "k", "1", "--wait", "nan"], ["--wait", "not 'nan'"]),
        (["set", "k", "1", "--wait", "inf"], ["--wait", "not 'inf'"]),
        (["set", "k", "1", "--wait", "1e999"], ["--wait", "not '1e999'"]),
        (["set", "k", "1", "--wait", "-inf"], ["--wait"]),
        (["load", "--wait", "forever"], ["--wait", "not 'forever'"]),
        (["dump", "--indent", "99999999999999999999"], ["--indent", "from 0 to 16"]),
        (["dump", "--indent", "1" * 5000], ["--indent"]),  # past int()'s digit limit
        (["dump", "--indent", "17"], ["--indent", "from 0 to 16"]),
        (["dump", "--indent", "nan"], ["--indent"]),
        (["get"], ["required", "KEY", "aiokv get --help"]),
        (["get", "k", "extra"], ["unrecognized arguments"]),
        (["set", "k", "1", "--bogus"], ["unrecognized arguments", "--bogus"]),
    ],
)
def test_a_refused_value_is_one_line_exit_2_and_the_file_untouched(
    state: Path, args: list[str], words: list[str]
) -> None:
    state.write_text('{"k": 1}')
    before = untouched(state)
    expected_error(aiokv(args[0], str(state), *args[1:], stdin="{}"), 2, *words)
    assert untouched(state) == before


@pytest.mark.parametrize("depth", [300, 1000])
def test_load_refuses_a_deep_value_holding_a_long_number_in_one_line(
    state: Path, tmp_path: Path, depth: int
) -> None:
    # The exact integer check parses again with the json module, which
    # recurses: ~1000 levels were a RecursionError traceback.
    state.write_text('{"k": 1}')
    before = untouched(state)
    text = '{"a": ' + "[" * depth + "1234567890123456789" + "]" * depth + "}"
    source = tmp_path / "deep.json"
    source.write_text(text)
    expected_error(aiokv("load", str(state), stdin=text), 2, "stdin", "more than 253")
    expected_error(aiokv("load", str(state), str(source)), 2, "deep.json", "more than 253")
    assert untouched(state) == before
    # The library's own set() refuses the same value, as a ValueError.
    value = orjson.loads(text)

    async def main() -> None:
        async with AioKV(state) as kv:
            with pytest.raises(ValueError, match="more than 253"):
                await kv.set("a", value["a"])

    asyncio.run(main())
    assert untouched(state)[0] == before[0]


def test_load_takes_a_deep_member_a_duplicate_key_replaced(state: Path) -> None:
    # orjson keeps the later, shallow "a"; the exact integer check, with the
    # json module, recursed out on the deep one: a RecursionError traceback.
    # It scans the text now, whatever its depth.
    state.write_text('{"k": 1}')
    text = '{"a": ' + "[" * 990 + "12345678901234567890" + "]" * 990 + ', "a": 1}'
    done = aiokv("load", str(state), stdin=text)
    assert (done.returncode, done.stderr) == (0, "")
    assert read_json(state) == {"k": 1, "a": 1}
    refused = text.replace("12345678901234567890", "123456789012345678901")  # past 2**64-1
    expected_error(aiokv("load", str(state), stdin=refused), 2, "stdin", "64-bit range")
    assert read_json(state) == {"k": 1, "a": 1}


def test_a_usage_error_is_one_line_naming_the_help(state: Path) -> None:
    for args in ([], ["nope"], ["--bogus"]):
        expected_error(aiokv(*args), 2, "aiokv --help")
    assert aiokv("--help").returncode == 0


def test_a_path_that_is_not_utf8_shows_its_byte_escaped_on_stdout_and_stderr(
    tmp_path: Path,
) -> None:
    name = os.fsdecode(b"st\xffte.json")
    source, dest = tmp_path / name, tmp_path / os.fsdecode(b"c\xff.json")
    source.write_text('{"k": 1}')
    checked = subprocess.run([SCRIPT, "check", str(source)], capture_output=True, timeout=60)
    shown = os.fsencode(tmp_path) + b"/st\\xffte.json"  # as one_line() shows the byte
    assert checked.returncode == 0 and b"file: " + shown + b"\n" in checked.stdout
    copied = subprocess.run(
        [SCRIPT, "copy", str(source), str(dest), "--create"], capture_output=True
    )
    assert copied.returncode == 0, copied.stderr
    # The copy's report is on stderr, which shows such a byte the same way.
    assert os.fsencode(tmp_path) + b"/c\\xff.json" in copied.stderr
    assert copied.stdout == b"" and read_json(dest) == {"k": 1}


@pytest.mark.parametrize("path", ["[::1.json", "a]b[.json", "./redis:[x.json"])
def test_a_path_with_brackets_is_a_file(tmp_path: Path, path: str) -> None:
    (tmp_path / "s.json").write_text('{"k": 1}')
    result = aiokv("copy", "s.json", path, "--create", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_json(tmp_path / path) == {"k": 1}
    # A path that urllib cannot split as a URL ("//" then "[": a host) is a file's too.
    expected_error(
        aiokv("copy", "//[absent.json", "b.json", "--create", cwd=tmp_path), 5, "//[absent.json"
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("redis://:secret@[::1/0?name=x", ["not valid", "IPv6"]),
        ("redis://:secret@127.0.0.1:99999/0?name=x", ["URL"]),
        ("redis://:secret@127.0.0.1:abc/0?name=x", ["URL"]),
    ],
)
def test_a_bad_redis_url_is_one_line_exit_2(state: Path, url: str, words: list[str]) -> None:
    state.write_text('{"k": 1}')
    for args in ([str(state), url], [url, str(state) + ".copy"]):
        result = aiokv("copy", *args)
        expected_error(result, 2, *words)
        assert "secret" not in result.stderr
    assert not Path(str(state) + ".copy").exists()


def test_load_is_all_or_none_and_replace_replaces(state: Path, tmp_path: Path) -> None:
    path = str(state)
    aiokv("set", path, "old", "1", "--create")
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
        loaded = aiokv("load", str(copy), "--replace", "--create", stdin=dumped.stdout)
        assert loaded.returncode == 0
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
    expected_error(aiokv("delete", str(missing), "a"), 2, "missing.json", "no such store")
    assert not missing.exists()
    no_dir = str(tmp_path / "no" / "dir.json")
    expected_error(aiokv("set", no_dir, "a", "1", "--create"), 5, "dir.json")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # a read would block forever: refused at once
    for target in (fifo, tmp_path):
        for args in (["get", "a"], ["dump"], ["check"], ["set", "a", "1"]):
            expected_error(aiokv(args[0], str(target), *args[1:]), 5, "not a regular file")


def test_a_write_refused_for_what_is_not_a_file_makes_no_lock_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    fifo, directory = home / "fifo.json", home / "dir.json"
    os.mkfifo(fifo)
    directory.mkdir()
    source = tmp_path / "source.json"
    source.write_text('{"a": 1}')
    for target in (fifo, directory):
        for args in (["set", "a", "1"], ["delete", "a"], ["load", str(source)]):
            expected_error(aiokv(args[0], str(target), *args[1:]), 5, "not a regular file")
    # The empty path is no file (as for a read), not the cwd: no <cwd>.lock in its parent.
    for args in (["set", "a", "1", "--create"], ["get", "a"]):
        expected_error(aiokv(args[0], "", *args[1:], cwd=home), 5)
    expected_error(aiokv("set", "", "a", "1", cwd=home), 2, "no such store")
    assert sorted(os.listdir(tmp_path)) == ["home", "source.json"]
    assert sorted(os.listdir(home)) == ["dir.json", "fifo.json"]


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
        # A read that fails says only why, on one line, owner or not.
        expected_error(aiokv("get", str(state), "absent"), 1, "'absent' is not in")
        copied = state.parent / "copied.json"
        copied.write_text('{"x": 1}')
        expected_error(aiokv("copy", str(state), str(copied)), 2, "is not empty")
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
    result = aiokv("copy", str(source), str(dest), "--create")
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == (
        "",
        f"aiokv: copied 2 keys from {source} to {dest}\n",
    )
    assert read_json(dest) == read_json(source)  # the version record included
    assert read_json(dest)["__aiokv__"] == {"version": 2}
    # A destination that holds keys is refused, untouched, unless --replace.
    other, third = tmp_path / "c.json", tmp_path / "d.json"
    aiokv("set", str(other), "mine", "1", "--create")
    aiokv("set", str(third), "theirs", "2", "--create")
    before = untouched(other)
    expected_error(aiokv("copy", str(third), str(other)), 2, str(other), "not empty", "--replace")
    # A destination of another schema version is refused, whatever --replace says.
    expected_error(aiokv("copy", str(dest), str(other), "--replace"), 4, "version")
    assert untouched(other) == before
    result = aiokv("copy", str(dest), str(other), "--replace", "--schema-version", "0")
    assert result.returncode == 0, result.stderr
    assert read_json(other) == {"k": [1, 2], "n": 18446744073709551615}
    expected_error(aiokv("copy", str(tmp_path / "none.json"), str(other)), 5, "none.json")
    expected_error(aiokv("copy", str(source), "redis://h:1/0"), 2, "?name=NAME")


# -- Ctrl-C and failed writes: a real SIGINT, a real failing fsync ---------------

# The syscalls a command blocks in at each stage, by machine (/proc/PID/syscall
# gives the number, then the arguments).
SYSCALLS = {
    "x86_64": {"read": 0, "fsync": 74, "epoll_wait": 232, "epoll_pwait": 281},
    "aarch64": {"read": 63, "fsync": 82, "epoll_pwait": 22},
}
needs_proc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.machine() not in SYSCALLS,
    reason="reads /proc/PID/syscall, whose numbers are listed for x86_64 and aarch64",
)
needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")


def blocked_in(pid: int, *names: str, fd: int | None = None, timeout: float = 30) -> int:
    """Wait until a thread of process pid is in one of the named syscalls; return the pid.

    With fd, only a call on that file descriptor (its first argument) counts.
    """
    numbers = {
        str(SYSCALLS[platform.machine()][n]) for n in names if n in SYSCALLS[platform.machine()]
    }
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                call = Path(f"/proc/{pid}/task/{task}/syscall").read_text().split()
                if call[0] in numbers and (fd is None or int(call[1], 16) == fd):
                    return pid
        time.sleep(0.005)
    raise AssertionError(f"pid {pid} never blocked in {names}")


def traced_child(tracer: subprocess.Popen[bytes]) -> int:
    """The pid of the command strace runs (strace forks probes of its own first)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
                if program and not program.endswith(b"strace"):  # exec'd, not exiting
                    return int(pid)
        time.sleep(0.005)
    raise AssertionError("strace never started the command")


def interrupted(process: subprocess.Popen[bytes], pid: int) -> tuple[int, str]:
    """Send SIGINT to pid (process, or a process it traces); return its exit code and stderr."""
    os.kill(pid, signal.SIGINT)
    _, err = process.communicate(timeout=30)
    return process.returncode, err.decode()


INTERRUPTED = "aiokv: interrupted; nothing changed\n"


@needs_proc
def test_ctrl_c_while_waiting_for_the_owner_exits_130_and_changes_nothing(
    state: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source.json"
    source.write_text('{"x": 1}')
    holder = child(HOLDER, str(state), "60")
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        before = untouched(state)
        for args in (
            ["set", str(state), "k", "1"],
            ["delete", str(state), "held"],
            ["load", str(state), str(source)],
            ["copy", str(source), str(state), "--replace"],
        ):
            waiting = subprocess.Popen(
                [SCRIPT, *args, "--wait", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            code, err = interrupted(waiting, blocked_in(waiting.pid, "epoll_wait", "epoll_pwait"))
            assert (code, err) == (130, INTERRUPTED), args
            assert untouched(state) == before
    finally:
        holder.kill()
        holder.wait()


@needs_proc
@pytest.mark.parametrize("args", [["load"], ["set", "k", "-"]], ids=["load", "set -"])
def test_ctrl_c_while_reading_the_input_exits_130_and_changes_nothing(
    state: Path, args: list[str]
) -> None:
    state.write_text('{"k": 1}')
    before = untouched(state)
    reading = subprocess.Popen(
        [SCRIPT, args[0], str(state), *args[1:]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reading.stdin is not None
    reading.stdin.write(b'{"half": ')
    reading.stdin.flush()
    code, err = interrupted(reading, blocked_in(reading.pid, "read", fd=0))
    assert (code, err) == (130, INTERRUPTED)
    assert untouched(state) == before
    assert aiokv("set", str(state), "after", "2").returncode == 0  # nothing left held


@needs_proc
@needs_strace
def test_ctrl_c_during_the_write_lets_the_one_atomic_write_finish(state: Path) -> None:
    # The write is held in its fsync (strace delays it) when the signal comes.
    state.write_text('{"k": 1}')
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=fsync",
         "-e", "inject=fsync:delay_enter=1000000:when=1",
         SCRIPT, "set", str(state), "k", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    code, err = interrupted(tracer, blocked_in(traced_child(tracer), "fsync"))
    assert (code, err) == (0, "")  # the write had begun: it completed
    assert read_json(state) == {"k": 2}
    assert not temp_files(state.parent)


@needs_strace
def test_a_write_that_fails_is_one_line_exit_5_and_the_file_untouched(state: Path) -> None:
    # Every fsync fails with EIO, the temp file's first: the store keeps the
    # change in memory, and nothing (its close retrying, its exit hook) may
    # write it later. (A state left empty is a removal, not a write: kept apart.)
    state.write_text('{"k": 1, "j": 2}')
    before = untouched(state)
    for args in (["set", "k", "2"], ["delete", "k"], ["load", "--replace"]):
        result = subprocess.run(
            ["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=fsync",
             "-e", "inject=fsync:error=EIO", SCRIPT, args[0], str(state), *args[1:]],
            input='{"a": 1}', capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        expected_error(result, 5, str(state), "Input/output error")
        assert untouched(state) == before
        assert not temp_files(state.parent)


@pytest.mark.parametrize("source", ["/dev/zero", "directory"])
def test_load_refuses_a_source_that_is_neither_a_file_nor_a_pipe(state: Path, source: str) -> None:
    if source == "directory":
        source = str(state.parent)
    result = aiokv("load", str(state), source, "--create")
    expected_error(result, 5, "not a regular file or a pipe")
    assert not state.exists() and not Path(f"{state}.lock").exists()


def test_load_reads_a_pipe_such_as_a_process_substitution(state: Path) -> None:
    read, write = os.pipe()
    os.write(write, b'{"piped": 1}')
    os.close(write)
    try:
        loaded = subprocess.run(
            [SCRIPT, "load", str(state), f"/dev/fd/{read}", "--create"],
            pass_fds=(read,),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(read)
    assert loaded.returncode == 0, loaded.stderr
    assert read_json(state) == {"piped": 1}
