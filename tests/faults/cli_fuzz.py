"""Campaign 11: the `aiokv` command under hostile argv and stdin.

Seeded random cases: every subcommand, values (JSON trees, nesting up to
1,500 levels with and without 19-digit numbers, edge integers and floats,
NaN, bytes that are not UTF-8, truncated and random text), numbers for every
option that takes one (NaN, infinities, negatives, huge integers), odd paths
(brackets, a "redis:" prefix, non-UTF-8 bytes, missing directories, names
too long) and Redis URLs (malformed, unreachable, without a name), against
state files that are healthy, absent, corrupt or directories.

Each case is held to the documented contract (docs/cli.md), from an oracle
written apart from the command (the standard library's json): the exit code
is the one the inputs call for; stderr holds no traceback and, on a failure,
exactly one line; a failure leaves every file byte for byte as it was, and a
success holds what was asked.

Part 1 runs most cases in one child through `aiokv.cli.main(argv)` (an
interval timer fails a case that hangs). Part 2 runs a sample through the
real console script, each under a timeout. Part 3 fuzzes `--wait` against a
file another process owns. Part 4 sends a real SIGINT at a random moment
after the command has opened the file, and while it waits for the owner or
reads stdin: exit 130 with the file unchanged, or exit 0 with the change
made (an interrupt during the one atomic write lets it finish); never
anything else, never a temp file left.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.common import LONG, Result, Timer
from tests.helpers import child, run_child, temp_files

SCRIPT = shutil.which("aiokv", path=str(Path(sys.executable).parent)) or "aiokv"
INT_MIN, INT_MAX = -(2**63), 2**64 - 1
URL_SCHEMES = ("redis:", "rediss:", "unix:")
# What stderr says on a success: notes, and copy's report (stdout is for data).
SUCCESS_LINES = ("aiokv: note:", "aiokv: copied ")
MAX_DEPTH = 253  # a value's containers, as docs/cli.md says
TIMEOUT = 30.0  # seconds one invocation may take before it counts as a hang
INTERRUPTED = "aiokv: interrupted; nothing changed"
NEGATIVE = re.compile(r"-\d+|-\d*\.\d+")  # what every argparse reads as a number, not an option

# Text for numbers, options and JSON alike.
NUMBERS = [
    "0", "1", "-1", "0.5", "1e-9", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999",
    "-1e999", "1e308", "17", "16", "99999999999999999999", "1" * 5000, "-0", "0x10", "1_0",
    " 2", "", "abc", str(2**63 - 1), str(2**63), str(-(2**63)), str(-(2**63) - 1),
    str(2**64 - 1), str(2**64), "1234567890123456789", "18446744073709551616", "1.0", "5e-324",
]  # fmt: skip
# JSON the command must refuse or take, whatever the oracle says of it.
ODD_JSON = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "[1,]", "{", '{"a": 1', "'x'", "tru",
    '"\\ud800"', '"\\u0000"', '{"__aiokv__": 1}', '{"a": {"__aiokv__": 1}}', "[]", "{}", "null",
    "", " ", '"é\\n"', '{"a": 1, "a": 2}', "01", "1.", ".5", "-", '"\\x"',
]  # fmt: skip
LEAVES = ["1", "1234567890123456789", "18446744073709551616", '"x"', "{}", "[]", "null"]
CONDITIONS = ["healthy", "healthy", "healthy", "absent", "corrupt", "empty", "array",
              "deep", "inexact", "directory"]  # fmt: skip
CORRUPT = {
    "corrupt": b'{"a": [1, 2',
    "empty": b"",
    "array": b"[1, 2]",
    "deep": b'{"a": ' + b"[" * 300 + b"1" + b"]" * 300 + b"}",
    "inexact": b'{"a": 18446744073709551616}',
}


class _Refused(Exception):
    """The oracle's own: a value the store must refuse."""


# -- the oracle: what the inputs call for, from the standard library -------------


def _strict_int(text: str) -> int:
    number = int(text)
    if not INT_MIN <= number <= INT_MAX:
        raise _Refused(text)
    return number


def _strict_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(text)
    return number


