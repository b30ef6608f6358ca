"""Campaign 5 under pytest: the store against a dict model, with crashes."""

from __future__ import annotations

from tests.faults import model


def test_store_matches_the_model_through_restarts_and_crashes() -> None:
    result = model.run()
    result.check()
