"""aiokv/redis/fields.py: text to the server's bytes, and fields and values read back, checked."""

from __future__ import annotations

import pytest

from aiokv import CorruptFileError, codec
from aiokv.redis import fields

WHERE = "redis://127.0.0.1:6379/0 (hash 'h')"


def test_text_goes_to_the_server_as_utf8_and_a_lone_surrogate_not_at_all() -> None:
    assert fields.utf8("caf\u00e9") == "caf\u00e9".encode()
    assert fields.utf8("a\ud800") is None


def test_a_prefix_s_glob_characters_are_escaped_and_the_rest_left_alone() -> None:
    assert fields.glob_escape("user:7") == "user:7"
    assert fields.glob_escape("a*b?c[d]e\\") == "a\\*b\\?c\\[d\\]e\\\\"


def test_a_field_is_its_key_unless_it_is_the_reserved_key_or_not_utf8() -> None:
    assert fields.key_of(WHERE, "caf\u00e9".encode()) == "caf\u00e9"
    with pytest.raises(CorruptFileError) as reserved:
        fields.key_of(WHERE, codec.VERSION_KEY.encode())
    assert str(reserved.value) == (
        f"{WHERE}: the hash holds the reserved key '__aiokv__', which no store can hold "
        "(clear() removes it); aiokv left the hash untouched"
    )
    shown = b"\xff" * 60  # of 100
    with pytest.raises(CorruptFileError) as not_utf8:
        fields.key_of(WHERE, b"\xff" * 100)
    assert str(not_utf8.value) == (
        f"{WHERE}: the hash holds a key that is not UTF-8: {shown!r}; "
        "aiokv left the hash untouched"
    )


def test_a_value_is_its_json_unless_no_store_could_hold_it() -> None:
    assert fields.decode(WHERE, "k", b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    shown = b"{" + b"x" * 59  # of 101
    with pytest.raises(CorruptFileError, match=r"the value of key 'k' is not JSON \(") as e:
        fields.decode(WHERE, "k", b"{" + b"x" * 100)
    assert str(e.value).endswith(f": {shown!r}; aiokv left the hash untouched")
    with pytest.raises(CorruptFileError, match=r"the value of key 'k': .*64"):
        fields.decode(WHERE, "k", str(2**64).encode())
    deep = b"[" * (codec.MAX_DEPTH + 1) + b"]" * (codec.MAX_DEPTH + 1)
    with pytest.raises(CorruptFileError, match="nest"):
        fields.decode(WHERE, "k", deep)
    shallow = b"[" * codec.MAX_DEPTH + b"]" * codec.MAX_DEPTH
    assert fields.decode(WHERE, "k", shallow) is not None
