"""aiokv/cli/reads.py: the read of a state file and dump's JSON, without a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from aiokv import AioKV
from aiokv.cli import EXIT_OS, EXIT_UNREADABLE, Failure
from aiokv.cli.reads import json_chunks, read_state

STATE: dict[str, Any] = {
    "zeta": {"b": 1, "a": [1, 2.5, None, True]},  # a value's own keys keep their order
    "alpha": "héllo\nthere",
    "mid": [],
    "k\u2028": {},
}


def dumped(state: dict[str, Any], indent: int) -> str:
    return b"".join(json_chunks(state, indent)).decode()


@pytest.mark.parametrize("indent", [1, 2, 16])
def test_dump_is_the_state_as_json_its_keys_sorted(indent: int) -> None:
    by_key = dict(sorted(STATE.items()))
    assert dumped(STATE, indent) == json.dumps(by_key, indent=indent, ensure_ascii=False) + "\n"


def test_dump_with_indent_0_is_one_line() -> None:
    by_key = dict(sorted(STATE.items()))
    one_line = json.dumps(by_key, separators=(",", ":"), ensure_ascii=False) + "\n"
    assert dumped(STATE, 0) == one_line


@pytest.mark.parametrize("indent", [0, 2])
def test_an_empty_state_dumps_as_an_empty_object(indent: int) -> None:
    assert dumped({}, indent) == "{}\n"


def test_read_gives_the_state_its_schema_version_and_no_owner(state: Path) -> None:
    async def write() -> None:
        async with AioKV(state, version=3) as kv:
            await kv.set("b", 1)
            await kv.set("a", [2])

    asyncio.run(write())
    assert read_state(str(state)) == ({"b": 1, "a": [2]}, 3, None)


def test_a_missing_file_or_one_that_is_not_a_file_is_an_os_error(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, words in ((tmp_path / "absent.json", "No such file"), (tmp_path, ""), (fifo, "")):
        with pytest.raises(Failure) as raised:
            read_state(str(path))
        assert raised.value.code == EXIT_OS
        assert str(raised.value).startswith(f"{path}: ") and words in str(raised.value)


def test_a_corrupt_file_is_unreadable(state: Path) -> None:
    state.write_bytes(b'{"a": 1')
    with pytest.raises(Failure) as raised:
        read_state(str(state))
    assert raised.value.code == EXIT_UNREADABLE
