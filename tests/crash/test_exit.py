"""What reaches the disk when a program ends without aclose(), or by SIGTERM."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.helpers import child, read_json, run_child


def test_forgotten_aclose_is_saved_at_exit_with_a_resource_warning(state: Path) -> None:
    result = run_child(
        """
        import asyncio, sys, warnings
        warnings.simplefilter("always", ResourceWarning)
        from aiokv import AioKV

        async def main():
            kv = AioKV(sys.argv[1], flush_delay=3600, max_flush_delay=3600)
            await kv.set("last_command", "ping")
            await kv.update({"seen": [1, 2, 3]})
            # no aclose(), no flush(): only the exit safety net can save this

        asyncio.run(main())
        """,
        str(state),
    )
    assert result.returncode == 0, result.stderr
    assert read_json(state) == {"last_command": "ping", "seen": [1, 2, 3]}
    assert "ResourceWarning" in result.stderr and "never closed" in result.stderr
    assert str(state) in result.stderr


def test_delete_without_aclose_is_honoured_at_exit(state: Path) -> None:
    state.write_bytes(b'{"old": 1, "kept": 2}')
    result = run_child(
        """
        import asyncio, sys
        from aiokv import AioKV

        async def main():
            kv = AioKV(sys.argv[1], flush_delay=3600, max_flush_delay=3600)
            await kv.delete("old")

        asyncio.run(main())
        """,
        str(state),
    )
    assert result.returncode == 0, result.stderr
    assert read_json(state) == {"kept": 2}


def test_sigterm_pattern_from_the_readme_persists(state: Path) -> None:
    proc = child(
        """
        import asyncio, signal, sys
        from aiokv import AioKV

        async def main():
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            async with AioKV(sys.argv[1], flush_delay=3600, max_flush_delay=3600) as kv:
                await kv.set("last_command", "ping")
                print("ready", flush=True)
                await stop.wait()

        asyncio.run(main())
        """,
        str(state),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert read_json(state) == {"last_command": "ping"}
