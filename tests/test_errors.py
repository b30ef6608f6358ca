"""aiokv's exceptions: their messages, their bases, and pickling."""

from __future__ import annotations

import pickle

import pytest

from aiokv import AioKVError, ClosedError, CorruptFileError, LockedError, UnavailableError

REDIS = "redis://127.0.0.1:6379/0 (hash 'bot')"

ERRORS = [
    CorruptFileError("/d/state.json", "top level is an array, expected a JSON object"),
    CorruptFileError(REDIS, "the value of key 'k' is not JSON", kept="the hash"),
    LockedError("/d/state.json", 4242),
    LockedError("/d/state.json", None),
    ClosedError("/d/state.json"),
    ClosedError("/d/state.json", "is closing: aclose() was called"),
    ClosedError(REDIS, kind="RedisKV"),
    UnavailableError(REDIS, "no answer in time (Timeout reading from socket)"),
]


@pytest.mark.parametrize("error", ERRORS, ids=repr)
def test_errors_pickle_with_their_message_and_attributes(error: AioKVError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert "/d/state.json" in str(again) or REDIS in str(again)
    assert vars(again) == vars(error)


def test_errors_keep_the_builtin_bases_callers_catch() -> None:
    assert isinstance(ERRORS[0], ValueError)
    assert isinstance(ERRORS[4], RuntimeError)
    assert all(isinstance(e, AioKVError) for e in ERRORS)
    assert ERRORS[2].pid == 4242 and "pid 4242" in str(ERRORS[2])
    assert isinstance(ERRORS[-1], ConnectionError) and isinstance(ERRORS[-1], OSError)
    assert str(ERRORS[-2]) == f"RedisKV({REDIS!r}) is closed"
    assert str(ERRORS[0]).endswith("; aiokv left the file untouched")
    assert str(ERRORS[1]).endswith("; aiokv left the hash untouched")
