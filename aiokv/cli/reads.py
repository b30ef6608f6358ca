"""The reads (get, keys, dump, check): the file as last flushed, without the owner's lock."""

from __future__ import annotations

import argparse
import datetime
import errno
import json
import os
import sys
from typing import Any, BinaryIO

import orjson

from .. import lock, storage
from ..errors import CorruptFileError
from .codes import EXIT_ABSENT, EXIT_OK, EXIT_OS, EXIT_UNREADABLE, Failure, note

# Reads parse the file without the owner's lock (the file is always whole:
# aiokv replaces it atomically), so they work while a bot runs and show its
# last flushed state.


def read_state(path: str) -> tuple[dict[str, Any], int, int | None]:
    """A state file's state, schema version and lock holder (0: unknown, None: free)."""
    # A note on stderr, if the command succeeds, when a process owns the file.
    try:
        read = storage.read(path)  # refuses a FIFO too, which would block the read
        if read is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        state, version = read
    except OSError as e:
        raise Failure(EXIT_OS, f"{path}: {e.strerror}") from None
    except CorruptFileError as e:
        raise Failure(EXIT_UNREADABLE, str(e)) from None
    pid = lock.holder(os.path.realpath(path))
    if pid is not None:
        who = f"pid {pid}" if pid else "another process"
        note(f"{who} owns {path}; shown is its last flushed state")
    return state, version, pid


def get_command(args: argparse.Namespace) -> int:
    """aiokv get: print KEY's value as JSON (exit 1 if absent)."""
    state, _, _ = read_state(args.file)
    if args.key not in state:
        raise Failure(EXIT_ABSENT, f"{args.key!r} is not in {args.file}")
    sys.stdout.buffer.write(orjson.dumps(state[args.key]) + b"\n")
    return EXIT_OK


def keys_command(args: argparse.Namespace) -> int:
    """aiokv keys: print the keys, one a line, in the file's order."""
    state, _, _ = read_state(args.file)
    lines = (key.encode() + b"\n" for key in state if key.startswith(args.prefix))
    sys.stdout.buffer.writelines(lines)
    return EXIT_OK


def dump_command(args: argparse.Namespace) -> int:
    """aiokv dump: print the whole state as JSON, keys sorted."""
    state, _, _ = read_state(args.file)
    _write_json(state, sys.stdout.buffer, args.indent)
    return EXIT_OK


def _write_json(state: dict[str, Any], out: BinaryIO, indent: int) -> None:
    """Write state as one JSON object, keys sorted, a member at a time (no copy of the whole)."""
    if not state:
        out.write(b"{}\n")
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

    out.write(opening)
    for n, key in enumerate(sorted(state)):
        if n:
            out.write(sep)
        out.write(member(key))
    out.write(closing)


def check_command(args: argparse.Namespace) -> int:
    """aiokv check: report the file's health (exit 0 if healthy)."""
    path = args.file
    try:
        info = os.stat(path)
    except OSError as e:
        raise Failure(EXIT_OS, f"{path}: {e.strerror}") from None
    modified = datetime.datetime.fromtimestamp(info.st_mtime, datetime.timezone.utc)
    temps = storage.temp_files(os.path.realpath(path))
    report = [
        f"file: {path}",
        f"bytes: {info.st_size}",
        f"modified: {modified.isoformat(timespec='seconds')}",
    ]
    try:
        state, version, pid = read_state(path)
    except Failure as e:
        # Flushed before the error line, so a pipe shows them in a terminal's order.
        print("\n".join([*report, f"status: unhealthy: {e}"]), flush=True)
        raise
    report += [
        f"keys: {len(state)}",
        f"schema version: {version}" + (" (no version record)" if not version else ""),
        f"temp files: {len(temps)}"
        + (
            " (a write in progress)"
            if temps and pid is not None
            else " (left by a killed writer; removed at the next open)"
            if temps
            else ""
        ),
        "lock: " + ("free" if pid is None else f"held by pid {pid}" if pid else "held"),
        "status: healthy",
    ]
    print("\n".join(report))
    return EXIT_OK