def _refuse(text: str) -> Any:
    raise _Refused(text)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # orjson refuses a lone surrogate as it reads, even in a member a later
    # duplicate key replaces.
    for key, value in pairs:
        if not _utf8(key) or (isinstance(value, str) and not _utf8(value)):
            raise _Refused(key)
    return dict(pairs)


def parse(raw: bytes) -> tuple[bool | None, Any]:
    """(True, value) if raw is JSON a store keeps exactly, else (False, None).

    (None, None) if the json module cannot tell: nested past its recursion
    limit (a later duplicate key may still replace the deep member).
    """
    try:
        value = json.loads(
            raw.decode("utf-8"),
            parse_int=_strict_int,
            parse_float=_strict_float,
            parse_constant=_refuse,
            object_pairs_hook=_pairs,
        )
    except RecursionError:
        return None, None
    except (ValueError, _Refused):
        return False, None
    return True, value


def storable(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed value nests at most limit containers and has no lone surrogate."""
    level, depth = [value], 0
    while level:
        containers = [v for v in level if isinstance(v, (dict, list))]
        if any(isinstance(v, str) and not _utf8(v) for v in level):
            return False
        if containers:
            depth += 1
            if depth > limit:
                return False
        below: list[Any] = []
        for c in containers:
            if isinstance(c, dict):
                if not all(_utf8(k) for k in c):
                    return False
                below.extend(c.values())
            else:
                below.extend(c)
        level = below
    return True


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def good_key(key: str) -> bool:
    """Whether key is one a store takes."""
    return key != "__aiokv__" and _utf8(key)


def number_ok(text: str, kind: type, low: float, high: float) -> bool:
    """Whether an option's text is a number the command takes."""
    try:
        number = kind(text)
    except ValueError:
        return False
    return bool(low <= number <= high)


# -- generating cases ---------------------------------------------------------------


@dataclass
class Case:
    """One invocation and what the contract says of it."""

    argv: list[str]
    stdin: bytes = b""
    codes: frozenset[int] = frozenset()  # the exit codes the inputs allow
    target: str | None = None  # the file a success changes
    expect: dict[str, Any] | None = None  # what target then holds (None: not checked)
    watched: dict[str, bytes | None] = field(default_factory=dict)  # path -> bytes before
    dest_exists: bool = False  # copy or load reaches a destination file that exists


def _tree(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.4:
        return rng.choice(
            [None, True, False, rng.randrange(-1000, 1000), rng.random(), "é", "a\nb", 2**64 - 1]
        )
    if r < 0.7:
        return [_tree(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["a", "b", "", "ü", "k:1"]): _tree(rng, depth + 1) for _ in range(3)}


def value_text(rng: random.Random) -> bytes:
    """A VALUE or a load's object member, hostile about a third of the time."""
    r = rng.random()
    if r < 0.4:
        return json.dumps(_tree(rng), ensure_ascii=rng.random() < 0.5).encode()
    if r < 0.65:
        depth = rng.choice(
            [rng.randrange(1, 260), rng.randrange(240, 300), rng.randrange(900, 1500)]
        )
        opening, closing = ("[", "]") if rng.random() < 0.7 else ('{"a": ', "}")
        return (opening * depth + rng.choice(LEAVES) + closing * depth).encode()
    if r < 0.8:
        return rng.choice(NUMBERS).encode()
    if r < 0.92:
        return rng.choice(ODD_JSON).encode()
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))


def _argv_text(raw: bytes) -> str:
    # Bytes as argv carries them (surrogateescape), NUL aside: argv cannot hold it.
    return os.fsdecode(raw.replace(b"\0", b"0"))


def _state_file(rng: random.Random, path: Path) -> tuple[str, dict[str, Any] | None]:
    condition = rng.choice(CONDITIONS)
    state: dict[str, Any] | None = None
    if condition == "healthy":
        state = {f"k{i}": _tree(rng) for i in range(rng.randrange(4))}
        path.write_bytes(json.dumps(state).encode())
    elif condition == "directory":
        path.mkdir()
    elif condition in CORRUPT:
        path.write_bytes(CORRUPT[condition])
    return condition, state


def _file_codes(condition: str) -> frozenset[int]:
    # The exit code opening a state file in this condition gives, if it fails.
    return frozenset({5} if condition == "directory" else {4} if condition in CORRUPT else set())


