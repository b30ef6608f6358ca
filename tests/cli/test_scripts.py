"""The command for scripts (issue 21): --json, safe key lines, stdin values, --create,
the internal-error exit code, copy's --schema-version; the console script in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from aiokv import __version__
from aiokv.cli import EXIT_SOFTWARE
from tests.cli.test_command import (
    SCRIPT,
    aiokv,
    expected_error,
    untouched,
)
from tests.helpers import read_json, run_child

# Keys a line-by-line reader would misread, and keys that are safe as they are.
UNSAFE_KEYS = ["two\nlines", "tab\there", "cr\r", "nul\x00", "del\x7f", "nel\x85", "ls\u2028",
               '"quoted"', "\x1b[31mred"]  # fmt: skip
SAFE_KEYS = ["plain", "é ü", "a:b", "", 'in"side', " spaced ", "🙂"]


def test_keys_prints_a_key_a_line_and_quotes_only_the_unsafe_ones(state: Path) -> None:
    state.write_text(json.dumps({k: 1 for k in SAFE_KEYS + UNSAFE_KEYS}))
    result = aiokv("keys", str(state))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.encode().split(b"\n")
    assert lines[-1] == b"" and len(lines) == len(SAFE_KEYS + UNSAFE_KEYS) + 1
    got = []
    for line in lines[:-1]:
        text = line.decode()
        if text.startswith('"'):  # a JSON string, in ASCII: no byte of it is a line break
            assert text.isascii() and text.isprintable()
            text = json.loads(text)
        got.append(text)
    assert got == SAFE_KEYS + UNSAFE_KEYS
    # Safe keys print verbatim; the unsafe, quoted.
    assert lines[: len(SAFE_KEYS)] == [k.encode() for k in SAFE_KEYS]
    assert all(line.startswith(b'"') for line in lines[len(SAFE_KEYS) : -1])


def test_keys_json_is_one_line_holding_every_key(state: Path) -> None:
    keys = SAFE_KEYS + UNSAFE_KEYS
    state.write_text(json.dumps({k: 1 for k in keys}))
    result = aiokv("keys", str(state), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.endswith("\n")
    assert json.loads(result.stdout) == keys
    prefixed = aiokv("keys", str(state), "--json", "--prefix", "p")
    assert prefixed.stdout == '["plain"]\n'
    state.write_text("{}")
    assert aiokv("keys", str(state), "--json").stdout == "[]\n"


def test_check_json_holds_what_the_text_report_says(state: Path) -> None:
    state.write_text('{"__aiokv__": {"version": 2}, "a": 1, "b": 2}')
    text = aiokv("check", str(state))
    report = aiokv("check", str(state), "--json")
    assert report.returncode == text.returncode == 0, report.stderr
    assert report.stdout.count("\n") == 1
    fields = json.loads(report.stdout)
    lines = dict(line.split(": ", 1) for line in text.stdout.splitlines())
    assert fields == {
        "file": str(state),
        "bytes": int(lines["bytes"]),
        "modified": lines["modified"],
        "keys": 2,
        "schema_version": 2,
        "version_record": True,
        "temp_files": 0,
        "lock": "free",
        "lock_pid": None,
        "status": "healthy",
    }


def test_check_json_of_a_corrupt_file_says_why_and_exits_4(state: Path) -> None:
    state.write_text('{"a": [1')
    result = aiokv("check", str(state), "--json")
    expected_error(result, 4, "not valid JSON")
    fields = json.loads(result.stdout)
    assert fields["status"] == "unhealthy" and fields["exit_code"] == 4
    assert fields["problem"] == result.stderr.strip().removeprefix("aiokv: ")
    assert fields["bytes"] == 8 and "keys" not in fields
    # A missing file: no report at all, as the text form (exit 5).
    missing = aiokv("check", str(state.parent / "missing.json"), "--json")
    expected_error(missing, 5, "missing.json")
    assert missing.stdout == ""


def test_set_dash_reads_the_value_from_stdin(state: Path) -> None:
    path = str(state)
    assert aiokv("set", path, "k", "-", "--create", stdin='{"a": [1, 2]}\n').returncode == 0
    # --string: the bytes verbatim, a trailing newline included (printf '%s' leaves it out).
    assert aiokv("set", path, "s", "-", "--string", stdin="two\nlines\n").returncode == 0
    assert aiokv("set", path, "e", "-", "--string", stdin="").returncode == 0
    assert read_json(state) == {"k": {"a": [1, 2]}, "s": "two\nlines\n", "e": ""}
    before = untouched(state)
    expected_error(aiokv("set", path, "k", "-", stdin="hello"), 2, "stdin is not valid JSON")
    expected_error(aiokv("set", path, "k", "-", stdin=""), 2, "stdin is not valid JSON")
    expected_error(aiokv("set", path, "k", "-", stdin="18446744073709551616"), 2, "64-bit")
    assert untouched(state) == before


def test_set_dash_string_refuses_stdin_that_is_not_utf8(state: Path) -> None:
    state.write_text('{"k": 1}')
    before = untouched(state)
    result = subprocess.run(
        [SCRIPT, "set", str(state), "k", "-", "--string"], input=b"\xff", capture_output=True
    )
    assert result.returncode == 2 and b"stdin is not UTF-8" in result.stderr
    assert untouched(state) == before


@pytest.mark.parametrize(
    "args",
    [
        ["set", "{path}", "k", "1"],
        ["set", "{path}", "k", "-"],
        ["delete", "{path}", "k"],
        ["load", "{path}"],
        ["load", "{path}", "{source}"],
        ["copy", "{source}", "{path}"],
        ["copy", "{source}", "{path}", "--replace"],
    ],
)
def test_a_write_where_no_store_is_refused_naming_it_and_leaves_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    source = tmp_path / "source.json"
    source.write_text('{"a": 1}')
    typo = home / "stat.json"  # beside no state.json: a typo's path
    argv = [a.format(path=typo, source=source) for a in args]
    result = aiokv(*argv, stdin='{"a": 1}')
    expected_error(result, 2, str(typo), "no such store")
    if args[0] != "delete":
        assert "--create" in result.stderr  # says how to make one
    assert os.listdir(home) == []  # no file, no lock file
    # Inside a missing directory too: refused as such, not as the directory's error.
    expected_error(aiokv(*[a.replace(str(home), str(home / "no")) for a in argv]), 2)
    if args[0] == "delete":
        return
    done = aiokv(*argv, "--create", stdin='{"a": 1}')
    assert done.returncode == 0, done.stderr
    assert typo.exists()


def test_a_store_emptied_by_its_last_delete_is_still_a_store(state: Path) -> None:
    # The last delete removes the file; its lock file stays and marks the store.
    path = str(state)
    assert aiokv("set", path, "k", "1", "--create").returncode == 0
    assert aiokv("delete", path, "k").returncode == 0
    assert not state.exists() and Path(path + ".lock").exists()
    expected_error(aiokv("delete", path, "k"), 1, "'k' is not in")
    assert aiokv("set", path, "k", "2").returncode == 0
    assert read_json(state) == {"k": 2}


def test_a_symlink_to_a_store_is_a_store(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text('{"a": 1}')
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert aiokv("set", str(link), "b", "2").returncode == 0
    assert read_json(real) == {"a": 1, "b": 2}


INJECTED_BUG = """
import sys
from aiokv.cli import main, reads

