"""aiokv/cli/writes.py: how a write's JSON input is read, without a subprocess."""

from __future__ import annotations

import json

import pytest

from aiokv.cli import EXIT_USAGE, Failure
from aiokv.cli.writes import _parse_json


@pytest.mark.parametrize(
    "raw",
    [b"42", b'"text"', b"[1, 2.5, null, true]", b'{"a": {"b": []}}', b"18446744073709551615"],
)
def test_json_is_read_as_the_value_it_writes(raw: bytes) -> None:
    assert _parse_json(raw, "VALUE", "") == json.loads(raw)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"hello", "VALUE is not valid JSON: "),
        (b"[1", "VALUE is not valid JSON: "),
        (b"[" * 300 + b"]" * 300, "VALUE nests containers more than 253 levels deep"),
        (b"18446744073709551616", "VALUE: integer 18446744073709551616 is outside the 64-bit"),
        (b"[-9223372036854775809]", "VALUE: integer -9223372036854775809 is outside the 64-bit"),
    ],
)
def test_what_the_store_could_not_write_back_exactly_is_a_usage_error(
    raw: bytes, words: str
) -> None:
    with pytest.raises(Failure) as raised:
        _parse_json(raw, "VALUE", " (hint)")
    assert raised.value.code == EXIT_USAGE
    assert str(raised.value).startswith(words)
    # The hint follows only the message it helps: input that is not JSON at all.
    assert str(raised.value).endswith(" (hint)") == ("not valid JSON" in words)