def _odd_path(rng: random.Random, directory: Path) -> tuple[Path, bool]:
    """A state file's path and whether a write there can succeed."""
    name = rng.choice(
        ["s.json", "a b.json", "[::1.json", "é.json", os.fsdecode(b"\xff.json"), "x" * 300,
         "no/dir.json", "redis:x.json"]
    )  # fmt: skip
    return directory / name, name not in ("x" * 300, "no/dir.json")


def make_case(rng: random.Random, directory: Path) -> Case:
    """A random invocation in directory (filled with its files) and its contract."""
    directory.mkdir(parents=True, exist_ok=True)
    path, writable = (
        _odd_path(rng, directory) if rng.random() < 0.15 else (directory / "s.json", True)
    )
    condition, state = ("absent", None) if not writable else _state_file(rng, path)
    present = os.path.lexists(path) or os.path.lexists(os.path.realpath(path) + ".lock")
    opens = _file_codes(condition)
    command = rng.choice(["get", "keys", "dump", "check", "set", "set", "delete", "load", "load",
                          "copy", "copy"])  # fmt: skip
    case = Case([command, str(path)], watched={str(path): _bytes(path)})
    if command in ("get", "keys", "dump", "check"):
        _read_case(rng, case, condition, state, opens)
    elif command == "set":
        _set_case(rng, case, condition, state, opens, writable)
    elif command == "delete":
        key = rng.choice(["k0", "k1", "absent", "__aiokv__", os.fsdecode(b"\xfe")])
        case.argv.append(key)
        if not writable:
            case.codes = frozenset({5})
        elif opens:
            case.codes = opens
        elif not good_key(key):
            case.codes = frozenset({2})
        elif state is None or key not in state:
            case.codes = frozenset({1})
        else:
            case.codes = frozenset({0})
            case.target, case.expect = str(path), {k: v for k, v in state.items() if k != key}
    elif command == "load":
        _load_case(rng, case, condition, state, opens, writable, directory)
    else:
        _copy_case(rng, case, condition, state, opens, writable, directory)
    _creation(rng, case, present)
    _options(rng, case, command)
    return case


def _creation(rng: random.Random, case: Case, present: bool) -> None:
    # A write where no store is (no file, no lock file) is refused, exit 2,
    # unless --create, once the arguments are read and before the store opens.
    command, dest = case.argv[0], case.argv[2] if case.argv[0] == "copy" else case.argv[1]
    if command not in ("set", "delete", "load", "copy") or dest.startswith(URL_SCHEMES):
        return
    if command != "delete" and rng.random() < 0.8:
        case.argv.append("--create")
    elif not present:
        case.codes, case.target, case.expect = frozenset({2}), None, None


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _read_case(
    rng: random.Random,
    case: Case,
    condition: str,
    state: dict[str, Any] | None,
    opens: frozenset[int],
) -> None:
    command = case.argv[0]
    key = rng.choice(["k0", "k1", "absent", "__aiokv__", os.fsdecode(b"\xfe")])
    if command == "get":
        case.argv.append(key)
    if command == "keys" and rng.random() < 0.5:
        case.argv += ["--prefix", rng.choice(["k", "", "[", os.fsdecode(b"\xfe")])]
    if command == "get" and not good_key(key):
        # A key no store can hold (the reserved one, a lone surrogate) is a bad
        # argument, refused before the store is read: exit 2 on every store.
        case.codes = frozenset({2})
    elif condition in ("absent", "directory"):
        case.codes = frozenset({5})
    elif opens:
        case.codes = opens
    elif command == "get" and (state is None or key not in state):
        case.codes = frozenset({1})
    else:
        case.codes = frozenset({0})


