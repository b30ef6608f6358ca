"""Campaign 6 under pytest: concurrent tasks, mixed operations, flat memory."""

from __future__ import annotations

from tests.faults import soak


def test_soak_raises_nothing_keeps_memory_flat_and_file_equals_memory() -> None:
    result = soak.run()
    result.check()
