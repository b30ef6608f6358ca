"""The README's RedisKV block runs as written, against a real server."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.redis.server import RedisServer
from tests.test_docs import python_blocks, run


def test_readme_rediskv_block_runs_as_written(server: RedisServer, tmp_path: Path) -> None:
    [block] = [b for b in python_blocks() if "RedisKV(" in b]
    assert "redis://127.0.0.1:6379/0" in block
    block = block.replace("redis://127.0.0.1:6379/0", server.url)
    program = "import asyncio\n\nasync def main():\n" + textwrap.indent(block, "    ")
    server.cli("DEL", "mybot")
    run(["-c", program + "\nasyncio.run(main())\n"], tmp_path)
    assert server.cli("HGETALL", "mybot").split() == ["last_command", '"ping"', "seen", "[42]"]