def _set_case(
    rng: random.Random,
    case: Case,
    condition: str,
    state: dict[str, Any] | None,
    opens: frozenset[int],
    writable: bool,
) -> None:
    key = rng.choice(["k0", "new", "", "__aiokv__", os.fsdecode(b"\xfe"), "a:b"])
    text = _argv_text(value_text(rng))
    if text.startswith("-") and not NEGATIVE.fullmatch(text):
        # argparse would take it for an option (how depends on the Python
        # version); JSON allows the space before it.
        text = " " + text
    case.argv += [key, text]
    # The command checks the key and VALUE (JSON, or a --string's text)
    # before it opens the file: a refusal leaves nothing behind.
    if rng.random() < 0.2:
        case.argv.append("--string")
        ok, value = _utf8(text), text
    else:
        ok, value = parse(os.fsencode(text))
        ok = bool(ok and storable(value))
    if not (ok and good_key(key)):
        case.codes = frozenset({2})
    elif not writable:
        case.codes = frozenset({5})
    elif opens:
        case.codes = opens
    else:
        case.codes = frozenset({0})
        case.target, case.expect = case.argv[1], {**(state or {}), key: value}


def _load_case(
    rng: random.Random,
    case: Case,
    condition: str,
    state: dict[str, Any] | None,
    opens: frozenset[int],
    writable: bool,
    directory: Path,
) -> None:
    members = [(rng.choice(["k0", "x", "__aiokv__", "é"]), value_text(rng)) for _ in range(3)]
    raw = b"{" + b",".join(json.dumps(k).encode() + b":" + v for k, v in members) + b"}"
    if rng.random() < 0.15:
        raw = value_text(rng)  # not an object, or not JSON at all
    if rng.random() < 0.3:
        source = directory / "source.json"
        source.write_bytes(raw)
        case.argv.append(str(source))
    else:
        case.stdin = raw
    replace = rng.random() < 0.3
    if replace:  # after SOURCE: argparse gives an optional positional no second chance
        case.argv.append("--replace")
    ok, new = parse(raw)
    if ok is None:  # a later duplicate key may replace the member too deep to judge
        case.codes, case.target = frozenset({0, 2, 4, 5}), case.argv[1]
        return
    # The command checks the text, its keys and values before it opens the
    # file: a refusal leaves nothing behind.
    readable = ok and isinstance(new, dict) and storable(new, MAX_DEPTH + 1)
    if not (readable and all(good_key(k) for k in new)):
        case.codes = frozenset({2})
    elif not writable or condition == "directory":
        case.codes = frozenset({5})
    elif opens:
        case.codes = opens
    else:
        case.codes = frozenset({0})
        case.target = case.argv[1]
        case.expect = dict(new) if replace else {**(state or {}), **new}
        # Its input is checked before the file opens: only a success reaches it.
        case.dest_exists = case.watched[case.target] is not None


def _copy_case(
    rng: random.Random,
    case: Case,
    condition: str,
    state: dict[str, Any] | None,
    opens: frozenset[int],
    writable: bool,
    directory: Path,
) -> None:
    # The case's file is the destination; the source is a file or a URL.
    dest = case.argv.pop()
    port = rng.choice([1, 9])  # nothing listens there on loopback
    source_kind = rng.choice(["file", "file", "file", "absent", "corrupt", "url"])
    source = directory / "source.json"
    source_state: dict[str, Any] = {}
    if source_kind == "file":
        source_state = {f"s{i}": _tree(rng) for i in range(rng.randrange(3))}
        source.write_text(json.dumps(source_state))
    elif source_kind == "corrupt":
        source.write_bytes(CORRUPT[rng.choice(list(CORRUPT))])
    urls = {
        f"redis://127.0.0.1:{port}/0?name=x": 5,
        f"redis://:s3cret@127.0.0.1:{port}/0?name=x": 5,
        f"rediss://127.0.0.1:{port}/0?name=x": 5,
        "redis://127.0.0.1:1/0": 2,  # no name
        "redis://:s3cret@[::1/0?name=x": 2,
        "redis://:s3cret@127.0.0.1:99999/0?name=x": 2,
        "redis://127.0.0.1:1/0?name=x&name=y": 2,
        "unix:///nonexistent/redis.sock?name=x": 5,
    }
    replace = rng.random() < 0.4
    if source_kind == "url":
        url = rng.choice(list(urls))
        case.argv += [url, dest]
        case.codes = frozenset({urls[url]})
    elif rng.random() < 0.25:
        url = rng.choice(list(urls))
        case.argv += [str(source), url]
        read = {"absent": 5, "corrupt": 4}.get(source_kind)
        # A malformed URL is refused before the source is read; an unreachable
        # one after.
        case.codes = frozenset({urls[url] if urls[url] == 2 or read is None else read})
    else:
        case.argv += [str(source), dest]
        dest_held = bool(state) or condition in CORRUPT
        if source_kind == "absent":
            case.codes = frozenset({5})
        elif source_kind == "corrupt":
            case.codes = frozenset({4})
        elif not writable or condition == "directory":
            case.codes = frozenset({5})
        elif opens:
            case.codes = opens
        elif dest_held and not replace:
            case.codes = frozenset({2})
        else:
            case.codes = frozenset({0})
            case.target, case.expect = dest, source_state
        case.dest_exists = case.codes <= {0, 2} and case.watched[dest] is not None
    case.watched[str(source)] = _bytes(source)
    if replace:
        case.argv.append("--replace")


