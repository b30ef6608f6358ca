"""Campaign 7 under pytest: planted links and files, and paths that are not files."""

from __future__ import annotations

from tests.faults import hostile


def test_hostile_paths_are_refused_or_survived() -> None:
    result = hostile.run()
    result.check()
    assert result.cases >= 5
