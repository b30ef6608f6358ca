"""Fixtures: a fresh state path, and a check that no test leaves a store open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiokv import exits


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state file path in a fresh directory (the file does not exist yet)."""
    return tmp_path / "state.json"


@pytest.fixture(autouse=True)
def no_store_left_open() -> Iterator[None]:
    """Fail a test that leaves a store open (its lock held, its exit save pending)."""
    before = set(exits.unclosed())
    yield
    left = set(exits.unclosed()) - before
    for kv in left:  # so that the next test starts clean
        exits.disown(kv)
    assert not left, f"the test left stores open: {sorted(map(repr, left))}"