def broken(*args, **kwargs):
    raise KeyError("a bug, injected")

reads.read_state = broken  # as a bug in the read would
sys.exit(main(sys.argv[1:]))
"""


def test_an_internal_error_is_exit_70_one_line_naming_it_no_traceback(state: Path) -> None:
    state.write_text('{"k": 1}')
    result = run_child(INJECTED_BUG, "get", str(state), "k")
    assert result.returncode == EXIT_SOFTWARE == 70, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("aiokv: internal error, a bug in aiokv (KeyError(")
    assert "please report it" in lines[0] and "AIOKV_TRACEBACK=1" in lines[0]


def test_aiokv_traceback_shows_an_internal_errors_traceback(state: Path) -> None:
    state.write_text('{"k": 1}')
    shown = run_child(
        "import os; os.environ['AIOKV_TRACEBACK'] = '1'\n" + INJECTED_BUG, "keys", str(state)
    )
    assert shown.returncode == 70
    assert "Traceback" in shown.stderr and "a bug, injected" in shown.stderr
    assert shown.stderr.splitlines()[-1].startswith("aiokv: internal error")


def test_copy_takes_schema_version_and_its_old_name_with_a_note(tmp_path: Path) -> None:
    source = tmp_path / "a.json"
    source.write_text('{"k": 1}')
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    done = aiokv("copy", str(source), str(new), "--schema-version", "3", "--create")
    assert done.returncode == 0 and "deprecated" not in done.stderr, done.stderr
    assert read_json(new) == {"__aiokv__": {"version": 3}, "k": 1}
    done = aiokv("copy", str(source), str(old), "--version", "3", "--create")
    assert done.returncode == 0, done.stderr
    assert "aiokv: note: copy's --version is deprecated: it is --schema-version now" in done.stderr
    assert read_json(old) == read_json(new)
    both = aiokv("copy", str(source), str(old), "--version", "3", "--schema-version", "3")
    expected_error(both, 2, "--schema-version alone")
    # The top-level --version is the program's; copy's help shows the new name only.
    assert aiokv("--version").stdout == f"aiokv {__version__}\n"
    shown = aiokv("copy", "--help").stdout
    assert "--schema-version" in shown and "--version" not in shown.replace("--schema-version", "")


def test_help_names_the_exit_codes_and_the_password_variable() -> None:
    shown = " ".join(aiokv("--help").stdout.split())
    for words in ("70 internal error", "130 interrupted", "AIOKV_REDIS_PASSWORD", "--create"):
        assert words in shown, words
    assert "-: stdin" in " ".join(aiokv("set", "--help").stdout.split())


@pytest.mark.parametrize(
    "args", [["set", "k", "1"], ["set", "k", "1", "--create"], ["delete", "k"], ["load"]]
)
def test_a_write_to_a_redis_url_is_refused_and_makes_no_file(
    tmp_path: Path, args: list[str]
) -> None:
    url = "redis://:s3cret@127.0.0.1:1/0?name=bot"
    result = aiokv(args[0], url, *args[1:], stdin="{}", cwd=tmp_path)
    expected_error(result, 2, "redis://127.0.0.1:1/0?name=bot", "write a state file", "copy")
    assert "s3cret" not in result.stderr
    assert os.listdir(tmp_path) == []
