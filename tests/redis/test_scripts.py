"""aiokv/redis/scripts.py: the Lua scripts, their prelude and SHA table, on a real server."""

from __future__ import annotations

import hashlib

from aiokv.redis import scripts
from tests.redis.server import RedisServer


def test_every_script_begins_with_the_prelude_and_its_sha_is_its_text_s() -> None:
    assert list(scripts.SHAS) == list(scripts.SCRIPTS)
    for name, body in scripts.SCRIPTS.items():
        assert body.startswith(scripts._PRELUDE), name
        assert body.strip() != scripts._PRELUDE.strip(), f"{name} is the prelude alone"
        assert scripts.SHAS[name] == hashlib.sha1(body.encode()).hexdigest(), name


def test_every_script_compiles_on_the_server_under_its_sha(server: RedisServer) -> None:
    # SCRIPT LOAD compiles the body and answers the SHA that EVALSHA names it by.
    for name, body in scripts.SCRIPTS.items():
        assert server.cli("SCRIPT", "LOAD", body).strip() == scripts.SHAS[name], name


def test_the_keys_are_the_store_s_hash_then_its_leases_hash() -> None:
    assert scripts.keys("mybot") == ["mybot", "aiokv-edits:mybot"]
