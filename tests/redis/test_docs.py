"""docs/redis.md's blocks run as written, each against the real deployment it names."""

from __future__ import annotations

import textwrap
from pathlib import Path

from redis.crc import key_slot

from tests.redis.deployments import ClusterDeployment, SentinelDeployment
from tests.redis.server import RedisServer
from tests.test_docs import block, run


def run_block(words: str, replacements: dict[str, str], tmp_path: Path) -> None:
    """Run the block of docs/redis.md holding words, in a main(), its addresses replaced."""
    example = block("redis.md", words)
    for written, real in replacements.items():
        assert written in example, written
        example = example.replace(written, real)
    program = "import asyncio\n\nasync def main():\n" + textwrap.indent(example, "    ")
    run(["-c", program + "\nasyncio.run(main())\n"], tmp_path)


def test_rediskv_block_runs_as_written(server: RedisServer, tmp_path: Path) -> None:
    server.cli("DEL", "mybot")
    run_block('"mybot") as kv', {"redis://127.0.0.1:6379/0": server.url}, tmp_path)
    assert server.cli("HGETALL", "mybot").split() == ["last_command", '"ping"', "seen", "[42]"]


def test_own_client_block_runs_as_written(server: RedisServer, tmp_path: Path) -> None:
    run_block('name="guild:1"', {"port=6379": f"port={server.port}"}, tmp_path)
    assert server.cli("HGET", "guild:1", "prefix").strip() == '"!"'
    assert server.cli("HGET", "guild:2", "prefix").strip() == '"?"'


def test_sentinel_block_runs_as_written(
    sentinel_deployment: SentinelDeployment, tmp_path: Path
) -> None:
    written = '[("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26379)]'
    replacements = {
        written: repr(sentinel_deployment.sentinels),
        '"mybot", retry': f"{sentinel_deployment.service!r}, retry",
    }
    primary = sentinel_deployment.primary()
    primary.cli("DEL", "mybot")
    run_block("master_for(", replacements, tmp_path)
    assert primary.cli("HGET", "mybot", "starts").strip() == "1"


def test_cluster_block_runs_as_written(
    cluster_deployment: ClusterDeployment, tmp_path: Path
) -> None:
    host, port = cluster_deployment.startup_nodes[0]
    replacements = {'host="10.0.0.1"': f"host={host!r}", "port=7000": f"port={port}"}
    run_block("RedisCluster(", replacements, tmp_path)
    for guild in (1, 2, 3):
        node = cluster_deployment.primary_of_slot(key_slot(f"guild:{guild}".encode()))
        assert node.cli("HGET", f"guild:{guild}", "prefix").strip() == '"!"'
