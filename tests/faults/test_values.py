"""The hostile values campaign's oracle (the campaign: test_campaigns.py)."""

from __future__ import annotations

from tests.faults import values


def test_the_oracle_itself_tells_faithful_from_unfaithful() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert values.faithful({"a": [1, 2.5, None, True, "x", (1,)]})
    for bad in (
        values.Level.LOW,
        [values.Mode.ON],
        {values.Text("k"): 1},
        float("nan"),
        2**64,
        loop,
    ):
        assert not values.faithful(bad), bad
    assert not values.same(1, 1.0) and not values.same([True], [1])
