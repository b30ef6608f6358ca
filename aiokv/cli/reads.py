"""The reads (get, keys, dump, check): a file as last flushed, without its lock; or Redis."""

from __future__ import annotations

import argparse
import datetime
import errno
import json
import os
import re
from collections.abc import Iterator
from typing import Any

import orjson

from .. import api, lock, storage
from ..errors import CorruptFileError
from .codes import EXIT_ABSENT, EXIT_OK, EXIT_OS, EXIT_UNREADABLE, EXIT_USAGE, Failure, note
from .locations import location, run_redis, shown
from .output import emit, one_line
from .stores import is_store

# get's default for a key that is absent: no stored value is this object.
_ABSENT = object()

# Reads parse the file without the owner's lock (the file is always whole:
# aiokv replaces it atomically), so they work while a bot runs and show its
# last flushed state.


def read_state(path: str) -> tuple[dict[str, Any], int, int | None]:
    """A state file's state, schema version and lock holder (0: unknown, None: free)."""
    # A note on stderr, if the command succeeds, when a process owns the file.
    try:
        read = storage.read(path)  # refuses a FIFO too, which would block the read
        if read is None and not is_store(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        # No file beside its lock file: an emptied store.
        state, version = (read.state, read.version) if read else ({}, 0)
    except OSError as e:
        raise Failure(EXIT_OS, f"{path}: {e.strerror}") from None
    except CorruptFileError as e:
        raise Failure(EXIT_UNREADABLE, str(e)) from None
    pid = lock.holder(os.path.realpath(path))
    if pid is not None:
        who = f"pid {pid}" if pid else "another process"
        note(f"{who} owns {path}; shown is its last flushed state")
    return state, version, pid


def read_store(text: str, outcome: str = "") -> tuple[dict[str, Any], int, int | None]:
    """A store's state, schema version and lock holder: a state file's, or a Redis store's.

    A Redis store records no version (0) and has no lock (None). outcome ends
    a failure's line (copy's "nothing copied").
    """
    store = location(text)
    if isinstance(store, str):
        return read_state(store)
    state = run_redis(store, lambda kv: kv.get_all(), outcome)
    # Another tool may have written the hash: what no store can hold (too
    # deep, the reserved key) is refused as the store's fault, exit 4.
    try:
        api.accepted(state)
    except (TypeError, ValueError) as e:
        tail = f"; {outcome}" if outcome else ""
        raise Failure(EXIT_UNREADABLE, f"{shown(text)}: {e}{tail}") from None
    return state, 0, None


def get_command(args: argparse.Namespace) -> int:
    """aiokv get: print KEY's value as JSON (exit 1 if absent)."""
    store = location(args.file)
    try:  # a key no store holds (the reserved one, say): refused alike on each, before a read
        api.key(args.key)
    except (TypeError, ValueError) as e:
        raise Failure(EXIT_USAGE, str(e)) from None
    if isinstance(store, str):
        value = read_state(store)[0].get(args.key, _ABSENT)
    else:  # one HGET, not the whole hash
        value = run_redis(store, lambda kv: kv.get(args.key, _ABSENT))
    if value is _ABSENT:
        raise Failure(EXIT_ABSENT, f"{args.key!r} is not in {shown(args.file)}")
    emit([orjson.dumps(value), b"\n"], json=True)
    return EXIT_OK


def keys_command(args: argparse.Namespace) -> int:
    """aiokv keys: print the keys in the store's order, one a line or (--json) a JSON array."""
    store = location(args.file)
    if isinstance(store, str):
        keys = [key for key in read_state(store)[0] if key.startswith(args.prefix)]
    else:  # HSCAN of the keys alone
        keys = run_redis(store, lambda kv: kv.keys(args.prefix))
    if args.json:
        emit([orjson.dumps(keys), b"\n"], json=True)
    else:
        emit(key_line(key) for key in keys)
    return EXIT_OK


# A key that a line-by-line reader would misread: one holding a line break or
# another control character (C0, DEL, C1, U+2028/U+2029), or starting with the
# quote that marks such a key's line.
_UNSAFE = re.compile('^"|[\x00-\x1f\x7f-\x9f\u2028\u2029]')


def key_line(key: str) -> bytes:
    """keys' line for key: the key itself, or, if unsafe in a line, its JSON string in ASCII."""
    if _UNSAFE.search(key):
        # A line starting with '"' is always a JSON string: unambiguous, and
        # ASCII, so no byte of it is a line break to any reader.
        return json.dumps(key).encode() + b"\n"
    return key.encode() + b"\n"


def dump_command(args: argparse.Namespace) -> int:
    """aiokv dump: print the whole state as JSON, keys sorted."""
    state, _, _ = read_store(args.file)
    emit(json_chunks(state, args.indent), json=True)
    return EXIT_OK


def json_chunks(state: dict[str, Any], indent: int) -> Iterator[bytes]:
    """state as one JSON object, keys sorted, a member at a time (no copy of the whole)."""
    if not state:
        yield b"{}\n"
        return
    if indent:
        pad = " " * indent
        sep, opening, closing = b",\n", b"{\n", b"\n}\n"

        def member(key: str) -> bytes:
            value = json.dumps(state[key], indent=indent, ensure_ascii=False)
            return (
                f"{pad}{json.dumps(key, ensure_ascii=False)}: ".encode()
                + value.replace("\n", "\n" + pad).encode()
            )
    else:
        sep, opening, closing = b",", b"{", b"}\n"

        def member(key: str) -> bytes:
            return orjson.dumps(key) + b":" + orjson.dumps(state[key])

    yield opening
    for n, key in enumerate(sorted(state)):
        if n:
            yield sep
        yield member(key)
    yield closing


# check's report: (JSON name, JSON value, text line); an empty line is JSON's alone.
Field = tuple[str, Any, str]


def _report(fields: list[Field], as_json: bool) -> None:
    """Print check's report: its text lines (each one line), or one JSON object (ASCII)."""
    if as_json:
        text = json.dumps({name: value for name, value, _ in fields})
    else:
        text = "\n".join(one_line(line) for _, _, line in fields if line)
    # Written before any error line, so a pipe shows them in a terminal's order.
    emit([text.encode(), b"\n"])


def _unhealthy(problem: Failure) -> list[Field]:
    return [
        ("status", "unhealthy", f"status: unhealthy: {problem}"),
        ("problem", str(problem), ""),
        ("exit_code", problem.code, ""),
    ]


def check_command(args: argparse.Namespace) -> int:
    """aiokv check: report the store's health (exit 0 if healthy)."""
    store = location(args.file)
    if isinstance(store, str):
        fields = _check_file(store, args.json)
    else:
        fields = _check_redis(args.file, store.name, args.json)
    fields.append(("status", "healthy", "status: healthy"))
    _report(fields, args.json)
    return EXIT_OK


def _check_file(path: str, as_json: bool) -> list[Field]:
    try:
        info = os.stat(path)
    except OSError as e:
        if e.errno != errno.ENOENT or not is_store(path):
            raise Failure(EXIT_OS, f"{path}: {e.strerror}") from None
        # An emptied store: its lock file kept, no state file (none to date).
        fields: list[Field] = [
            ("file", path, f"file: {path} (none: an empty store, its lock file kept)"),
            ("bytes", 0, "bytes: 0"),
            ("modified", None, ""),
        ]
    else:
        modified = datetime.datetime.fromtimestamp(info.st_mtime, datetime.timezone.utc)
        when = modified.isoformat(timespec="seconds")
        fields = [
            ("file", path, f"file: {path}"),
            ("bytes", info.st_size, f"bytes: {info.st_size}"),
            ("modified", when, f"modified: {when}"),
        ]
    temps = storage.temp_files(os.path.realpath(path))
    try:
        state, version, pid = read_state(path)
    except Failure as e:
        _report(fields + _unhealthy(e), as_json)
        raise
    temp_note = (
        " (a write in progress)"
        if temps and pid is not None
        else " (left by a killed writer; removed at the next open)"
        if temps
        else ""
    )
    return [
        *fields,
        ("keys", len(state), f"keys: {len(state)}"),
        (
            "schema_version",
            version,
            f"schema version: {version}" + ("" if version else " (no version record)"),
        ),
        ("version_record", bool(version), ""),
        ("temp_files", len(temps), f"temp files: {len(temps)}{temp_note}"),
        ("lock", "free" if pid is None else "held", "lock: " + _holder(pid)),
        ("lock_pid", pid or None, ""),
    ]


def _holder(pid: int | None) -> str:
    return "free" if pid is None else f"held by pid {pid}" if pid else "held"


def _check_redis(text: str, name: str, as_json: bool) -> list[Field]:
    where = shown(text)
    fields: list[Field] = [("store", where, f"store: {where}")]
    try:
        state, _, _ = read_store(text)
    except Failure as e:
        reached = "unreachable" if e.code == EXIT_OS else "reachable"
        fields.append(("server", reached, f"server: {reached}"))
        _report(fields + _unhealthy(e), as_json)
        raise
    present = "present" if state else "absent"
    return [
        *fields,
        ("server", "reachable", "server: reachable"),
        # Redis removes a hash with its last field: absent is an empty store.
        ("hash", present, f"hash: {name} " + (present if state else "absent (no keys)")),
        ("keys", len(state), f"keys: {len(state)}"),
        ("schema_version", None, "schema version: none (a Redis store records none)"),
        ("version_record", False, ""),
    ]
