"""Every test in tests/faults is a fault campaign: `python -m pytest -m campaign`."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the campaigns, which the default run leaves to `-m campaign`."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.campaign)