def _options(rng: random.Random, case: Case, command: str) -> None:
    # A number option now and then, valid or not; an invalid one is exit 2
    # whatever else the case holds (argparse reads options first).
    versions = [("--schema-version", int, 0, INT_MAX), ("--version", int, 0, INT_MAX)]
    options = {"dump": [("--indent", int, 0, 16)], "copy": versions, "load": versions[:1]}
    if command in ("set", "delete", "load", "copy"):
        options.setdefault(command, []).append(("--wait", float, 0, sys.float_info.max))
    if command not in options or rng.random() < 0.5:
        if rng.random() < 0.03:
            case.argv.append(rng.choice(["--bogus", "-x", "--help"]))
            case.codes = frozenset({0}) if case.argv[-1] == "--help" else frozenset({2})
            case.target = case.expect = None
        return
    name, kind, low, high = rng.choice(options[command])
    text = rng.choice(NUMBERS)
    if name == "--wait" and number_ok(text, float, 0.5, high):
        text = "0.2"  # nothing owns the file: a long wait is only slower
    case.argv += [f"{name}={text}"]
    if not number_ok(text, kind, low, high):
        case.codes = frozenset({2})
        case.target = case.expect = None
    elif name.endswith("version") and int(text) and case.dest_exists:
        # The file records no version: opened as version N, it is refused
        # (no migrate), before anything else is looked at.
        case.codes, case.target, case.expect = frozenset({4}), None, None


# -- judging ------------------------------------------------------------------------


def verdict(case: Case, code: int | None, out: bytes, err: bytes) -> str | None:
    """What is wrong with an invocation's outcome, or None."""
    text = err.decode(errors="replace")
    lines = [line for line in text.splitlines() if not line.startswith(SUCCESS_LINES)]
    problem = None
    if code is None:
        problem = "hung (no exit within the timeout)"
    elif "Traceback" in text:
        problem = "printed a traceback"
    elif code not in case.codes:
        problem = f"exit {code}, expected {sorted(case.codes)}"
    elif code and (len(lines) != 1 or not lines[0].startswith("aiokv: ")):
        problem = f"{len(lines)} error lines"
    elif not code and lines:
        problem = "an error line on success"
    elif "s3cret" in text + out.decode(errors="replace"):
        problem = "showed a password"
    if problem is None:
        problem = _files_problem(case, code)
    if problem is None:
        return None
    shown = " ".join(a[:80] for a in case.argv)
    return f"{problem}: aiokv {shown!a} stdin={case.stdin[:80]!r} -> {text[-400:]!r}"


def _files_problem(case: Case, code: int | None) -> str | None:
    for path, before in case.watched.items():
        if path == case.target and code == 0:
            continue
        if _bytes(Path(path)) != before:
            return f"{path} changed"
    if code == 0 and case.target is not None:
        if case.expect is not None:
            held = json.loads(_bytes(Path(case.target)) or b"{}")  # emptied: removed
            held.pop("__aiokv__", None)
            if held != case.expect:
                return f"{case.target} holds {held!r:.200}, expected {case.expect!r:.200}"
        if temp_files(Path(case.target).parent):
            return "a temp file was left"
    return None


# -- part 1: many cases in one child, through main(argv) ----------------------------


