"""docs/redis.md's RedisKV block runs as written, against a real server."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.redis.server import RedisServer
from tests.test_docs import block, run


def test_rediskv_block_runs_as_written(server: RedisServer, tmp_path: Path) -> None:
    example = block("redis.md", "RedisKV(")
    assert "redis://127.0.0.1:6379/0" in example
    example = example.replace("redis://127.0.0.1:6379/0", server.url)
    program = "import asyncio\n\nasync def main():\n" + textwrap.indent(example, "    ")
    server.cli("DEL", "mybot")
    run(["-c", program + "\nasyncio.run(main())\n"], tmp_path)
    assert server.cli("HGETALL", "mybot").split() == ["last_command", '"ping"', "seen", "[42]"]
