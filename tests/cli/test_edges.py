"""The command at its edges: stdin and stdout closed, full or devices; stores emptied or
behind a dangling link; names holding control characters; schema versions through a
backup; the console script in subprocesses, for every subcommand each edge reaches."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aiokv.cli.reads import read_state
from tests.cli.test_command import SCRIPT, aiokv, expected_error, untouched
from tests.helpers import read_json

# Every read of stdin: set's VALUE, load without SOURCE, load's SOURCE "-".
STDIN_READS = [["set", "{path}", "k", "-"], ["load", "{path}"], ["load", "{path}", "-"]]
# Every command that prints data or a report on stdout.
PRINTS = [
    ["get", "{path}", "k"],
    ["keys", "{path}"],
    ["keys", "{path}", "--json"],
    ["dump", "{path}"],
    ["dump", "{path}", "--indent", "0"],
    ["check", "{path}"],
    ["check", "{path}", "--json"],
    ["completion", "bash"],
]


def run(argv: list[str], *, shell: str) -> Any:
    """The console script with argv, its streams redirected as the shell text says."""
    return subprocess.run(
        ["sh", "-c", f'"$0" "$@" {shell}', SCRIPT, *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


def filled(state: Path) -> str:
    state.write_text('{"k": 1}')
    return str(state)


def nothing_but(directory: Path, *names: str) -> None:
    assert sorted(os.listdir(directory)) == sorted(names)


# -- 1. stdin: a device is refused, closed stdin and stdout are clear errors ---------


@pytest.mark.parametrize("args", STDIN_READS)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_every_stdin_read_refuses_a_device_at_once(
    tmp_path: Path, args: list[str], device: str
) -> None:
    state = tmp_path / "s.json"
    argv = [a.format(path=state) for a in args]
    with open(device, "rb") as stdin:
        result = subprocess.run(
            [SCRIPT, *argv, "--create"], stdin=stdin, capture_output=True, text=True, timeout=60
        )
    expected_error(result, 5, "stdin: not a regular file or a pipe")
    nothing_but(tmp_path)  # refused before the store opens: no file, no lock file


@pytest.mark.parametrize("args", STDIN_READS)
def test_every_stdin_read_of_a_closed_stdin_is_a_clear_os_error(
    state: Path, args: list[str]
) -> None:
    path = filled(state)
    before = untouched(state)
    result = run([a.format(path=path) for a in args], shell="<&-")
    expected_error(result, 5, "stdin: closed")
    assert untouched(state) == before


@pytest.mark.parametrize("args", PRINTS)
def test_every_print_to_a_closed_stdout_is_a_clear_os_error(state: Path, args: list[str]) -> None:
    result = run([a.format(path=filled(state)) for a in args], shell=">&-")
    expected_error(result, 5, "stdout")
    assert "AttributeError" not in result.stderr


def test_a_write_with_stdout_closed_still_works(state: Path) -> None:
    # A write prints nothing: stdout closed is no concern of it.
    result = run(["set", filled(state), "k", "2"], shell=">&-")
    assert result.returncode == 0 and result.stderr == ""
    assert read_json(state) == {"k": 2}


# -- 2. load's SOURCE "-" is stdin ------------------------------------------------------


def test_load_source_dash_reads_stdin_not_a_file_named_dash(tmp_path: Path) -> None:
    (tmp_path / "-").write_text('{"from": "the file named -"}')
    result = aiokv("load", "s.json", "-", "--create", stdin='{"from": "stdin"}', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_json(tmp_path / "s.json") == {"from": "stdin"}
    # The file named "-" is still reachable by a path that is not "-".
    assert aiokv("load", "s.json", "./-", cwd=tmp_path).returncode == 0
    assert read_json(tmp_path / "s.json") == {"from": "the file named -"}


# -- 3. a dangling symlink is no store ----------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["set", "dangling.json", "a", "1"],
        ["load", "dangling.json", "source.json"],
        ["copy", "source.json", "dangling.json"],
    ],
)
def test_a_symlink_to_nothing_is_no_store_for_a_write(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "source.json").write_text('{"a": 1}')
    (tmp_path / "dangling.json").symlink_to("nowhere.json")
    expected_error(aiokv(*args, cwd=tmp_path), 2, "dangling.json: no such store")
    nothing_but(tmp_path, "dangling.json", "source.json")  # no nowhere.json, no lock file
    # --create makes the store where the link points, as AioKV does.
    assert aiokv(*args, "--create", cwd=tmp_path).returncode == 0
    assert read_json(tmp_path / "nowhere.json") == {"a": 1}


@pytest.mark.parametrize("command", [["get", "k"], ["keys"], ["dump"], ["check"]])
def test_a_symlink_to_nothing_is_no_store_for_a_read(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "dangling.json").symlink_to("nowhere.json")
    result = aiokv(command[0], "dangling.json", *command[1:], cwd=tmp_path)
    expected_error(result, 5, "dangling.json: No such file")


# -- 4. load --schema-version: a backup restored keeps its version ------------------------


def test_a_versioned_store_restored_with_schema_version_keeps_it(tmp_path: Path) -> None:
    versioned, restored = tmp_path / "v.json", tmp_path / "v2.json"
    versioned.write_text('{"k": 1}')
    assert aiokv("copy", str(versioned), str(tmp_path / "v3.json"), "--create",
                 "--schema-version", "3").returncode == 0  # fmt: skip
    backup = aiokv("dump", str(tmp_path / "v3.json")).stdout
    loaded = aiokv("load", str(restored), "--create", "--schema-version", "3", stdin=backup)
    assert loaded.returncode == 0, loaded.stderr
    assert read_state(str(restored))[:2] == ({"k": 1}, 3)
    # Without it, the restored file records no version: a bot with version=3 would
    # migrate it again from 0 (what the guide's recipe says to avoid).
    bare = tmp_path / "bare.json"
    assert aiokv("load", str(bare), "--create", stdin=backup).returncode == 0
    assert read_state(str(bare))[:2] == ({"k": 1}, 0)


def test_load_into_an_existing_versioned_store_keeps_its_version(tmp_path: Path) -> None:
    source, dest = tmp_path / "s.json", tmp_path / "d.json"
    source.write_text('{"k": 1}')
    assert aiokv("copy", str(source), str(dest), "--create",
                 "--schema-version", "5").returncode == 0  # fmt: skip
    assert aiokv("load", str(dest), stdin='{"n": 2}').returncode == 0
    assert read_state(str(dest))[:2] == ({"k": 1, "n": 2}, 5)
    assert aiokv("load", str(dest), "--schema-version", "5", stdin='{"m": 3}').returncode == 0
    assert read_state(str(dest))[:2] == ({"k": 1, "n": 2, "m": 3}, 5)
    # Another version is refused, the file untouched, as for copy.
    before = untouched(dest)
    result = aiokv("load", str(dest), "--schema-version", "6", stdin='{"x": 0}')
    expected_error(result, 4, "6")
    assert untouched(dest) == before


def test_load_and_copy_share_the_schema_version_option() -> None:
    def option_help(command: str) -> str:
        text = aiokv(command, "--help").stdout
        return " ".join(text[text.rindex("--schema-version N") :].split()).partition(" (default")[
            0
        ]

    assert option_help("load") == option_help("copy")
    assert "exit 4" in option_help("load")


# -- 5. stdout's OS errors are exit 5; a broken pipe ends quietly -------------------------


@pytest.mark.parametrize("args", PRINTS)
def test_a_full_disk_on_stdout_is_an_os_error_naming_stdout(state: Path, args: list[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    result = run([a.format(path=filled(state)) for a in args], shell=">/dev/full")
    expected_error(result, 5, "stdout: No space left on device")


@pytest.mark.parametrize("args", PRINTS)
def test_a_reader_that_stopped_reading_ends_the_command_quietly(
    state: Path, args: list[str]
) -> None:
    # `aiokv keys big.json | head -1`, made certain: the reader is gone before
    # the first byte, so every write meets a broken pipe, the last flush too.
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [SCRIPT, *[a.format(path=filled(state)) for a in args]],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert result.returncode == 0 and result.stderr == "", result.stderr


# -- 6. a store emptied (its lock file, no state file) is an empty store for every read ---


@pytest.fixture(params=["deleted", "loaded"])
def emptied(request: pytest.FixtureRequest, state: Path) -> Path:
    if request.param == "deleted":  # its last key deleted: the file goes, its lock stays
        assert aiokv("set", str(state), "k", "1", "--create").returncode == 0
        assert aiokv("delete", str(state), "k").returncode == 0
    else:  # made empty: nothing to write
        assert aiokv("load", str(state), "--create", stdin="{}").returncode == 0
    assert not state.exists() and Path(f"{state}.lock").exists()
    return state


def test_an_emptied_store_reads_as_an_empty_store(emptied: Path, tmp_path: Path) -> None:
    path = str(emptied)
    expected_error(aiokv("get", path, "k"), 1, "'k' is not in")
    assert aiokv("keys", path).stdout == ""
    assert aiokv("keys", path, "--json").stdout == "[]\n"
    assert aiokv("dump", path).stdout == "{}\n"
    checked = aiokv("check", path)
    assert checked.returncode == 0 and "keys: 0" in checked.stdout, checked.stderr
    assert checked.stdout.splitlines()[-1] == "status: healthy"
    report = json.loads(aiokv("check", path, "--json").stdout)
    assert report["status"] == "healthy" and report["keys"] == 0 and report["bytes"] == 0
    copied = aiokv("copy", path, str(tmp_path / "to.json"), "--create")
    assert copied.returncode == 0 and "copied 0 keys" in copied.stderr


# -- 7. a refused write with --create leaves nothing behind --------------------------------


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["set", "d.json", "__aiokv__", "1"], None),
        (["set", "d.json", "__aiokv__", "-"], "1"),
        (["set", "d.json", "__aiokv__"], None),
        (["set", "d.json", "k", os.fsdecode(b"\xff"), "--string"], None),
        (["set", "d.json", os.fsdecode(b"\xfe"), "1"], None),
        (["load", "d.json"], '{"ok": 1, "__aiokv__": 2}'),
        (["load", "d.json", "-", "--replace"], '{"__aiokv__": 2}'),
        (["load", "d.json", "source.json"], None),
        (["load", "d.json"], '{"k": "\\ud800"}'),
        (["load", "d.json"], "[1]"),
        (["set", "d.json", "k", "nope"], None),
    ],
)
def test_a_refused_write_with_create_leaves_no_file_at_all(
    tmp_path: Path, args: list[str], stdin: str | None
) -> None:
    (tmp_path / "source.json").write_text('{"__aiokv__": 1}')
    result = aiokv(*args, "--create", stdin=stdin or "", cwd=tmp_path)
    expected_error(result, 2)
    nothing_but(tmp_path, "source.json")


# -- 8. every message and the text report stay one line each ------------------------------


NAMES = ["no\nsuch.json", "tab\there.json", "esc\x1b[31m.json", "ls\u2028.json", "nel\x85.json"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "args",
    [
        ["get", "{p}", "k"],
        ["keys", "{p}"],
        ["dump", "{p}"],
        ["check", "{p}"],
        ["set", "{p}", "k", "1"],
        ["delete", "{p}", "k"],
        ["load", "{p}", "{p}"],
        ["copy", "{p}", "x.json", "--create"],
    ],
)
def test_an_error_naming_a_path_with_control_characters_is_one_line(
    tmp_path: Path, name: str, args: list[str]
) -> None:
    result = aiokv(*[a.format(p=name) for a in args], cwd=tmp_path)
    expected_error(result, 2 if args[0] in ("set", "delete", "load") else 5)
    assert repr(name)[1:-1] in result.stderr or name.encode("unicode_escape").decode() in (
        result.stderr
    )


@pytest.mark.parametrize("key", ["two\nlines", "esc\x1b", "ls\u2028"])
def test_an_error_naming_a_key_with_control_characters_is_one_line(state: Path, key: str) -> None:
    path = filled(state)
    expected_error(aiokv("get", path, key), 1, "is not in")
    expected_error(aiokv("delete", path, key), 1, "is not in")


def test_check_reports_a_name_with_control_characters_a_field_a_line(tmp_path: Path) -> None:
    name = tmp_path / os.fsdecode(b"bad\xff\nname.json")
    name.write_text('{"k": 1}')
    result = subprocess.run([SCRIPT, "check", str(name)], capture_output=True, timeout=60)
    lines = result.stdout.split(b"\n")
    assert result.returncode == 0 and lines[0] == b"file: " + os.fsencode(tmp_path) + (
        b"/bad\\xff\\nname.json"
    )
    assert [line.split(b":")[0] for line in lines[:-1]] == [
        b"file", b"bytes", b"modified", b"keys", b"schema version", b"temp files", b"lock",
        b"status"]  # fmt: skip
    name.write_text("{")  # unhealthy: the report's status and the error line, one line each
    result = subprocess.run([SCRIPT, "check", str(name)], capture_output=True, timeout=60)
    assert result.returncode == 4 and len(result.stderr.splitlines()) == 1
    assert result.stdout.count(b"\n") == 4  # file, bytes, modified, status


# -- 9. JSON on stdout holds no character a line reader breaks at -------------------------

BREAKS = "\u2028\u2029\u0085\x7f\x80\x9f"


@pytest.mark.parametrize(
    "args",
    [
        ["get", "{p}", "k" + BREAKS],
        ["keys", "{p}", "--json"],
        ["dump", "{p}", "--indent", "0"],
        ["dump", "{p}"],
    ],
)
def test_json_output_escapes_what_line_readers_take_for_line_breaks(
    state: Path, args: list[str]
) -> None:
    held = {"k" + BREAKS: ["v" + BREAKS, {BREAKS: BREAKS}]}
    state.write_text(json.dumps(held))
    result = subprocess.run(
        [SCRIPT, *[a.format(p=state) for a in args]], capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert not set(text) & set(BREAKS), text
    assert text.splitlines() == text.split("\n")[:-1]  # str.splitlines breaks at all of them
    expected = (
        held["k" + BREAKS] if args[0] == "get" else list(held) if args[0] == "keys" else held
    )
    assert json.loads(text) == expected


# -- 10. no abbreviations ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "s.json", "--jso"],
        ["check", "s.json", "--js"],
        ["set", "n.json", "k", "1", "--cr"],
        ["load", "n.json", "--rep"],
        ["copy", "s.json", "n.json", "--schema", "1"],
        ["dump", "s.json", "--ind", "0"],
        ["delete", "s.json", "k", "--wa", "1"],
        ["--vers"],
    ],
)
def test_an_abbreviated_option_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "s.json").write_text('{"k": 1}')
    result = aiokv(*args, cwd=tmp_path, stdin="{}")
    expected_error(result, 2)  # an abbreviation read as its option would succeed
    nothing_but(tmp_path, "s.json")


# -- 11. copy's count -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "said"), [({}, "0 keys"), ({"a": 1}, "1 key "), ({"a": 1, "b": 2}, "2 keys")]
)
def test_copy_counts_its_keys_in_the_singular_and_the_plural(
    tmp_path: Path, held: dict[str, int], said: str
) -> None:
    (tmp_path / "s.json").write_text(json.dumps(held))
    result = aiokv("copy", "s.json", "d.json", "--create", cwd=tmp_path)
    assert result.returncode == 0 and f"copied {said}" in result.stderr, result.stderr
    if held:
        (tmp_path / "e.json").write_text('{"x": 1}')
        refused = aiokv("copy", "s.json", "e.json", cwd=tmp_path)
        expected_error(refused, 2, "(1 key)")