class _Hang(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _Hang


def invoke(argv: list[str], stdin: bytes) -> tuple[int | None, bytes, bytes]:
    """Run aiokv.cli.main(argv) in this process with stdin; (exit code, stdout, stderr)."""
    from aiokv.cli import main

    out, err = io.BytesIO(), io.BytesIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    sys.stdout = io.TextIOWrapper(out, write_through=True)
    sys.stderr = io.TextIOWrapper(err, errors="backslashreplace", write_through=True)
    code: int | None
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: --help, a usage error
        code = e.code if isinstance(e.code, int) else 1
    except _Hang:
        code = None
    except BaseException:
        code = 1
        traceback.print_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout.flush()
        sys.stderr.flush()
        written = out.getvalue(), err.getvalue()  # before the wrappers go, closing them
        sys.stdin, sys.stdout, sys.stderr = saved
    return code, *written


def run_batch(seed: int, count: int, directory: str) -> None:
    """The child's side of part 1: print one JSON line per case (its problem or null)."""
    signal.signal(signal.SIGALRM, _on_alarm)
    for n in range(count):
        rng = random.Random(seed * 1_000_003 + n)
        where = Path(directory) / str(n)
        case = make_case(rng, where)
        code, out, err = invoke(case.argv, case.stdin)
        print(json.dumps({"n": n, "problem": verdict(case, code, out, err)}), flush=True)
        shutil.rmtree(where, ignore_errors=True)


BATCH = """
import sys
from tests.faults.cli_fuzz import run_batch
run_batch(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
"""


def _batch(result: Result, seed: int, count: int, directory: Path) -> None:
    done = run_child(BATCH, str(seed), str(count), str(directory), timeout=60 + count)
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for report in reports:
        result.case(
            report["problem"] is None, f"batch {seed} case {report['n']}: {report['problem']}"
        )
    if len(reports) != count:
        result.case(False, f"batch {seed} ended after {len(reports)} cases: {done.stderr[-800:]}")


# -- part 2: the real console script --------------------------------------------------


def run_script(
    argv: list[str], stdin: bytes, timeout: float = TIMEOUT
) -> tuple[int | None, bytes, bytes]:
    """Run the console script; (exit code or None if it hung, stdout, stderr)."""
    process = subprocess.Popen(
        [SCRIPT, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        return None, out, err
    return process.returncode, out, err


# -- part 3: --wait against an owner ----------------------------------------------------

HOLDER = """
import asyncio, sys
from aiokv import AioKV

async def main():
    async with AioKV(sys.argv[1]) as kv:
        await kv.set("held", 1)
        await kv.flush()
        print("holding", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def _owned(result: Result, rng: random.Random, directory: Path, count: int) -> None:
    path = directory / "owned.json"
    holder = child(HOLDER, str(path))
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        before = path.read_bytes()
        for _ in range(count):
            text = rng.choice(NUMBERS)
            command = rng.choice(
                [["set", str(path), "k", "1"], ["delete", str(path), "held"],
                 ["load", str(path)], ["copy", str(path), str(path)]]
            )  # fmt: skip
            if number_ok(text, float, 0, sys.float_info.max) and float(text) > 0.5:
                continue  # a long wait: only slower
            case = Case([*command, "--wait", text], b"{}", watched={str(path): before})
            case.codes = frozenset({3} if number_ok(text, float, 0, sys.float_info.max) else {2})
            code, out, err = run_script(case.argv, case.stdin)
            problem = verdict(case, code, out, err)
            result.case(problem is None, f"owned: {problem}")
    finally:
        holder.kill()
        holder.wait()


# -- part 4: Ctrl-C --------------------------------------------------------------------


def _holds(pid: int, path: str) -> bool:
    # Whether process pid has path open (the command is past Python's start-up).
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                return True
    except OSError:
        pass
    return False


def _interrupt_at_random(result: Result, rng: random.Random, directory: Path, n: int) -> None:
    # A real SIGINT at a random moment once the command holds the file's lock
    # (opening, changing or writing it): exit 130 with the file unchanged, or
    # exit 0 with the change made.
    path = directory / f"big{n}.json"
    state = {f"k{i}": "x" * rng.randrange(10, 200) for i in range(rng.choice([1000, 20_000]))}
    path.write_text(json.dumps(state))
    before = path.read_bytes()
    source = directory / f"source{n}.json"
    source.write_text(json.dumps({"copied": [1, 2]}))
    command, expect = rng.choice(
        [
            (["set", str(path), "k0", '{"new": 1}'], {**state, "k0": {"new": 1}}),
            (["delete", str(path), "k1"], {k: v for k, v in state.items() if k != "k1"}),
            (["load", str(path), str(source), "--replace"], {"copied": [1, 2]}),
            (["copy", str(source), str(path), "--replace"], {"copied": [1, 2]}),
        ]
    )
    process = subprocess.Popen([SCRIPT, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lock = os.path.realpath(path) + ".lock"
    deadline = time.monotonic() + TIMEOUT
    while process.poll() is None and not _holds(process.pid, lock) and time.monotonic() < deadline:
        time.sleep(0.0005)
    time.sleep(rng.uniform(0, 0.08))
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=TIMEOUT)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        code = None
    text = err.decode(errors="replace")
    after = path.read_bytes()
    if code == 130:
        ok = text == INTERRUPTED + "\n" and after == before
    else:
        said = [line for line in text.splitlines() if not line.startswith(SUCCESS_LINES)]
        ok = code == 0 and not said and json.loads(after) == expect
    ok = ok and not temp_files(directory)
    result.case(
        ok, f"interrupt {command[0]}: exit {code}, {text[-300:]!r}, changed: {after != before}"
    )
    path.unlink()


def _interrupt_waiting(result: Result, directory: Path) -> None:
    # At the two places a command blocks: waiting for an owner, reading stdin.
    from tests.cli.test_command import SYSCALLS, blocked_in

    if sys.platform != "linux" or os.uname().machine not in SYSCALLS:
        result.notes.append("the blocking-stage interrupts need /proc syscall numbers: skipped")
        return
    path = directory / "owned.json"
    holder = child(HOLDER, str(path))
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        before = path.read_bytes()
        waiting = subprocess.Popen(
            [SCRIPT, "set", str(path), "k", "1", "--wait", "600"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        blocked_in(waiting.pid, "epoll_wait", "epoll_pwait")
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=TIMEOUT)
        ok = (waiting.returncode, err.decode()) == (130, INTERRUPTED + "\n")
        result.case(
            ok and path.read_bytes() == before,
            f"interrupt while waiting: {waiting.returncode} {err[-300:]!r}",
        )
    finally:
        holder.kill()
        holder.wait()
    path = directory / "stdin.json"
    path.write_text('{"k": 1}')
    reading = subprocess.Popen(
        [SCRIPT, "load", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    blocked_in(reading.pid, "read", fd=0)
    reading.send_signal(signal.SIGINT)
    _, err = reading.communicate(timeout=TIMEOUT)
    ok = (reading.returncode, err.decode()) == (130, INTERRUPTED + "\n")
    result.case(
        ok and path.read_text() == '{"k": 1}',
        f"interrupt reading stdin: {reading.returncode} {err[-300:]!r}",
    )


def run(long: bool = LONG) -> Result:
    """Fuzz the command's argv and stdin; each case must keep the contract."""
    result = Result("the aiokv command (argv, stdin, Ctrl-C)")
    batches, per_batch, scripts, owned, interrupts = (
        (4, 5_000, 500, 200, 200) if long else (1, 1_200, 40, 12, 12)
    )
    directory = Path(tempfile.mkdtemp(prefix="aiokv-cli-fuzz-"))
    try:
        with Timer(result):
            for seed in range(batches):
                _batch(result, seed, per_batch, directory / f"batch{seed}")
            rng = random.Random(1)
            for n in range(scripts):
                where = directory / f"script{n}"
                case = make_case(random.Random(10**9 + n), where)
                code, out, err = run_script(case.argv, case.stdin)
                problem = verdict(case, code, out, err)
                result.case(problem is None, f"script {n}: {problem}")
                shutil.rmtree(where, ignore_errors=True)
            _owned(result, rng, directory, owned)
            for n in range(interrupts):
                _interrupt_at_random(result, rng, directory, n)
            _interrupt_waiting(result, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    result.notes.append(
        f"{batches * per_batch:,} cases through main(argv) in {batches} child(ren), "
        f"{scripts:,} through the console script, {owned} --wait values against an owner, "
        f"{interrupts} SIGINTs at random moments and 2 at the blocking stages; "
        "no traceback, no hang, no changed file after a refusal"
    )
    return result
